"""Lesion contrast: known values on hand-made images, and one test per raise."""

import pytest
import torch

from medgen_nb.metrics.lesion import lesion_contrast, lesion_ring, retained_contrast


def _square_lesion(size=12):
    lesion = torch.zeros(1, 1, size, size)
    lesion[..., 4:7, 4:7] = 1
    return lesion


def test_ring_is_the_band_around_the_lesion():
    ring = lesion_ring(_square_lesion(), ring_px=1)
    assert int(ring.sum()) == 5 * 5 - 3 * 3  # the 1-pixel band of a 3x3 square
    assert not (ring & (_square_lesion() > 0)).any()


def test_ring_stays_inside_the_mask():
    mask = torch.ones(1, 1, 12, 12)
    mask[..., :, :5] = 0
    ring = lesion_ring(_square_lesion(), ring_px=2, mask=mask)
    assert ring[..., :, :5].sum() == 0 and ring.sum() > 0


def test_contrast_and_retained_contrast_have_known_values():
    lesion = _square_lesion()
    target = 0.2 + 0.6 * lesion  # lesion 0.8 on tissue 0.2: contrast 0.6
    erased = torch.full_like(target, 0.2)
    halved = 0.2 + 0.3 * lesion
    assert lesion_contrast(target, lesion).item() == pytest.approx(0.6)
    assert retained_contrast(erased, target, lesion=lesion).item() == pytest.approx(0.0)
    assert retained_contrast(halved, target, lesion=lesion).item() == pytest.approx(0.5)
    both = torch.cat([erased, halved])
    per_image = retained_contrast(
        both, target.expand_as(both), lesion=lesion.expand_as(both), reduction="none"
    )
    assert per_image.tolist() == pytest.approx([0.0, 0.5])
    assert float(
        retained_contrast(both, target.expand_as(both), lesion=lesion.expand_as(both))
    ) == pytest.approx(0.25)


def test_retained_contrast_takes_the_lesion_by_keyword():
    lesion = _square_lesion()
    with pytest.raises(TypeError, match="positional"):
        retained_contrast(lesion, lesion, lesion)


def test_rejects_bad_ring_px():
    with pytest.raises(ValueError, match="ring_px"):
        lesion_ring(_square_lesion(), ring_px=0)


def test_rejects_lesion_of_wrong_rank():
    with pytest.raises(ValueError, match="lesion must have shape"):
        lesion_ring(torch.zeros(12, 12))


def test_rejects_mask_of_wrong_shape():
    with pytest.raises(ValueError, match="mask must have"):
        lesion_ring(_square_lesion(), mask=torch.ones(1, 1, 6, 6))


def test_rejects_images_of_wrong_shape():
    with pytest.raises(ValueError, match="same shape"):
        lesion_contrast(torch.zeros(1, 1, 6, 6), _square_lesion())


def test_rejects_slice_without_lesion():
    with pytest.raises(ValueError, match="no lesion pixel"):
        lesion_contrast(torch.zeros(1, 1, 12, 12), torch.zeros(1, 1, 12, 12))
