"""CycleGAN: shapes, hand-checked cycle/identity losses, the image pool, training, one test per raise."""

import pytest
import torch
from torch import nn

from medgen_nb.models.base import StepContext
from medgen_nb.models.cyclegan import MODELS, CycleGAN, CycleGAN3D, ImagePool, ResnetGenerator

TINY = dict(size=32, base_channels=4, n_res_blocks=1)


class Shift(nn.Module):
    """x -> x + offset: a generator whose cycle error is known by hand."""

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.offset


def test_resnet_generator_shape():
    net = ResnetGenerator(2, 3, base_channels=4, n_res_blocks=2)
    out = net(torch.zeros(2, 2, 32, 32))
    assert out.shape == (2, 3, 32, 32)
    assert out.abs().max() <= 1.0


@pytest.mark.parametrize("generator", ["resnet", "unet"])
def test_translate_both_ways_and_config_rebuild(generator):
    model = CycleGAN(
        in_channels=2, out_channels=1, lambda_identity=0.0, generator=generator, **TINY
    )
    a, b = torch.rand(2, 2, 32, 32), torch.rand(2, 1, 32, 32)
    assert model.translate(a).shape == (2, 1, 32, 32)
    back = model.translate_back(b)
    assert back.shape == (2, 2, 32, 32)
    assert 0.0 <= back.min() and back.max() <= 1.0
    CycleGAN(**model.config).load_state_dict(model.state_dict())
    assert MODELS == {"cyclegan": CycleGAN, "cyclegan3d": CycleGAN3D}


def test_cycle_and_identity_losses_of_identity_map_are_zero():
    model = CycleGAN(**TINY)
    model.g_ab, model.g_ba = nn.Identity(), nn.Identity()
    a, b = torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 1, 32, 32) * 2 - 1
    terms = model.generator_losses(a, b)
    assert terms["cycle"].item() == 0.0
    assert terms["identity"].item() == 0.0


def test_cycle_and_identity_losses_by_hand():
    # G_AB = id, G_BA = x + 0.1: each cycle is off by 0.1 everywhere -> 0.1 + 0.1;
    # identity: |G_AB(b) - b| = 0, |G_BA(a) - a| = 0.1.
    model = CycleGAN(lambda_cycle=10.0, lambda_identity=0.5, **TINY)
    model.g_ab, model.g_ba = nn.Identity(), Shift(0.1)
    a, b = torch.zeros(2, 1, 32, 32), torch.zeros(2, 1, 32, 32)
    terms = model.generator_losses(a, b)
    assert terms["cycle"].item() == pytest.approx(0.2)
    assert terms["identity"].item() == pytest.approx(0.1)
    gan = terms["gan_ab"].item() + terms["gan_ba"].item()
    assert terms["total"].item() == pytest.approx(gan + 10.0 * 0.2 + 10.0 * 0.5 * 0.1, rel=1e-5)


def constant_images(start: int, n: int) -> torch.Tensor:
    """n images (n, 1, 2, 2) whose pixels all equal their id, so the pool's choices can be read."""
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2)


def test_image_pool_fills_then_mixes():
    pool = ImagePool(pool_size=4, seed=0)
    first = pool.query(constant_images(0, 4))
    assert torch.equal(first, constant_images(0, 4))  # filling: returned as is
    assert len(pool.images) == 4
    ids = []
    for start in range(4, 404, 4):
        ids += pool.query(constant_images(start, 4))[:, 0, 0, 0].tolist()
    ids_new = torch.arange(4, 404, dtype=torch.float32)
    from_history = (torch.tensor(ids) != ids_new).float().mean().item()
    assert 0.4 < from_history < 0.6  # swap probability 1/2, 400 draws
    assert all(i <= n for i, n in zip(ids, ids_new.tolist(), strict=True))  # history is older
    assert len(pool.images) == 4


def test_image_pool_is_deterministic_with_a_seed():
    def run(seed: int) -> list[float]:
        pool = ImagePool(pool_size=3, seed=seed)
        return [pool.query(constant_images(s, 3)).sum().item() for s in range(0, 60, 3)]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_image_pool_size_zero_passes_through_detached():
    x = torch.rand(2, 1, 4, 4, requires_grad=True)
    out = ImagePool(pool_size=0).query(x)
    assert torch.equal(out, x) and not out.requires_grad


