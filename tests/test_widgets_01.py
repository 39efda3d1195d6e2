"""Notebook 01's metric response explorer, driven headlessly: each control changes what is shown."""

import math

import pytest
import torch

from medgen_nb import metrics as M
from medgen_nb.widgets import MetricResponseExplorer, metric_response_explorer
from medgen_nb.widgets.metrics import failure_level


def _head(size: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    """A textured disk on zero background, (H, W) in [0, 1], and its mask (a stand-in head)."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    mask = (x - size / 2 + 0.5) ** 2 + (y - size / 2 + 0.5) ** 2 < (0.4 * size) ** 2
    texture = 0.4 + 0.3 * torch.sin(x / 2.0) * torch.cos(y / 3.0)  # in [0.1, 0.7]
    return torch.where(mask, texture, torch.zeros(())), mask


@pytest.fixture
def explorer():
    target, mask = _head()
    return metric_response_explorer(target, mask, seed=0)


def _set(ex, **values):
    for name, value in values.items():
        ex.controls[name].value = value
    return dict(ex.scores)


def test_stronger_noise_lowers_the_displayed_psnr(explorer):
    psnrs, pngs = [], []
    for strength in (0.1, 0.4, 0.8):
        psnrs.append(_set(explorer, kind="noise", strength=strength)["psnr"])
        pngs.append(explorer.image.value)
    assert psnrs[0] > psnrs[1] > psnrs[2]
    assert len(set(pngs)) == 3
    assert f"{psnrs[-1]:.2f}" in explorer.status.value  # the table under the controls


def test_scores_are_the_package_metrics_of_the_shown_image(explorer):
    scores = _set(explorer, kind="blur", strength=0.5, masked=True, data_range="fixed")
    expected = M.apply_failure(explorer.target, "blur", 2.0, seed=0)
    torch.testing.assert_close(explorer.degraded, expected)
    m = explorer.mask
    assert scores["mae"] == pytest.approx(float(M.mae(expected, explorer.target, mask=m)))
    assert scores["rmse"] == pytest.approx(float(M.rmse(expected, explorer.target, mask=m)))
    assert scores["psnr"] == pytest.approx(
        float(M.psnr(expected, explorer.target, data_range=1.0, mask=m))
    )
    assert scores["ssim"] == pytest.approx(
        float(M.ssim(expected, explorer.target, data_range=1.0, mask=m))
    )


def test_each_kind_shows_a_different_failure(explorer):
    shown = {}
    for kind in ("noise", "blur", "shift", "scale"):
        _set(explorer, kind=kind, strength=0.5)
        shown[kind] = (explorer.image.value, explorer.degraded.clone())
    assert len({png for png, _ in shown.values()}) == 4
    torch.testing.assert_close(shown["shift"][1], torch.roll(explorer.target, 2, dims=-1))
    torch.testing.assert_close(shown["scale"][1], explorer.target * 0.75)


def test_scaling_keeps_ssim_higher_than_noise_of_similar_mae(explorer):
    # SSIM forgives a brightness change that MAE counts in full (review Table 5 discussion).
    scale = _set(explorer, kind="scale", strength=0.2)
    noise = _set(explorer, kind="noise", strength=0.3)
    assert scale["ssim"] > noise["ssim"]


def test_mask_toggle_changes_the_numbers(explorer):
    masked = _set(explorer, kind="shift", strength=0.5, masked=True)
    whole = _set(explorer, masked=False)
    # A shift only errs on the disk; averaging over the zero background dilutes the error.
    assert masked["mae"] > whole["mae"] and masked["psnr"] < whole["psnr"]
    assert whole["mae"] == pytest.approx(float(M.mae(explorer.degraded, explorer.target)))


def test_data_range_changes_psnr_but_not_mae(explorer):
    fixed = _set(explorer, kind="noise", strength=0.3, data_range="fixed")
    png = explorer.image.value
    own = _set(explorer, data_range="per-image")
    width = float(explorer.target.max() - explorer.target.min())
    assert own["mae"] == fixed["mae"] and own["rmse"] == fixed["rmse"]
    # PSNR = 20 log10(L / RMSE): changing L from 1 to the image's width shifts it by 20 log10(width)
    assert own["psnr"] - fixed["psnr"] == pytest.approx(20 * math.log10(width))
    assert explorer.image.value != png


def test_image_dropdown_switches_the_target_and_its_own_range():
    target, mask = _head()
    dim = target * 0.5  # like a PET slice that fills half of its fixed SUV window
    ex = metric_response_explorer({"T1w": target, "PET": dim}, mask)
    fixed = _set(ex, image="PET", kind="noise", strength=0.3, data_range="fixed")
    torch.testing.assert_close(ex.target[0, 0], dim.double())
    png = ex.image.value
    own = _set(ex, data_range="per-image")
    assert own["psnr"] - fixed["psnr"] == pytest.approx(20 * math.log10(float(dim.max())))
    assert own["mae"] == fixed["mae"] and ex.image.value != png
    _set(ex, image="T1w")
    torch.testing.assert_close(ex.target[0, 0], target.double())


def test_zero_strength_is_a_perfect_score(explorer):
    scores = _set(explorer, kind="blur", strength=0.0)
    assert (
        scores["mae"] == 0.0 and math.isinf(scores["psnr"]) and scores["ssim"] == pytest.approx(1)
    )


def test_failure_level_maps_strength_to_units():
    assert failure_level("noise", 0.5) == pytest.approx(0.1)
    assert failure_level("blur", 0.25) == pytest.approx(1.0)
    assert failure_level("shift", 0.3) == 1.0
    assert failure_level("scale", 1.0) == pytest.approx(0.5)


def test_failure_level_rejects_unknown_kind():
    with pytest.raises(
        ValueError, match=r"kind must be one of \('noise', 'blur', 'shift', 'scale'\)"
    ):
        failure_level("warp", 0.5)


def test_failure_level_rejects_strength_outside_unit_interval():
    with pytest.raises(ValueError, match=r"strength must be in \[0, 1\], got 1.5"):
        failure_level("noise", 1.5)


def test_rejects_a_batch_as_target():
    target, mask = _head()
    with pytest.raises(ValueError, match=r"target 'target' must be one slice"):
        MetricResponseExplorer(torch.stack([target, target])[:, None], mask)


def test_rejects_empty_mapping():
    _, mask = _head()
    with pytest.raises(ValueError, match="at least one slice, got an empty mapping"):
        MetricResponseExplorer({}, mask)


def test_rejects_slices_on_different_grids():
    target, mask = _head()
    with pytest.raises(ValueError, match="share one grid"):
        MetricResponseExplorer({"a": target, "b": target[:20, :20]}, mask)


def test_rejects_mask_of_other_shape():
    target, mask = _head()
    with pytest.raises(ValueError, match=r"mask must have the target's shape \(40, 40\)"):
        MetricResponseExplorer(target, mask[:20])


def test_rejects_empty_mask():
    target, mask = _head()
    with pytest.raises(ValueError, match="mask is empty"):
        MetricResponseExplorer(target, torch.zeros_like(mask))


def test_rejects_target_outside_unit_range():
    target, mask = _head()
    with pytest.raises(ValueError, match=r"target 'target' must lie in \[0, 1\]"):
        MetricResponseExplorer(target * 2, mask)


def test_rejects_unknown_data_range_choice(explorer):
    with pytest.raises(ValueError, match=r"data_range must be one of \('fixed', 'per-image'\)"):
        explorer.data_range("max")
