"""VAE family: shapes, the KL term against closed forms, a fail-able overfitting test, errors."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from medgen_nb.models import create
from medgen_nb.models.base import StepContext
from medgen_nb.models.vae import ConditionalVAE, ConvVAE, kl_divergence_normal
from medgen_nb.train import fit
from medgen_nb.utils import seed_everything

TINY = dict(size=16, base_channels=8, latent_dim=8)


pytestmark = pytest.mark.usefixtures("one_thread")


def half_bright(label: int, n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    """Simulated images: label 0 bright top half, label 1 bright bottom half, mild noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((n, 1, size, size), 0.1)
    if label == 0:
        x[:, :, : size // 2] = 0.9
    else:
        x[:, :, size // 2 :] = 0.9
    return (x + 0.03 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_kl_of_known_gaussians_matches_closed_form_by_hand():
    mu = torch.tensor([[0.0, 0.0], [1.0, -2.0]])
    var = torch.tensor([[1.0, 1.0], [4.0, 0.25]])
    kl = kl_divergence_normal(mu, var.log())
    # hand: 0.5 * (mu^2 + var - 1 - ln var) summed over dims
    expected_row2 = 0.5 * (1 + 4 - 1 - math.log(4)) + 0.5 * (4 + 0.25 - 1 - math.log(0.25))
    assert kl[0].item() == pytest.approx(0.0, abs=1e-7)
    assert kl[1].item() == pytest.approx(expected_row2, rel=1e-6)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(kl_divergence_normal(mu, logvar), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,extra", [("vae", {}), ("cvae", {"num_classes": 3})])
def test_shapes_and_ranges(name, extra):
    model = create(name, **TINY, **extra)
    x = torch.rand(4, 1, 16, 16)
    labels = torch.tensor([0, 1, 2, 0]) if extra else None
    mu, logvar = model.encode(x, labels)
    assert mu.shape == logvar.shape == (4, 8)
    terms = model.elbo_terms(x, labels)
    assert terms.recon.ndim == 0 and terms.kl.ndim == 0 and terms.kl >= 0
    assert terms.x_hat.shape == x.shape
    s = model.sample(3, labels=None if labels is None else labels[:3])
    assert s.shape == (3, 1, 16, 16) and 0 <= s.min() and s.max() <= 1
    assert model.reconstruct(x, labels).shape == x.shape
    path = model.interpolate(x[0], x[1], steps=5, labels=None if labels is None else 1)
    assert path.shape == (5, 1, 16, 16)
    # the ends of the path are the reconstructions of the two images
    rec = model.reconstruct(x[:2], None if labels is None else torch.tensor([1, 1]))
    torch.testing.assert_close(path[[0, -1]], rec, atol=1e-5, rtol=1e-4)


def test_sample_is_reproducible_with_generator():
    model = create("vae", **TINY)
    a = model.sample(2, generator=torch.Generator().manual_seed(3))
    b = model.sample(2, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)


def test_vae_overfits_tiny_batch_recon_halves():
    seed_everything(0)
    data = torch.utils.data.TensorDataset(torch.cat([half_bright(0, 8), half_bright(1, 8)]))
    model = create("vae", **TINY, lr=3e-3)
    hist = fit(model, data, steps=120, batch_size=16, progress=False, precision="fp32")
    first, last = hist.logs["loss_recon"][0], sum(hist.logs["loss_recon"][-10:]) / 10
    assert last < 0.5 * first, (first, last)


def test_cvae_samples_follow_their_label():
    seed_everything(0)
    x = torch.cat([half_bright(0, 8), half_bright(1, 8)])
    y = torch.tensor([0] * 8 + [1] * 8)
    data = torch.utils.data.TensorDataset(x, y)
    model = create("cvae", **TINY, num_classes=2, lr=3e-3)
    fit(model, data, steps=150, batch_size=16, progress=False, precision="fp32")
    gen = torch.Generator().manual_seed(0)
    top0 = model.sample(16, labels=torch.zeros(16, dtype=torch.long), generator=gen)
    top1 = model.sample(16, labels=torch.ones(16, dtype=torch.long), generator=gen)
    # label 0 -> bright top half; label 1 -> bright bottom half
    assert top0[:, :, :8].mean() - top0[:, :, 8:].mean() > 0.4
    assert top1[:, :, 8:].mean() - top1[:, :, :8].mean() > 0.4


# --- one test per raise -------------------------------------------------------------------------
def test_size_not_power_of_two_raises():
    with pytest.raises(ValueError, match="size must be a power of two"):
        ConvVAE(size=48)


def test_unknown_recon_raises():
    with pytest.raises(ValueError, match="recon must be one of"):
        ConvVAE(**TINY, recon="l1")


def test_negative_beta_raises():
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        ConvVAE(**TINY, beta=-1.0)


def test_vae_with_classes_raises():
    with pytest.raises(ValueError, match="use 'cvae'"):
        ConvVAE(**TINY, num_classes=3)


def test_cvae_needs_two_classes():
    with pytest.raises(ValueError, match="num_classes as an int >= 2"):
        ConditionalVAE(**TINY, num_classes=1)


def test_channel_mismatch_raises():
    model = ConvVAE(**TINY)
    with pytest.raises(ValueError, match="3 channels but the model was built with in_channels=1"):
        model.train_step(
            {"image": torch.rand(2, 3, 16, 16)}, model.configure_optimizers(), StepContext()
        )


def test_cvae_missing_labels_raises():
    model = ConditionalVAE(**TINY, num_classes=2)
    with pytest.raises(ValueError, match="labels are required"):
        model.train_step(
            {"image": torch.rand(2, 1, 16, 16)}, model.configure_optimizers(), StepContext()
        )


def test_label_out_of_range_raises():
    model = ConditionalVAE(**TINY, num_classes=2)
    with pytest.raises(ValueError, match=r"must lie in \[0, 2\)"):
        model.sample(2, labels=torch.tensor([0, 5]))


def test_labels_for_unconditional_vae_raise():
    with pytest.raises(ValueError, match="labels must be None"):
        ConvVAE(**TINY).sample(2, labels=torch.tensor([0, 1]))


def test_kl_shape_mismatch_raises():
    with pytest.raises(ValueError, match="same shape"):
        kl_divergence_normal(torch.zeros(2, 3), torch.zeros(2, 4))
