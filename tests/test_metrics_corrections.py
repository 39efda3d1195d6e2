"""Metric corrections of issue 13 (item 7); each test failed on the behaviour it replaces."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from medgen_nb.metrics import (
    bootstrap_ci,
    fid,
    median_bandwidth,
    mmd,
    ms_ssim,
    precision_recall,
    ssim,
)
from medgen_nb.metrics.translation import gaussian_window

SMALL_BETAS = (0.0448, 0.2856, 0.3001)


def _gauss(n, d=8, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + shift


def _smooth(b=2, s=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(torch.rand(b, 1, s + 6, s + 6, generator=g), 7, 1)
    return ((x - x.amin()) / (x.amax() - x.amin())).double()


# -- bootstrap of distribution metrics: half-samples without replacement ---------------------------


def test_two_sample_draws_repeat_no_row():
    seen = []

    def spy(real, fake):
        seen.append(
            (len(real), len(torch.unique(real, dim=0)), len(fake), len(torch.unique(fake, dim=0)))
        )
        return 0.0

    bootstrap_ci(spy, _gauss(40), _gauss(30, seed=1), n_boot=20)
    assert seen[0] == (40, 40, 30, 30)  # the full sample first
    assert set(seen[1:]) == {(20, 20, 15, 15)}  # n // 2 rows, all distinct (was n, with repeats)


def test_fid_interval_holds_its_point_estimate():
    # Two samples of one distribution at N ~ 6 D: with repeated rows every resampled FID was
    # larger than the data's own FID, and the "95 % interval" lay wholly above the value.
    real, fake = _gauss(100, 16), _gauss(100, 16, seed=1)
    ci = bootstrap_ci(fid, real, fake, n_boot=100, warn_small_n=False)
    assert ci.low <= ci.value <= ci.high, ci
    # and its width is that of FIDs of independent samples of this size (slightly conservative)
    others = [
        fid(_gauss(100, 16, seed=2 * i + 2), _gauss(100, 16, seed=2 * i + 3), warn_small_n=False)
        for i in range(40)
    ]
    spread = np.percentile(others, 97.5) - np.percentile(others, 2.5)
    assert 0.8 < (ci.high - ci.low) / spread < 2.5, (ci, spread)


def test_precision_recall_intervals_hold_their_point_estimates():
    # repeated rows are k-NN neighbours at distance 0: radii shrank and recall fell below its value
    real, fake = _gauss(200, 8), 0.8 * _gauss(200, 8, seed=1)
    ci = bootstrap_ci(precision_recall, real, fake, n_boot=60)
    for key, iv in ci.items():
        assert iv.low <= iv.value <= iv.high, (key, iv)


def test_two_sample_bootstrap_needs_four_rows():
    with pytest.raises(ValueError, match="fake needs at least 4 samples"):
        bootstrap_ci(fid, _gauss(10), _gauss(3), n_boot=10)


# -- MMD: one kernel, fixed by the real set --------------------------------------------------------


def test_mmd_bandwidth_comes_from_the_real_set_alone():
    real, far = _gauss(60), _gauss(60, shift=3.0, seed=1)
    sigma = median_bandwidth(real)
    assert mmd(real, far) == mmd(real, far, bandwidth=sigma)  # the pooled median was ~2x wider
    # so two generators scored against one real set are measured with one kernel
    near = _gauss(60, shift=0.3, seed=2)
    assert mmd(real, near) == mmd(real, near, bandwidth=sigma)


def test_bootstrap_draws_share_the_full_real_bandwidth():
    real, fake = _gauss(60), _gauss(60, shift=0.5, seed=1)
    fixed = bootstrap_ci(mmd, real, fake, n_boot=30, bandwidth=median_bandwidth(real))
    auto = bootstrap_ci(mmd, real, fake, n_boot=30)  # was re-estimated on every draw
    assert (auto.value, auto.low, auto.high) == (fixed.value, fixed.low, fixed.high)
    other = bootstrap_ci(mmd, real, fake, n_boot=30, bandwidth=2 * median_bandwidth(real))
    assert other.value != fixed.value  # an explicit bandwidth wins over the real-set default


def test_median_bandwidth_takes_only_the_reference():
    with pytest.raises(TypeError):
        median_bandwidth(_gauss(10), _gauss(10, seed=1))  # was the pooled real + fake median


# -- SSIM honours kernel_size; MS-SSIM refuses one it would ignore ---------------------------------


@pytest.mark.parametrize(("kernel_size", "sigma"), [(11, 1.5), (7, 0.9), (5, 0.6)])
def test_ssim_matches_skimage_where_its_window_is_that_size(kernel_size, sigma):
    # scikit-image's Gaussian window is 2 * int(3.5 sigma + 0.5) + 1 taps: these pairs agree
    x = _smooth()
    y = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    ours = ssim(y, x, data_range=1.0, kernel_size=kernel_size, sigma=sigma, reduction="none")
    for i in range(2):
        ref = structural_similarity(
            x[i, 0].numpy(), y[i, 0].numpy(), data_range=1.0, gaussian_weights=True,
            sigma=sigma, use_sample_covariance=False,
        )  # fmt: skip
        assert float(ours[i]) == pytest.approx(ref, abs=1e-5)


def _ssim_truncated_reference(
    x: np.ndarray, y: np.ndarray, kernel_size: int, sigma: float
) -> float:
    """SSIM with local moments from scipy's Gaussian filter truncated at ``kernel_size`` taps."""
    r = (kernel_size - 1) // 2

    def blur(a):
        return gaussian_filter(a, sigma, truncate=r / sigma, mode="mirror")

    mu_x, mu_y = blur(x), blur(y)
    s_xx, s_yy = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2
    s_xy = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    m = ((2 * mu_x * mu_y + c1) * (2 * s_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (s_xx + s_yy + c2))
    return float(m[r:-r, r:-r].mean())


def test_ssim_honours_a_kernel_size_smaller_than_sigma_implies():
    # sigma 1.5 implies 11 taps; torchmetrics silently used 11 when asked for 7
    x = _smooth(b=1)
    y = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    ours = float(ssim(y, x, data_range=1.0, kernel_size=7, sigma=1.5))
    ref = _ssim_truncated_reference(y[0, 0].numpy(), x[0, 0].numpy(), 7, 1.5)
    assert ours == pytest.approx(ref, abs=1e-5)
    assert ours != pytest.approx(float(ssim(y, x, data_range=1.0)), abs=1e-3)


def test_gaussian_window_is_normalised_and_refuses_bad_sizes():
    w = gaussian_window(7, 1.5)
    assert w.shape == (7,) and float(w.sum()) == pytest.approx(1.0) and w.argmax() == 3
    with pytest.raises(ValueError, match="kernel_size must be an odd int >= 3, got 4"):
        gaussian_window(4, 1.5)
    with pytest.raises(ValueError, match="sigma must be a positive finite number"):
        gaussian_window(7, 0.0)


def test_ms_ssim_refuses_a_kernel_size_that_torchmetrics_would_ignore():
    x = _smooth(s=80)
    with pytest.raises(ValueError, match=r"sigma=1.5 gives 11 x 11 px, but kernel_size=7"):
        ms_ssim(x, x, data_range=1.0, kernel_size=7, betas=SMALL_BETAS)
    # a kernel_size that matches sigma's window is used as asked
    assert float(
        ms_ssim(x, x, data_range=1.0, kernel_size=7, sigma=0.9, betas=SMALL_BETAS)
    ) == pytest.approx(1.0)


def test_ms_ssim_of_a_poor_output_is_a_number():
    # an inverted image has negative contrast-structure terms: raised to beta 0.2856 they were NaN
    x = _smooth(s=64)
    poor = ms_ssim(1 - x, x, data_range=1.0, betas=SMALL_BETAS, reduction="none")
    assert torch.isfinite(poor).all() and (poor >= 0).all() and (poor < 0.1).all(), poor
    noisy = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3))).clamp(
        0, 1
    )
    assert (ms_ssim(noisy, x, data_range=1.0, betas=SMALL_BETAS, reduction="none") > poor).all()
