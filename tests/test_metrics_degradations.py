"""Degradations (metrics.degradations): each failure kind does what its docstring says, on hand-checkable images."""

import pytest
import torch

from medgen_nb import metrics as M
from medgen_nb.metrics.degradations import apply_failure, degrade, gaussian_blur


def _ramp() -> torch.Tensor:
    """(1, 1, 2, 4) image with values 0.0, 0.1, ..., 0.7 (row-major)."""
    return (torch.arange(8, dtype=torch.float64) / 10).reshape(1, 1, 2, 4)


def test_exported_from_metrics_and_no_longer_in_the_report():
    from medgen_nb.metrics import report

    for name in ("apply_failure", "degrade", "gaussian_blur"):
        assert getattr(M, name).__module__ == "medgen_nb.metrics.degradations"
        assert name in M.__all__
        assert not hasattr(report, name)  # the report scores images; it does not make them


def test_shift_moves_columns_right_and_wraps():
    shifted = apply_failure(_ramp(), "shift", 1)
    expected = torch.tensor([[0.3, 0.0, 0.1, 0.2], [0.7, 0.4, 0.5, 0.6]], dtype=torch.float64)
    torch.testing.assert_close(shifted[0, 0], expected)
    torch.testing.assert_close(apply_failure(_ramp(), "shift", 4.0), _ramp())  # a full turn


def test_scale_multiplies_and_clips():
    torch.testing.assert_close(apply_failure(_ramp(), "scale", 0.5), _ramp() * 0.5)
    doubled = apply_failure(_ramp(), "scale", 2.0)[0, 0]
    torch.testing.assert_close(doubled[0], torch.tensor([0.0, 0.2, 0.4, 0.6], dtype=torch.float64))
    # 1.0 .. 1.4 saturate at the top of [0, 1]
    torch.testing.assert_close(doubled[1], torch.tensor([0.8, 1.0, 1.0, 1.0], dtype=torch.float64))


def test_noise_has_the_requested_std_and_is_seeded():
    flat = torch.full((1, 1, 64, 64), 0.5)
    noisy = apply_failure(flat, "noise", 0.05, seed=3)
    diff = noisy - flat
    assert abs(float(diff.std()) - 0.05) < 0.003 and abs(float(diff.mean())) < 0.003
    torch.testing.assert_close(noisy, apply_failure(flat, "noise", 0.05, seed=3))
    assert not torch.equal(noisy, apply_failure(flat, "noise", 0.05, seed=4))
    torch.testing.assert_close(noisy, degrade(flat, blur_sigma=0, noise_std=0.05, seed=3))


def test_blur_keeps_constants_and_spreads_a_point():
    flat = torch.full((1, 1, 16, 16), 0.3)
    torch.testing.assert_close(apply_failure(flat, "blur", 1.5), flat)
    point = torch.zeros(1, 1, 17, 17)
    point[0, 0, 8, 8] = 1.0
    blurred = apply_failure(point, "blur", 1.0)
    torch.testing.assert_close(blurred, gaussian_blur(point, 1.0))
    assert abs(float(blurred.sum()) - 1.0) < 1e-5  # mass kept (far from the borders)
    # the 2-D Gaussian of sigma 1 px peaks at 1 / (2 pi) at its centre
    assert abs(float(blurred[0, 0, 8, 8]) - 1 / (2 * torch.pi)) < 2e-3


@pytest.mark.parametrize(
    ("kind", "level"), [("noise", 0.0), ("blur", 0.0), ("shift", 0), ("scale", 1.0)]
)
def test_zero_strength_is_the_identity(kind, level):
    torch.testing.assert_close(apply_failure(_ramp(), kind, level), _ramp())


def test_unknown_kind_names_the_allowed_set():
    with pytest.raises(
        ValueError, match=r"kind must be one of \('noise', 'blur', 'shift', 'scale'\), got 'warp'"
    ):
        apply_failure(_ramp(), "warp", 1.0)


def test_negative_level_rejected():
    with pytest.raises(
        ValueError, match=r"level \(Gaussian blur sigma \(px\)\) must be >= 0, got -1"
    ):
        apply_failure(_ramp(), "blur", -1.0)


def test_fractional_shift_rejected():
    with pytest.raises(ValueError, match="whole number of pixels, got 1.5"):
        apply_failure(_ramp(), "shift", 1.5)


def test_wrong_shape_rejected():
    with pytest.raises(ValueError, match=r"images must be \(B, C, H, W\), got shape \(2, 4\)"):
        apply_failure(_ramp()[0, 0], "scale", 0.5)


def test_out_of_range_images_rejected():
    with pytest.raises(ValueError, match=r"images must lie in \[0, 1\]"):
        apply_failure(_ramp() * 2, "noise", 0.1)


def test_gaussian_blur_in_chunks_equals_blurring_each_image_alone():
    from medgen_nb.metrics.degradations import BLUR_CHUNK

    images = torch.rand(2 * BLUR_CHUNK + 3, 1, 20, 20, generator=torch.Generator().manual_seed(1))
    together = gaussian_blur(images, 1.3)
    alone = torch.cat([gaussian_blur(images[i : i + 1], 1.3) for i in range(len(images))])
    torch.testing.assert_close(together, alone)
    assert together.shape == images.shape
