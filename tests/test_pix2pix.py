"""Pix2Pix: shapes, hand-checked losses, an overfitting test that can fail, one test per raise."""

import math

import pytest
import torch

from medgen_nb.models.base import StepContext
from medgen_nb.models.pix2pix import (
    MODELS,
    PatchGANDiscriminator,
    Pix2Pix,
    Pix2Pix3D,
    UNetGenerator,
    check_patch_layers,
    default_patch_layers,
    translation_gan_loss,
)
from medgen_nb.models.validation import check_images


def paired_batch(n: int = 4, size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """Fixed pairs whose target is a smooth, non-trivial function of the source (inverted, blurred)."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 1, size // 4, size // 4, generator=g)
    image = torch.nn.functional.interpolate(image, size=(size, size), mode="bilinear")
    target = torch.nn.functional.avg_pool2d(1.0 - image, 3, stride=1, padding=1)
    return {"image": image, "target": target}


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_unet_shapes(depth):
    net = UNetGenerator(2, 3, size=32, base_channels=4, depth=depth)
    out = net(torch.zeros(2, 2, 32, 32))
    assert out.shape == (2, 3, 32, 32)
    assert out.abs().max() <= 1.0


@pytest.mark.parametrize(("n_layers", "field", "out_side"), [(1, 16, 14), (2, 34, 6), (3, 70, 2)])
def test_patchgan_receptive_field_and_shape(n_layers, field, out_side):
    # 70x70 is the receptive field of the paper's n_layers=3 discriminator (Isola et al., Sec. 3.2.2).
    d = PatchGANDiscriminator(2, base_channels=4, n_layers=n_layers)
    assert d.receptive_field == field
    assert d(torch.zeros(1, 2, 32, 32)).shape == (1, 1, out_side, out_side)


def test_default_patch_layers_scale_with_size():
    assert [default_patch_layers(s) for s in (32, 64, 128, 256)] == [1, 2, 3, 3]


def test_translate_shape_range_and_config_rebuild():
    model = Pix2Pix(in_channels=2, out_channels=1, size=32, base_channels=4, depth=4)
    y = model.eval().translate(torch.rand(3, 2, 32, 32))
    assert y.shape == (3, 1, 32, 32)
    assert 0.0 <= y.min() and y.max() <= 1.0
    rebuilt = Pix2Pix(**model.config)
    rebuilt.load_state_dict(model.state_dict())
    assert MODELS == {"pix2pix": Pix2Pix, "pix2pix3d": Pix2Pix3D}


def test_l1_term_by_hand():
    model = Pix2Pix(size=32, base_channels=4, lambda_l1=100.0)
    x = torch.zeros(2, 1, 32, 32)
    y = torch.full((2, 1, 32, 32), 0.5)
    fake = torch.zeros(2, 1, 32, 32)
    fake[:, :, :16] = 1.0  # half the pixels off by 0.5, half by 0.5 -> mean |y - fake| = 0.5
    terms = model.losses(x, y, fake)
    assert terms["l1"].item() == pytest.approx(0.5)
    assert terms["total"].item() == pytest.approx(terms["gan"].item() + 100.0 * 0.5)


def test_lsgan_loss_of_known_scores():
    loss = translation_gan_loss("lsgan")
    scores = torch.tensor([0.5, 1.5])
    assert loss.g(scores).item() == pytest.approx((0.25 + 0.25) / 2)  # mean (D - 1)^2, no 1/2
    d = loss.d(scores, torch.tensor([0.5, 1.5]))  # 0.5 * (mean (D_r - 1)^2 + mean D_f^2)
    assert d.item() == pytest.approx(0.5 * ((0.25 + 0.25) / 2 + (0.25 + 2.25) / 2))
    assert loss.d(torch.ones(4), torch.zeros(4)).item() == 0.0  # a perfect D has zero loss


def test_nonsaturating_loss_of_known_logits():
    loss = translation_gan_loss("nonsaturating")
    # logit 0 -> p = 1/2 -> cross-entropy log 2 against either label.
    assert loss.g(torch.zeros(3)).item() == pytest.approx(math.log(2))
    logit = torch.tensor([2.0])
    expected = -math.log(1 - 1 / (1 + math.exp(-2.0)))  # fake scored 2 -> -log(1 - sigma(2))
    d = loss.d(torch.tensor([100.0]), logit)  # real term ~0 at a confident logit of 100
    assert d.item() == pytest.approx(0.5 * expected, rel=1e-5)
    both = loss.d(torch.zeros(2), torch.zeros(2))
    assert both.item() == pytest.approx(math.log(2))  # 0.5 * (log 2 + log 2)


def test_l1_overfits_four_fixed_pairs():
    # Pix2Pix on 4 fixed 32x32 pairs: the L1 term must halve within 150 steps.
    torch.manual_seed(0)
    model = Pix2Pix(size=32, base_channels=8, depth=5)  # paper lr 2e-4
    optimizers = model.configure_optimizers()
    batch = paired_batch()
    history = []
    for step in range(150):
        history.append(model.train_step(batch, optimizers, StepContext(step=step))["loss_l1"])
        if step >= 20 and sum(history[-5:]) / 5 <= 0.5 * history[0]:
            break
    assert sum(history[-5:]) / 5 <= 0.5 * history[0], history[::10]
    assert set(model.train_step(batch, optimizers, StepContext())) == {
        "loss_d", "loss_g_gan", "loss_l1", "loss_g",
    }  # fmt: skip


def test_3d_networks_keep_volume_shapes_and_the_patch_field():
    net = UNetGenerator(1, 2, size=16, base_channels=2, depth=3, spatial_dims=3)
    assert net(torch.zeros(2, 1, 16, 16, 16)).shape == (2, 2, 16, 16, 16)
    assert any(isinstance(m, torch.nn.Conv3d) for m in net.modules())
    d = PatchGANDiscriminator(2, base_channels=2, n_layers=1, spatial_dims=3)
    assert d.receptive_field == 16  # the same cube edge as the 2-D square
    assert d(torch.zeros(1, 2, 32, 32, 32)).shape == (1, 1, 14, 14, 14)


def test_pix2pix3d_config_translate_and_errors():
    model = Pix2Pix3D(base_channels=2, depth=3)
    assert model.config["size"] == 32 and model.config["base_channels"] == 2
    assert model.spatial_dims == 3 and Pix2Pix.spatial_dims == 2
    y = model.eval().translate(torch.rand(2, 1, 32, 32, 32))
    assert y.shape == (2, 1, 32, 32, 32) and 0.0 <= y.min() and y.max() <= 1.0
    Pix2Pix3D(**model.config).load_state_dict(model.state_dict())
    with pytest.raises(ValueError, match="sliding_window"):
        model.translate(torch.rand(1, 1, 64, 64, 64))  # a whole volume: tile it
    with pytest.raises(ValueError, match=r"\(B, 1, 32, 32, 32\)"):
        model.translate(torch.rand(1, 1, 32, 32))


def test_3d_l1_overfits_two_fixed_volume_pairs():
    # the 3-D objective learns: L1 on two fixed 16³ pairs halves within 150 steps
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    image = torch.nn.functional.interpolate(
        torch.rand(2, 1, 4, 4, 4, generator=g), size=(16, 16, 16), mode="trilinear"
    )
    batch = {"image": image, "target": torch.nn.functional.avg_pool3d(1 - image, 3, 1, 1)}
    model = Pix2Pix3D(size=16, base_channels=4, depth=3)
    optimizers = model.configure_optimizers()
    history = []
    for step in range(150):
        history.append(model.train_step(batch, optimizers, StepContext(step=step))["loss_l1"])
        if step >= 20 and sum(history[-5:]) / 5 <= 0.5 * history[0]:
            break
    assert sum(history[-5:]) / 5 <= 0.5 * history[0], history[::10]


# --- one test per raise -------------------------------------------------------------------------
def test_depth_too_deep_for_size_raises():
    with pytest.raises(ValueError, match=r"depth must be an int in \[2, log2\(size\)\] = \[2, 5\]"):
        Pix2Pix(size=32, depth=6)


def test_size_not_power_of_two_raises():
    with pytest.raises(ValueError, match="size must be a power of two"):
        Pix2Pix(size=48)


def test_patch_layers_too_many_raises():
    with pytest.raises(ValueError, match="d_layers must be an int >= 1"):
        check_patch_layers(4, 32)


def test_dropout_out_of_range_raises():
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        UNetGenerator(1, 1, 32, depth=3, dropout=1.0)


def test_patchgan_n_layers_raises():
    with pytest.raises(ValueError, match="n_layers must be an int >= 1"):
        PatchGANDiscriminator(1, n_layers=0)


def test_unknown_gan_loss_raises():
    with pytest.raises(
        ValueError, match=r"gan_loss must be one of \('lsgan', 'nonsaturating'\), got 'vanilla'"
    ):
        Pix2Pix(size=32, base_channels=4, gan_loss="vanilla")  # the old name of "nonsaturating"


def test_batch_channels_mismatch_raises():
    model = Pix2Pix(in_channels=2, size=32, base_channels=4, depth=3)
    batch = {"image": torch.rand(1, 1, 32, 32), "target": torch.rand(1, 1, 32, 32)}
    with pytest.raises(ValueError, match=r'batch\["image"\] must have shape \(B, 2, 32, 32\)'):
        model.train_step(batch, model.configure_optimizers(), StepContext())
    with pytest.raises(ValueError, match=r"got \(1, 1, 16, 16\)"):
        check_images(torch.rand(1, 1, 16, 16), 1, 32, "x")
