"""Simulated ultrasound: depth attenuation, shadowing, speckle statistics and input checks."""

import dataclasses

import pytest
import torch

from medgen_nb.data.ultrasound import UltrasoundConfig, acoustic_properties, simulate_ultrasound

H = W = 96
PIXEL_MM = 2.0
CFG = UltrasoundConfig(max_depth_mm=200.0, n_lines=64, n_depth=128, speckle=False)


def soft_tissue(hu: float = 40.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, H, W) homogeneous liver-like tissue, echogenicity 0.6."""
    return torch.full((1, H, W), hu), torch.full((1, H, W), 0.6)


def test_intensity_decays_with_depth_in_homogeneous_tissue():
    hu, echo = soft_tissue()
    img, fan = simulate_ultrasound(acoustic_properties(hu, echo), PIXEL_MM, CFG)
    centre = img[0, :, W // 2]
    rows = torch.arange(10, 90, 10)
    assert (centre[rows].diff() < 0).all()
    assert fan[H // 2, W // 2] and not fan[0, 0]  # the fan opens downwards from the top centre
    assert img[0][~fan].abs().max() == 0


def test_more_attenuation_at_higher_frequency():
    hu, echo = soft_tissue()
    props = acoustic_properties(hu, echo)
    low, _ = simulate_ultrasound(props, PIXEL_MM, CFG)
    high, _ = simulate_ultrasound(props, PIXEL_MM, dataclasses.replace(CFG, frequency_mhz=7.0))
    assert high[0, 80, W // 2] < low[0, 80, W // 2]


def test_time_gain_compensation_restores_depth():
    hu, echo = soft_tissue()
    props = acoustic_properties(hu, echo)
    full, _ = simulate_ultrasound(props, PIXEL_MM, dataclasses.replace(CFG, tgc_fraction=1.0))
    centre = full[0, 10:90, W // 2]
    assert (centre.max() - centre.min()) < 0.02


@pytest.mark.parametrize("obstacle_hu", [1200.0, -1000.0], ids=["bone", "air"])
def test_shadow_behind_bone_and_air(obstacle_hu):
    hu, echo = soft_tissue()
    hu[:, 30:34, 40:56] = obstacle_hu  # a rib (or gas) band across the centre lines
    img, _ = simulate_ultrasound(acoustic_properties(hu, echo), PIXEL_MM, CFG)
    behind = img[0, 50:70, 44:52].mean()
    beside = img[0, 50:70, 20:28].mean()  # same depth, lines that miss the obstacle
    assert behind < 0.5 * beside
    assert img[0, 29:33, 44:52].max() > img[0, 20:28, 44:52].max()  # bright specular surface


def test_speckle_is_rayleigh_with_unit_mean():
    hu, echo = soft_tissue()
    props = acoustic_properties(hu, echo)
    cfg = dataclasses.replace(CFG, speckle=True, tgc_fraction=1.0, dynamic_range_db=200.0)
    noisy, _ = simulate_ultrasound(props, PIXEL_MM, cfg, torch.Generator().manual_seed(0))
    clean, _ = simulate_ultrasound(props, PIXEL_MM, dataclasses.replace(cfg, speckle=False))
    region = (slice(20, 80), slice(30, 66))
    # Back from dB to amplitude: speckle makes it vary (Rayleigh: std/mean = 0.52) around the clean echo.
    to_amp = lambda x: 10 ** ((x[0][region] - 1) * cfg.dynamic_range_db / 20)  # noqa: E731
    ratio = to_amp(noisy) / to_amp(clean)
    assert ratio.std() / ratio.mean() > 0.3
    assert not torch.equal(noisy, clean)


def test_reproducible_with_generator():
    hu, echo = soft_tissue()
    props = acoustic_properties(hu, echo)
    cfg = dataclasses.replace(CFG, speckle=True)
    a, _ = simulate_ultrasound(props, PIXEL_MM, cfg, torch.Generator().manual_seed(3))
    b, _ = simulate_ultrasound(props, PIXEL_MM, cfg, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and 0 <= float(a.min()) and float(a.max()) <= 1


def test_bad_properties_shape_raises():
    with pytest.raises(ValueError, match="properties must have shape"):
        simulate_ultrasound(torch.zeros(1, 2, 8, 8), PIXEL_MM)


def test_bad_pixel_size_raises():
    hu, echo = soft_tissue()
    with pytest.raises(ValueError, match="pixel_mm must be > 0"):
        simulate_ultrasound(acoustic_properties(hu, echo), 0.0)


def test_bad_tgc_raises():
    hu, echo = soft_tissue()
    with pytest.raises(ValueError, match="tgc_fraction must lie"):
        simulate_ultrasound(
            acoustic_properties(hu, echo), PIXEL_MM, dataclasses.replace(CFG, tgc_fraction=2.0)
        )
