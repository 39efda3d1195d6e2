"""The per-pixel intensity-mapping baseline recovers known mappings and rejects bad input."""

import numpy as np
import pytest
import torch

from medgen_nb.models.baselines import IntensityMappingBaseline


def _pairs(f, n=4, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=g)
    return x, f(x)


def test_lookup_recovers_a_non_monotone_mapping():
    # T1w -> T2w is not monotone (CSF dark -> bright, WM bright -> dark): a tent function.
    def tent(x):
        return 1 - (2 * x - 1).abs()

    x, y = _pairs(tent, n=8, size=32)
    base = IntensityMappingBaseline("lookup", n_bins=64).fit(x, y)
    x_test, y_test = _pairs(tent, seed=1)
    err = (base.translate(x_test) - y_test).abs().max().item()
    assert err < 0.04, f"lookup table error {err:.3f} on a tent mapping"


def test_lookup_is_the_conditional_mean_of_noisy_targets():
    x = torch.full((1, 1, 8, 8), 0.3)
    y = torch.zeros_like(x)
    y[..., :4] = 0.2
    y[..., 4:] = 0.6  # two target values for one source intensity: the mean is 0.4
    base = IntensityMappingBaseline("lookup", n_bins=10).fit(x, y)
    assert base.mapping(np.array([0.3]))[0] == pytest.approx(0.4, abs=1e-6)


def test_polynomial_recovers_a_quadratic_and_mask_restricts_the_fit():
    x, y = _pairs(lambda x: 0.2 + 0.5 * x**2)
    mask = torch.ones_like(x)
    y_corrupt = y.clone()
    y_corrupt[:, :, :4] = 1.0  # corrupt rows outside the mask must not affect the fit
    mask[:, :, :4] = 0
    base = IntensityMappingBaseline("polynomial", degree=2).fit(x, y_corrupt, mask=mask)
    np.testing.assert_allclose(base.coefficients, [0.5, 0.0, 0.2], atol=1e-6)
    out = base.translate(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert base.eval() is base


def test_rejects_unknown_method():
    with pytest.raises(ValueError, match="method must be one of"):
        IntensityMappingBaseline("cubic")


def test_rejects_bad_n_bins():
    with pytest.raises(ValueError, match="n_bins"):
        IntensityMappingBaseline(n_bins=1)


def test_rejects_bad_degree():
    with pytest.raises(ValueError, match="degree"):
        IntensityMappingBaseline("polynomial", degree=0)


def test_rejects_non_image_source():
    with pytest.raises(ValueError, match="source must be a"):
        IntensityMappingBaseline().fit(torch.rand(4, 4), torch.rand(4, 4))


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        IntensityMappingBaseline().fit(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 8, 8))


def test_rejects_mask_of_wrong_shape():
    with pytest.raises(ValueError, match="mask must have"):
        IntensityMappingBaseline().fit(
            torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4), mask=torch.ones(1, 1, 2, 2)
        )


def test_rejects_empty_mask():
    with pytest.raises(ValueError, match="at least 2"):
        IntensityMappingBaseline().fit(
            torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4), mask=torch.zeros(1, 1, 4, 4)
        )


def test_translate_before_fit_raises():
    with pytest.raises(ValueError, match="not fitted"):
        IntensityMappingBaseline().translate(torch.rand(1, 1, 4, 4))
