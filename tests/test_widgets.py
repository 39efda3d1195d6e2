"""Widgets are driven headlessly: changing a control must change what is displayed."""

import numpy as np
import pytest

from medgen_nb.data.intensity import ct_window
from medgen_nb.widgets import Explorer, SliceViewer


def _volumes():
    rng = np.random.default_rng(0)
    x, y, z = np.meshgrid(np.arange(20), np.arange(24), np.arange(16), indexing="ij")
    return {
        "ct": (x / 19.0).astype(np.float32),
        "t1w": rng.random((20, 24, 16)).astype(np.float32),
        "z": (z / 15.0).astype(np.float32),
    }


def test_slice_viewer_slice_slider_changes_image():
    viewer = SliceViewer(_volumes(), {"ct": ct_window()})
    viewer.controls["modality"].value = "z"
    before = viewer.image.value
    viewer.controls["index"].value = 3
    assert viewer.image.value != before
    shown = viewer.current_image(**viewer.values())
    np.testing.assert_allclose(shown, np.full_like(shown, 3 / 15), atol=1e-6)


def test_slice_viewer_plane_change_resizes_slider_and_image():
    viewer = SliceViewer(_volumes())
    viewer.controls["plane"].value = "sagittal"
    assert viewer.controls["index"].max == 19
    assert viewer.current_image(**viewer.values()).shape == (16, 24)  # rot90 of (Y, Z)


def test_slice_viewer_window_level_clips():
    viewer = SliceViewer(_volumes())
    viewer.controls["modality"].value = "ct"
    viewer.controls["plane"].value = "axial"
    viewer.controls["window"].value = 0.2
    viewer.controls["level"].value = 0.5
    img = viewer.current_image(**viewer.values())
    assert img.min() == 0.0 and img.max() == 1.0  # values outside [0.4, 0.6] saturate


def test_slice_viewer_shows_physical_units():
    viewer = SliceViewer(_volumes(), {"ct": ct_window()})
    assert viewer._physical("ct", 0.0) == "-1000 HU"


def test_slice_viewer_rejects_mismatched_volumes():
    with pytest.raises(ValueError, match="share one grid"):
        SliceViewer({"a": np.zeros((4, 4, 4)), "b": np.zeros((4, 4, 5))})


def test_explorer_shows_errors_instead_of_raising():
    import ipywidgets as w

    from medgen_nb.viz import image_grid

    def render(n):
        if n > 3:
            raise ValueError("n too large")
        return image_grid(np.zeros((n, 1, 4, 4)))

    ex = Explorer(render, {"n": w.IntSlider(value=1, min=1, max=5)})
    assert ex.renders == 1
    ex.controls["n"].value = 5
    assert "too large" in ex.status.value and ex.renders == 1
    ex.controls["n"].value = 2
    assert ex.status.value == "" and ex.renders == 2
