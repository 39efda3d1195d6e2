"""Phantom v1 next to phantom v2: the stored v1 slices of one subject, and the same v2 slices.

The simulators changed in version 2 (acquisition physics, misaligned pairs, scanner sites). To let a
learner see what changed, the package ships one axial slice per modality of brain subject 0 and
chest subject 0 as simulated by v1 (``assets/phantom_v1_reference.npz``, uint8, [0, 255]); the v1
code itself is not kept. :func:`reference_slices` cuts the same slices from a subject simulated
now, so the two can be shown side by side (:func:`medgen_nb.viz.version_comparison`).

Both are **simulated** images; neither claims clinical realism.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medgen_nb.data.slices import Subject

V1_REFERENCE = Path(__file__).resolve().parent.parent / "assets" / "phantom_v1_reference.npz"
REGIONS: tuple[str, ...] = ("brain", "chest")
# Which axial slice each region's reference holds, relative to the volume's middle slice. The brain
# slice sits 10 mm above the middle at the default 2 mm grid (through the lateral ventricles).
BRAIN_ABOVE_MIDDLE_MM = 10.0


def load_v1_reference() -> dict[str, dict[str, np.ndarray]]:
    """The stored v1 slices: region -> modality -> ``(X, Y)`` float32 in [0, 1]."""
    if not V1_REFERENCE.is_file():
        raise FileNotFoundError(
            f"{V1_REFERENCE} is missing; reinstall medgen_nb (the file ships inside the package)"
        )
    out: dict[str, dict[str, np.ndarray]] = {r: {} for r in REGIONS}
    with np.load(V1_REFERENCE) as f:
        for key in f.files:
            region, modality = key.split("_", 1)
            if region not in out:
                raise ValueError(f"{V1_REFERENCE}: unexpected entry {key!r}")
            out[region][modality] = f[key].astype(np.float32) / 255.0
    return out


def axial_index(subject: Subject, region: str) -> int:
    """The axial slice of ``subject`` that the stored v1 reference of ``region`` shows."""
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
    n_z = next(iter(subject.images.values())).shape[2]
    if region == "chest":
        return n_z // 2
    return min(n_z - 1, n_z // 2 + round(BRAIN_ABOVE_MIDDLE_MM / subject.spacing_mm[2]))


def reference_slices(subject: Subject, region: str) -> dict[str, np.ndarray]:
    """``subject``'s axial slice at :func:`axial_index`, per modality: ``(X, Y)`` float32 in [0, 1]."""
    z = axial_index(subject, region)
    return {
        name: np.asarray(vol[:, :, z], dtype=np.float32) for name, vol in subject.images.items()
    }
