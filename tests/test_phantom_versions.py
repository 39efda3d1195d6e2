"""The stored phantom v1 slices load, and v2 slices of the same subjects line up with them."""

from __future__ import annotations

import numpy as np
import pytest

from medgen_nb.data.brain_phantom import BRAIN_MODALITIES, simulate_brain_subject
from medgen_nb.data.chest_ct import CHEST_MODALITIES
from medgen_nb.data.phantom_versions import axial_index, load_v1_reference, reference_slices
from medgen_nb.viz import version_comparison


def test_v1_reference_holds_every_modality_in_unit_range():
    ref = load_v1_reference()
    assert set(ref["brain"]) == set(BRAIN_MODALITIES)
    assert set(ref["chest"]) == set(CHEST_MODALITIES)
    for region in ref.values():
        for image in region.values():
            assert image.dtype == np.float32 and 0.0 <= image.min() <= image.max() <= 1.0
            assert image.std() > 0.05  # an image, not a blank


def test_v2_brain_slices_match_v1_geometry_and_differ_in_content():
    ref = load_v1_reference()["brain"]
    subject = simulate_brain_subject(0)
    v2 = reference_slices(subject, "brain")
    assert axial_index(subject, "brain") == subject.images["t1w"].shape[2] // 2 + 5
    for name in ("t1w", "t2w", "ct"):
        assert v2[name].shape == ref[name].shape
        # Same subject, same anatomy: the head outlines overlap strongly ...
        a, b = ref[name] > 0.05, v2[name] > 0.05
        assert (a & b).sum() / (a | b).sum() > 0.6
    # ... while the simulation changed (v2 is not a copy of v1).
    assert np.abs(v2["t1ce"] - ref["t1ce"]).mean() > 0.005
    fig = version_comparison(ref, v2, ["t1w", "t1ce", "ct"])
    assert len(fig.axes) == 6


def test_bad_region_and_missing_modalities_are_refused():
    subject = simulate_brain_subject(0)
    with pytest.raises(ValueError, match="region"):
        axial_index(subject, "knee")
    with pytest.raises(ValueError, match="not present"):
        version_comparison({"t1w": np.zeros((4, 4))}, {"t2w": np.zeros((4, 4))})
