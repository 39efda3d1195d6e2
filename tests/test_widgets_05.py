"""Notebook 05 widgets, driven headlessly: each control must change what is shown, correctly."""

import pytest
import torch

from medgen_nb.models.diffusion import DiffusionModel
from medgen_nb.models.schedulers import NoiseSchedule
from medgen_nb.widgets import ddim_steps_explorer, forward_process_explorer, guidance_explorer


def _image() -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 16), indexing="ij")
    return (0.5 * (x + y))[None]  # (1, 16, 16) ramp in [0, 1]


def _model(num_classes: int = 0) -> DiffusionModel:
    """A tiny model with random (not zero-initialised) weights, so its output depends on x, t, y."""
    torch.manual_seed(0)
    model = DiffusionModel(
        size=16, base_channels=8, channel_mults=(1, 2), attention=False, timesteps=20,
        num_classes=num_classes,
    )  # fmt: skip
    with torch.no_grad():
        for p in model.network.parameters():
            p.add_(0.2 * torch.randn_like(p))
    model.ema_network.load_state_dict(model.network.state_dict())
    return model.eval()


def test_forward_explorer_t_slider_shows_add_noise_with_the_fixed_noise():
    schedule = NoiseSchedule(100, "linear")
    explorer = forward_process_explorer(schedule, _image(), seed=3, t=5)
    before_png, before = explorer.image.value, explorer.last_noisy.clone()
    explorer.controls["t"].value = 80
    assert explorer.image.value != before_png
    assert not torch.equal(explorer.last_noisy, before)
    expected = schedule.add_noise(_image()[None] * 2 - 1, explorer.noise, 80)
    torch.testing.assert_close(explorer.last_noisy, expected)
    assert f"{float(schedule.sqrt_alphas_cumprod[80]):.4f}" in explorer.status.value


def test_forward_explorer_more_noise_at_larger_t():
    explorer = forward_process_explorer(NoiseSchedule(100, "cosine"), _image(), t=0)
    err = []
    for t in (0, 50, 99):
        explorer.controls["t"].value = t
        err.append(float((explorer.last_noisy - explorer.x0).pow(2).mean()))
    assert err[0] < err[1] < err[2]


def test_forward_explorer_rejects_image_outside_unit_range():
    with pytest.raises(ValueError, match="image must be"):
        forward_process_explorer(NoiseSchedule(10), _image() * 2)


def test_ddim_explorer_steps_and_seed_change_the_samples():
    explorer = ddim_steps_explorer(_model(), steps_options=(2, 5, 10), n=2)
    assert explorer.controls["steps"].value == 5
    first = explorer.last_samples.clone()
    assert first.shape == (2, 1, 16, 16) and 0 <= first.min() and first.max() <= 1
    png = explorer.image.value
    explorer.controls["steps"].value = 2
    assert explorer.image.value != png
    assert not torch.allclose(explorer.last_samples, first)
    assert explorer.last_seconds > 0
    at_two = explorer.last_samples.clone()
    explorer.controls["seed"].value = 7
    assert not torch.allclose(explorer.last_samples, at_two)
    explorer.controls["seed"].value = 0  # deterministic DDIM (eta = 0): same seed, same images
    torch.testing.assert_close(explorer.last_samples, at_two)


def test_ddim_explorer_rejects_bad_steps_options():
    with pytest.raises(ValueError, match="steps_options"):
        ddim_steps_explorer(_model(), steps_options=(5, 50))


def test_ddim_explorer_rejects_bad_n():
    with pytest.raises(ValueError, match="n must be"):
        ddim_steps_explorer(_model(), steps_options=(2,), n=0)


def test_guidance_explorer_class_and_scale_change_the_samples():
    model = _model(num_classes=2)
    explorer = guidance_explorer(model, ["no lesion", "lesion"], n=2, steps=3)
    base = explorer.last_samples.clone()
    explorer.controls["scale"].value = 4.0
    assert not torch.allclose(explorer.last_samples, base)
    explorer.controls["label"].value = 0
    # the shown images are exactly model.sample with those settings
    expected = model.sample(
        2, labels=torch.zeros(2, dtype=torch.long), sampler="ddim", steps=3,
        guidance_scale=4.0, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    torch.testing.assert_close(explorer.last_samples, expected)


def test_guidance_explorer_rejects_unconditional_model():
    with pytest.raises(ValueError, match="num_classes > 0"):
        guidance_explorer(_model(), ["a", "b"])


def test_guidance_explorer_rejects_wrong_class_names():
    with pytest.raises(ValueError, match="class_names"):
        guidance_explorer(_model(num_classes=2), ["only one"])


def test_guidance_explorer_rejects_bad_n():
    with pytest.raises(ValueError, match="n must be"):
        guidance_explorer(_model(num_classes=2), ["a", "b"], n=0)
