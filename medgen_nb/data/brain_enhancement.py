"""Where gadolinium goes in a normal head: vessels, dural sinuses, dura, choroid plexus, soft tissue.

The fraction maps (:data:`medgen_nb.data.brain_anatomy.TISSUES`) have no vessel or dura
compartments, so the enhancing structures are drawn geometrically from the subject's own
(warped) fractions and the MNI grid:

* **dura**: a ~1 mm shell at the inner table (the outermost layer of the intracranial volume);
* **superior sagittal sinus**: a ~4 mm band under the inner table along the midline from the frontal
  base over the vertex to the torcular (above MNI z = -5 mm); the midline is found per coronal row
  as the left-right centroid of the intracranial volume, so it follows the subject's rotation;
* **transverse sinuses**: a band under the occipital inner table at the tentorium level
  (MNI y < -60 mm, z -10 +- 4 mm);
* **straight sinus**: a 2.5 mm radius tube on the midline from the vein of Galen (MNI y -52,
  z +8 mm) down to the torcular (y -88, z -12 mm);
* **choroid plexus**: the CSF within 8 mm of the glomus in each lateral-ventricle trigone
  (MNI x +-28, y -42, z +14 mm; approximate positions);
* **scalp and muscle** (the ``soft_tissue`` compartment) take up a little everywhere.

The intact blood-brain barrier keeps gadolinium out of normal grey and white matter. Each structure
has a share of its voxels (0-1); gadolinium acts on all compartments of that share (fast exchange).

Concentrations relative to blood (approximate). Blood: a 0.1 mmol/kg dose in ~0.045 L/kg plasma is
~2 mM before it leaves the vessels and ~0.5 mM once spread over the ~0.2 L/kg extracellular space;
plasma then clears with a half-life of ~1.5 h (Weinmann et al., AJR 142:619-624, 1984), so ~1 mM
blood a few minutes after injection (the default ``gd_blood_mM``). Tissue concentration is about
``v_e * C_plasma`` (Tofts & Kermode, MRM 17:357-367, 1991) with extracellular volume fractions
``v_e`` ~ 0.1-0.2 for muscle and skin, higher for the leaky dura and the fenestrated, highly
vascular choroid plexus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medgen_nb.data.brain_anatomy import T

# Gadolinium concentration of each structure relative to blood (approximate, see the module doc).
CONCENTRATION_RATIO: dict[str, float] = {
    "dura": 0.4,
    "sagittal_sinus": 1.0,
    "transverse_sinus": 1.0,
    "straight_sinus": 1.0,
    "choroid_plexus": 0.6,
}
SOFT_TISSUE_RATIO = 0.15  # scalp and muscle, v_e ~ 0.1-0.2 of plasma (approx.)
_DURA_MM = 1.0  # dural thickness (approx.)
_ICV = ("csf", "gm", "wm", "necrosis", "enhancing", "oedema", "wm_lesion")


@dataclass(frozen=True)
class EnhancingStructures:
    """Voxel shares of the enhancing structures, sparse: ``index`` ``(n,)`` flat voxel indices of
    the grid ``shape`` and ``share`` ``(S, n)`` float32 in [0, 1], S = len(:data:`CONCENTRATION_RATIO`),
    summing to at most 1 per voxel."""

    shape: tuple[int, int, int]
    index: np.ndarray
    share: np.ndarray

    def dense(self, name: str) -> np.ndarray:
        """The share map ``(X, Y, Z)`` float32 of one structure."""
        out = np.zeros(int(np.prod(self.shape)), np.float32)
        out[self.index] = self.share[list(CONCENTRATION_RATIO).index(name)]
        return out.reshape(self.shape)


def _world_mm(shape: tuple[int, ...], affine: np.ndarray) -> list[np.ndarray]:
    """World (MNI) coordinates per axis, broadcastable: x ``(X,1,1)``, y ``(1,Y,1)``, z ``(1,1,Z)``."""
    out = []
    for axis, n in enumerate(shape):
        c = affine[axis, axis] * np.arange(n) + affine[axis, 3]
        out.append(c.reshape([n if a == axis else 1 for a in range(3)]).astype(np.float32))
    return out


def _box(affine: np.ndarray, shape: tuple[int, ...], lo_mm, hi_mm) -> tuple[slice, ...]:
    """Index slices of the grid voxels whose MNI coordinates lie within ``[lo_mm, hi_mm]``."""
    out = []
    for axis, n in enumerate(shape):
        a, b = (np.array([lo_mm[axis], hi_mm[axis]]) - affine[axis, 3]) / affine[axis, axis]
        out.append(slice(int(np.clip(np.floor(a), 0, n)), int(np.clip(np.ceil(b) + 1, 0, n))))
    return tuple(out)


def enhancing_structures(frac: np.ndarray, affine: np.ndarray) -> EnhancingStructures:
    """Shares of dura, dural sinuses and choroid plexus from the fractions ``(K, X, Y, Z)``.

    ``affine`` is the voxel -> MNI mm affine of the grid (diagonal, as in
    :func:`medgen_nb.data.brain_anatomy.grid_affine`).
    """
    shape = frac.shape[1:]
    spacing = float(affine[0, 0])
    outside = frac[T["air"]] + frac[T["cortical_bone"]] + frac[T["cancellous_bone"]]
    icv = 1.0 - outside - frac[T["soft_tissue"]]  # (X, Y, Z) intracranial fraction
    inside = icv > 0.5
    x, y, z = _world_mm(shape, affine)
    # Midline: left-right centroid of the intracranial volume per (y, z) row.
    weight = icv.sum(0)
    x_mid = np.where(
        weight > 0, np.tensordot(x[:, 0, 0], icv, (0, 0)) / np.maximum(weight, 1e-6), 0
    )
    x_mid = x_mid[None].astype(np.float32)  # (1, Y, Z)

    eroded = ndimage.binary_erosion(inside)
    shell = inside & ~eroded
    for _ in range(max(1, round(4.0 / spacing)) - 1):
        eroded = ndimage.binary_erosion(eroded)
    band = inside & ~eroded
    maps = {name: np.zeros(shape, np.float32) for name in CONCENTRATION_RATIO}
    maps["dura"][shell] = min(1.0, _DURA_MM / spacing)
    off_mid = np.abs(x - x_mid)
    maps["sagittal_sinus"][band & (off_mid <= 4.0) & (z > -5.0)] = 0.8
    sl = _box(affine, shape, (-80, -130, -14), (80, -60, -6))
    tube = band[sl] & (off_mid[sl] <= 60.0)
    maps["transverse_sinus"][sl][tube] = 0.8
    p0, p1 = np.array([-52.0, 8.0]), np.array([-88.0, -12.0])  # (y, z) of the straight sinus ends
    sl = _box(affine, shape, (-20, -92, -16), (20, -48, 12))
    length = np.linalg.norm(p1 - p0)
    axis = (p1 - p0) / length
    ys, zs = y[:, sl[1]] - p0[0], z[:, :, sl[2]] - p0[1]
    t = np.clip(ys * axis[0] + zs * axis[1], 0, length)
    dist2 = off_mid[sl] ** 2 + (ys - t * axis[0]) ** 2 + (zs - t * axis[1]) ** 2
    maps["straight_sinus"][sl][inside[sl] & (dist2 <= 2.5**2 + (spacing / 2) ** 2)] = 0.8
    for side in (-1.0, 1.0):
        centre = np.array([side * 28.0, -42.0, 14.0])
        sl = _box(affine, shape, centre - 8, centre + 8)
        r2 = (x[sl[0]] - centre[0]) ** 2 + (y[:, sl[1]] - centre[1]) ** 2
        r2 = r2 + (z[:, :, sl[2]] - centre[2]) ** 2
        maps["choroid_plexus"][sl] = np.where(r2 <= 8.0**2, 0.6 * frac[T["csf"]][sl], 0.0)

    total = sum(maps.values())
    index = np.flatnonzero(total.reshape(-1) > 0)
    norm = np.maximum(total.reshape(-1)[index], 1.0)  # overlapping structures share a voxel once
    share = np.stack([m.reshape(-1)[index] / norm for m in maps.values()]).astype(np.float32)
    return EnhancingStructures(tuple(shape), index, share)


def gadolinium_map(
    frac: np.ndarray, structures: EnhancingStructures, blood_mM: float, tumour_mM: float
) -> np.ndarray:
    """Voxel-average gadolinium concentration ``(X, Y, Z)`` float32 in mM (for display and tests):
    structures at their ratio of ``blood_mM``, soft tissue, and the enhancing tumour rim."""
    c = frac[T["soft_tissue"]] * (SOFT_TISSUE_RATIO * blood_mM) + frac[T["enhancing"]] * tumour_mM
    c = c.reshape(-1)
    ratios = np.array(list(CONCENTRATION_RATIO.values()), np.float32)
    c[structures.index] += blood_mM * (ratios @ structures.share)
    return c.reshape(structures.shape).astype(np.float32)
