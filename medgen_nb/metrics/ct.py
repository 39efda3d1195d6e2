"""CT-aware translation error: MAE in Hounsfield units overall, in bone and in soft tissue.

Synthetic-CT papers (review Section 4, MR->CT and CBCT->CT) report MAE in HU, often split by
tissue because bone errors dominate dose calculation. Tissue classes are defined on the *target*
(reference) CT, by HU thresholds that are arguments, not constants hidden in the code:

* bone: target HU >= ``bone_hu`` (default 250 HU; cortical bone is ~700-1900 HU)
* soft tissue: ``soft_tissue_hu[0] <= target HU <= soft_tissue_hu[1]`` (default -100 to 100 HU)
"""

from __future__ import annotations

import torch

from medgen_nb.data.intensity import IntensityMap
from medgen_nb.metrics._checks import (
    ArrayLike,
    Reduction,
    check_images,
    check_mask,
    check_reduction,
    check_unit_range,
)

CT_REGIONS: tuple[str, ...] = ("all", "bone", "soft_tissue")
# An HU target spanning more than this (a CT slice spans ~1000-3000 HU) cannot be compared with
# predictions that vary within [-1, 1]: those are normalised intensities, not HU.
HU_SPAN_OF_A_CT = 100.0


def to_hu(
    preds: ArrayLike, target: ArrayLike, *, intensity: IntensityMap | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(preds, target)`` in HU: inverted through ``intensity``, or checked to be HU.

    Without ``intensity`` both sides must already be in HU: a target in [0, 1] is refused, and so
    are predictions that vary only within [-1, 1] (normalised intensities) against a target
    spanning more than :data:`HU_SPAN_OF_A_CT` HU. A constant prediction (e.g. 0 HU everywhere,
    a water baseline) is allowed.
    """
    p, t = check_images(preds, target)
    if intensity is not None:
        if not isinstance(intensity, IntensityMap) or intensity.unit != "HU":
            raise ValueError(
                f"intensity must be a CT IntensityMap in HU (medgen_nb.data.intensity.ct_window()),"
                f" got {intensity!r}"
            )
        check_unit_range(p, "preds")
        check_unit_range(t, "target")
        return intensity.inverse(p), intensity.inverse(t)
    if float(t.min()) >= 0.0 and float(t.max()) <= 1.0:
        raise ValueError(
            "target lies in [0, 1], which looks like a windowed image, not HU; pass "
            "intensity=ct_window() (the map the images were made with) to convert to HU"
        )
    p_lo, p_hi = float(p.min()), float(p.max())
    t_span = float(t.max() - t.min())
    if -1.0 <= p_lo < p_hi <= 1.0 and t_span > HU_SPAN_OF_A_CT:
        raise ValueError(
            f"preds lie in [{p_lo:.3g}, {p_hi:.3g}], which looks like normalised intensities, "
            f"while target spans {t_span:.4g} HU: both sides must be in one unit (see "
            "medgen_nb.metrics.ct.to_hu). Pass both in [0, 1] with intensity=ct_window(), or "
            "convert preds to HU first with ct_window().inverse(preds)"
        )
    return p, t


def ct_mae_hu(
    preds: ArrayLike,
    target: ArrayLike,
    *,
    intensity: IntensityMap | None = None,
    mask: ArrayLike | None = None,
    bone_hu: float = 250.0,
    soft_tissue_hu: tuple[float, float] = (-100.0, 100.0),
    reduction: Reduction = "mean",
) -> dict[str, torch.Tensor]:
    """MAE in HU per image over the body (``"all"``), bone and soft tissue.

    Args:
        preds, target: ``(B, 1, H, W)`` CT images, both in HU, or both in [0, 1] together with
            ``intensity`` (e.g. ``ct_window()``; HU outside its window were clipped when the images
            were made, so errors there are underestimated). Mixed units are refused (:func:`to_hu`).
        intensity: the IntensityMap that mapped HU to [0, 1], or None if the inputs are HU.
        mask: optional body mask; tissue regions are intersected with it.
        bone_hu, soft_tissue_hu: HU thresholds of the tissue classes, applied to ``target``.
        reduction: ``"mean"`` (the default of every paired metric) -> 0-d per region, the mean
            over the images that contain the region; ``"none"`` -> ``(B,)`` per region.
    Returns:
        ``{"all", "bone", "soft_tissue"}`` -> HU. With ``"none"``, an image without bone (or soft
        tissue) gets NaN for that region, so average with ``torch.nanmean``.
    """
    check_reduction(reduction)
    if soft_tissue_hu[0] >= soft_tissue_hu[1]:
        raise ValueError(
            f"soft_tissue_hu must be (low, high) with low < high, got {soft_tissue_hu}"
        )
    p, t = to_hu(preds, target, intensity=intensity)
    m = check_mask(mask, p.shape)
    body = torch.ones_like(t, dtype=torch.bool) if m is None else m
    regions = {
        "all": body,
        "bone": body & (t >= bone_hu),
        "soft_tissue": body & (t >= soft_tissue_hu[0]) & (t <= soft_tissue_hu[1]),
    }
    err = (p - t).abs()
    out = {}
    for name, region in regions.items():
        r = region.to(err.dtype)
        count = r.flatten(1).sum(1)
        per_image = (err * r).flatten(1).sum(1) / count  # 0/0 = NaN where the region is absent
        out[name] = torch.nanmean(per_image) if reduction == "mean" else per_image
    return out
