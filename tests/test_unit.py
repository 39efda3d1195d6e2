"""UNIT: shapes, the unit-variance KL by hand, weight sharing, training, one test per raise."""

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from medgen_nb.models.base import StepContext
from medgen_nb.models.unit import MODELS, UNIT, kl_unit_variance

TINY = dict(size=16, base_channels=4, n_res_blocks=1, n_shared_blocks=1)


def test_translate_both_ways_with_different_channels_and_config_rebuild():
    model = UNIT(in_channels=1, out_channels=2, **TINY)
    a, b = torch.rand(3, 1, 16, 16), torch.rand(3, 2, 16, 16)
    ab, ba = model.translate(a), model.translate_back(b)
    assert ab.shape == (3, 2, 16, 16) and ba.shape == (3, 1, 16, 16)
    assert 0.0 <= ab.min() and ab.max() <= 1.0
    assert model.encode(a * 2 - 1, "a").shape == (3, 16, 4, 4)  # (B, 4 * base, S/4, S/4)
    UNIT(**model.config).load_state_dict(model.state_dict())
    assert MODELS == {"unit": UNIT}


def test_kl_of_known_means():
    # KL(N(mu, 1) || N(0, 1)) = mu^2 / 2 per dimension: mu = 2 -> 2.
    assert kl_unit_variance(torch.full((2, 3, 4, 4), 2.0)).item() == pytest.approx(2.0)
    assert kl_unit_variance(torch.zeros(5)).item() == 0.0
    mu = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(0))
    reference = kl_divergence(Normal(mu, 1.0), Normal(torch.zeros_like(mu), 1.0)).mean()
    assert kl_unit_variance(mu).item() == pytest.approx(reference.item(), rel=1e-6)


def test_shared_layers_serve_both_domains():
    # Weight sharing: a loss on domain A alone reaches the shared encoder but not E_B's private part.
    model = UNIT(**TINY)
    model.encode(torch.rand(2, 1, 16, 16), "a").sum().backward()
    assert all(p.grad is not None for p in model.enc_shared.parameters())
    assert all(p.grad is None for p in model.enc_b.parameters())
    model.zero_grad(set_to_none=True)
    model.encode(torch.rand(2, 1, 16, 16), "b").sum().backward()
    assert all(p.grad is not None for p in model.enc_shared.parameters())
    assert all(p.grad is None for p in model.enc_a.parameters())


def test_total_is_the_weighted_sum_of_terms():
    model = UNIT(lambda_gan=1.0, lambda_kl=0.01, lambda_recon=10.0, lambda_cycle=10.0, **TINY)
    a, b = torch.rand(2, 1, 16, 16) * 2 - 1, torch.rand(2, 1, 16, 16) * 2 - 1
    t = {k: v.item() for k, v in model.generator_losses(a, b).items() if v.ndim == 0}
    expected = t["gan"] + 0.01 * (t["kl"] + t["cycle_kl"]) + 10.0 * t["recon"] + 10.0 * t["cycle"]
    assert t["total"] == pytest.approx(expected, rel=1e-5)


def test_reconstruction_and_cycle_fall_on_a_fixed_batch():
    # lr 1e-3 (5x the paper's) only so this fit finishes in ~25 steps on a shared CPU.
    torch.manual_seed(0)
    model = UNIT(size=16, base_channels=8, n_res_blocks=1, n_shared_blocks=1, lr=1e-3)
    optimizers = model.configure_optimizers()
    g = torch.Generator().manual_seed(0)
    image = torch.nn.functional.avg_pool2d(torch.rand(2, 1, 16, 16, generator=g), 5, 1, 2)
    batch = {"image": image, "target": 1.0 - image.flip(-1)}
    history = []
    for step in range(50):
        logs = model.train_step(batch, optimizers, StepContext(step=step))
        history.append(logs["loss_recon"] + logs["loss_cycle"])
        if step >= 10 and sum(history[-5:]) / 5 <= 0.5 * history[0]:
            break
    assert sum(history[-5:]) / 5 <= 0.5 * history[0], history[::5]
    assert {"loss_kl", "loss_g_gan", "loss_cycle_kl", "loss_g", "loss_d"} <= set(logs)


# --- one test per raise -------------------------------------------------------------------------
def test_unknown_domain_raises():
    with pytest.raises(ValueError, match=r"domain must be one of \('a', 'b'\), got 'c'"):
        UNIT(**TINY).encode(torch.zeros(1, 1, 16, 16), "c")


def test_negative_shared_blocks_raises():
    with pytest.raises(ValueError, match="n_shared_blocks must be an int >= 0, got -1"):
        UNIT(size=16, n_shared_blocks=-1)


def test_unknown_gan_loss_raises():
    with pytest.raises(ValueError, match="gan_loss must be one of"):
        UNIT(gan_loss="wasserstein", **TINY)


def test_patch_layers_too_many_for_size_raises():
    with pytest.raises(
        ValueError, match="d_layers must be an int >= 1 with size / 2\\*\\*d_layers >= 3"
    ):
        UNIT(size=16, d_layers=3)


def test_batch_channels_mismatch_raises():
    model = UNIT(**TINY)
    batch = {"image": torch.rand(1, 3, 16, 16), "target": torch.rand(1, 1, 16, 16)}
    with pytest.raises(ValueError, match=r'batch\["image"\] must have shape \(B, 1, 16, 16\)'):
        model.train_step(batch, model.configure_optimizers(), StepContext())