def test_cycle_loss_falls_on_a_fixed_batch():
    # Unpaired but fixed: a smooth A batch and a noisy B batch; the summed cycle L1 must halve.
    torch.manual_seed(0)
    model = CycleGAN(size=16, base_channels=8, n_res_blocks=1, pool_size=4)
    optimizers = model.configure_optimizers()
    g = torch.Generator().manual_seed(0)
    image = torch.nn.functional.avg_pool2d(torch.rand(2, 1, 16, 16, generator=g), 5, 1, 2)
    batch = {"image": image, "target": torch.rand(2, 1, 16, 16, generator=g)}
    history = []
    for step in range(60):
        history.append(model.train_step(batch, optimizers, StepContext(step=step))["loss_cycle"])
        if step >= 10 and sum(history[-5:]) / 5 <= 0.5 * history[0]:
            break
    assert sum(history[-5:]) / 5 <= 0.5 * history[0], history[::5]


# --- one test per raise -------------------------------------------------------------------------
def test_unknown_generator_raises():
    with pytest.raises(
        ValueError, match=r"generator must be one of \('resnet', 'unet'\), got 'vit'"
    ):
        CycleGAN(generator="vit", **TINY)


def test_identity_loss_with_channel_mismatch_raises():
    with pytest.raises(ValueError, match="lambda_identity=0.5 needs in_channels == out_channels"):
        CycleGAN(in_channels=2, out_channels=1, **TINY)


def test_unknown_gan_loss_raises():
    with pytest.raises(ValueError, match="gan_loss must be one of"):
        CycleGAN(gan_loss="hinge", **TINY)


def test_unet_too_deep_raises():
    with pytest.raises(ValueError, match="depth must be an int in"):
        CycleGAN(generator="unet", depth=7, **TINY)


def test_negative_res_blocks_raises():
    with pytest.raises(ValueError, match="n_res_blocks must be an int >= 0, got -1"):
        ResnetGenerator(1, 1, n_res_blocks=-1)


def test_negative_pool_size_raises():
    with pytest.raises(ValueError, match="pool_size must be an int >= 0, got -1"):
        ImagePool(pool_size=-1)


def test_size_too_small_raises():
    with pytest.raises(ValueError, match="size must be a power of two >= 8"):
        CycleGAN(size=4)


def test_batch_channels_mismatch_raises():
    model = CycleGAN(**TINY)
    batch = {"image": torch.rand(1, 1, 32, 32), "target": torch.rand(1, 3, 32, 32)}
    with pytest.raises(ValueError, match=r'batch\["target"\] must have shape \(B, 1, 32, 32\)'):
        model.train_step(batch, model.configure_optimizers(), StepContext())


def test_cyclegan3d_translates_volumes_both_ways_and_trains():
    net = ResnetGenerator(1, 1, base_channels=2, n_res_blocks=1, spatial_dims=3)
    assert net(torch.zeros(1, 1, 16, 16, 16)).shape == (1, 1, 16, 16, 16)
    assert any(isinstance(m, nn.ReflectionPad3d) for m in net.modules())
    torch.manual_seed(0)
    model = CycleGAN3D(size=16, base_channels=2, n_res_blocks=1, pool_size=2)
    assert model.config["size"] == 16 and model.spatial_dims == 3
    CycleGAN3D(**model.config).load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(0)
    batch = {"image": torch.rand(2, 1, 16, 16, 16, generator=g)}
    batch["target"] = 1 - batch["image"]
    opts = model.configure_optimizers()
    before = [p.detach().clone() for p in model.g_ab.parameters()]
    logs = model.train_step(batch, opts, StepContext())
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.g_ab.parameters(), strict=True))
    model.eval()
    assert model.translate(batch["image"]).shape == (2, 1, 16, 16, 16)
    assert model.translate_back(batch["target"]).shape == (2, 1, 16, 16, 16)
    with pytest.raises(ValueError, match=r"\(B, 1, 16, 16, 16\)"):
        model.translate(torch.rand(2, 1, 16, 16))
