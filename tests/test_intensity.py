"""Intensity conventions: invertible maps to [0, 1] and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medgen_nb.data.intensity import IntensityMap, ct_window, linear_unit, mr_robust, pet_suv


@pytest.mark.parametrize("to_array", [np.asarray, torch.as_tensor])
def test_ct_window_round_trip_inside_window(to_array):
    hu = to_array(np.array([-1000.0, -50.0, 0.0, 40.0, 1800.0, 2000.0]))
    m = ct_window()
    y = m.forward(hu)
    assert float(y.min()) == 0.0 and float(y.max()) == 1.0
    assert np.allclose(np.asarray(m.inverse(y)), np.asarray(hu))
    assert abs(float(m.forward(to_array(np.array([500.0])))[0]) - 0.5) < 1e-9  # linear


def test_ct_window_clips_outside():
    m = ct_window(-100.0, 100.0)
    y = m.forward(np.array([-1000.0, 0.0, 3000.0]))
    assert np.allclose(y, [0.0, 0.5, 1.0])


def test_pet_suv_round_trip():
    suv = np.linspace(0, 12, 25)
    m = pet_suv()
    assert m.unit == "SUV" and np.allclose(m.inverse(m.forward(suv)), suv)


def test_mr_robust_uses_mask_percentiles():
    rng = np.random.default_rng(0)
    vol = rng.uniform(100, 200, (8, 8, 8))
    mask = np.zeros_like(vol, bool)
    mask[2:6, 2:6, 2:6] = True
    vol[~mask] = 0.0  # background must not set the map
    m = mr_robust(vol, mask)
    assert 100 <= m.lo < 110 and 190 < m.hi <= 200
    y = m.forward(vol)
    assert y.min() >= 0 and y.max() <= 1
    inside = (vol >= m.lo) & (vol <= m.hi)
    assert np.allclose(m.inverse(y)[inside], vol[inside])


def test_mr_robust_accepts_tensors():
    vol = torch.arange(1000.0).reshape(10, 10, 10)
    m = mr_robust(vol)
    assert m.kind == "mr" and np.isclose(m.lo, 4.995) and np.isclose(m.hi, 994.005)


def test_mr_robust_constant_image_stays_invertible():
    m = mr_robust(np.full((4, 4), 3.0))
    assert m.hi > m.lo and m.inverse(m.forward(np.array(3.0))) == 3.0


def test_linear_unit():
    m = linear_unit("xray", 0.0, 4.0, "line integral")
    assert m.forward(np.array(2.0)) == 0.5


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        IntensityMap("mri", 0.0, 1.0, "a.u.")


def test_empty_range():
    with pytest.raises(ValueError, match="lo < hi"):
        IntensityMap("ct", 100.0, 100.0, "HU")


def test_non_finite_range():
    with pytest.raises(ValueError, match="finite"):
        IntensityMap("pet", 0.0, float("inf"), "SUV")


def test_mask_shape_mismatch():
    with pytest.raises(ValueError, match="mask shape"):
        mr_robust(np.ones((4, 4)), np.ones((4, 5), bool))


def test_empty_mask():
    with pytest.raises(ValueError, match="mask is empty"):
        mr_robust(np.ones((4, 4)), np.zeros((4, 4), bool))


def test_nan_volume():
    vol = np.ones((4, 4))
    vol[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mr_robust(vol)
