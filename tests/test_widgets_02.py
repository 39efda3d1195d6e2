"""Latent-traversal widget (notebook 02), driven headlessly."""

import pytest
import torch

from medgen_nb.models.vae import ConditionalVAE, ConvVAE
from medgen_nb.widgets import LatentTraversal, latent_traversal_explorer


def _vae(**kw):
    torch.manual_seed(0)
    return ConvVAE(size=16, latent_dim=4, base_channels=4, **kw).eval()


class _BrightnessDecoder(torch.nn.Module):
    """A decoder with a known answer: every pixel is sigmoid(z_0), whatever the other z_d."""

    latent_dim, conditional, num_classes = 3, False, 0
    device = torch.device("cpu")

    def decode(self, z, labels=None):
        return torch.sigmoid(z[:, :1, None, None]).expand(-1, 1, 8, 8)


def test_value_slider_changes_image_and_matches_decoder():
    vae = _vae()
    explorer = latent_traversal_explorer(vae, torch.zeros(4))
    before = explorer.image.value
    explorer.controls["dim"].value = 2
    explorer.controls["value"].value = 2.5
    assert explorer.image.value != before
    expected = vae.decode(torch.tensor([[0.0, 0.0, 2.5, 0.0]]))[0, 0].detach().numpy()
    shown = explorer.current_image(**explorer.values())
    torch.testing.assert_close(torch.from_numpy(shown), torch.from_numpy(expected))


def test_traversal_moves_the_image_the_way_the_decoder_says():
    explorer = latent_traversal_explorer(_BrightnessDecoder(), torch.zeros(3))
    means = []
    for v in (-2.0, 0.0, 2.0):
        explorer.controls["value"].value = v
        means.append(float(explorer.current_image(**explorer.values()).mean()))
    assert means[0] < means[1] < means[2]  # brighter as z_0 grows
    assert means[1] == pytest.approx(0.5)
    explorer.controls["dim"].value = 1  # a dimension this decoder ignores
    explorer.controls["value"].value = -3.0
    assert explorer.current_image(**explorer.values()).mean() == pytest.approx(0.5)


def test_image_base_is_encoded_to_its_posterior_mean():
    vae = _vae()
    x = torch.rand(1, 1, 16, 16)
    explorer = LatentTraversal(vae, x)
    torch.testing.assert_close(explorer.base(), vae.encode(x)[0][0])
    assert "seed" not in explorer.controls


def test_seed_control_draws_a_new_prior_base():
    explorer = latent_traversal_explorer(_vae())
    before = explorer.image.value
    z0 = explorer.base(0).clone()
    explorer.controls["seed"].value = 7
    assert not torch.equal(explorer.base(7), z0)
    assert explorer.image.value != before


def test_conditional_vae_has_a_class_control():
    torch.manual_seed(0)
    cvae = ConditionalVAE(size=16, latent_dim=4, base_channels=4, num_classes=2).eval()
    explorer = latent_traversal_explorer(cvae, torch.zeros(4))
    before = explorer.image.value
    explorer.controls["label"].value = 1
    assert explorer.image.value != before
    expected = cvae.decode(torch.zeros(1, 4), torch.tensor([1]))[0, 0].detach().numpy()
    torch.testing.assert_close(
        torch.from_numpy(explorer.current_image(**explorer.values())), torch.from_numpy(expected)
    )


def test_rejects_bad_value_range():
    with pytest.raises(ValueError, match="value_range must be > 0, got 0"):
        latent_traversal_explorer(_vae(), value_range=0)


def test_rejects_bad_label():
    torch.manual_seed(0)
    cvae = ConditionalVAE(size=16, latent_dim=4, base_channels=4, num_classes=2)
    with pytest.raises(ValueError, match=r"label must be in 0\.\.1, got 5"):
        latent_traversal_explorer(cvae, label=5)


def test_rejects_bad_base_shape():
    with pytest.raises(ValueError, match=r"base must be None, a latent code of shape \(4,\)"):
        latent_traversal_explorer(_vae(), torch.zeros(2, 1, 16, 16))


def test_rejects_bad_dim():
    explorer = latent_traversal_explorer(_vae(), torch.zeros(4))
    with pytest.raises(ValueError, match=r"dim must be in 0\.\.3, got 9"):
        explorer.code(9, 0.0)
