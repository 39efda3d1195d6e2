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
* **cortical veins**: a network of thin curves in the subarachnoid CSF over the convexity, where
  the zero level set of a smooth random field (~25 mm correlation length, drawn per subject) cuts
  the CSF layer under the inner table, as superficial cerebral veins run over the sulci towards
  the superior sagittal sinus;
* **basal arteries**: the middle cerebral arteries (M1 from the carotid terminus at MNI x +-12,
  y 2, z -14 mm out through the Sylvian fissure to x +-44, y 4, z 0 mm; 1.5 mm radius), the
  basilar artery (x 0, y -28 to -18, z -36 to -12 mm) and the internal carotid arteries rising
  from the neck (x +-22, y 8, z -72 mm) to the terminus (2.5 mm radius);
* **skull-base veins and the pituitary**: the sigmoid sinuses from the transverse-sigmoid junction
  (x +-44, y -66, z -14 mm) down to the jugular bulb (x +-38, y -36, z -44 mm) and on down the
  internal jugular veins (x +-34, y -30, z -72 mm), 3 mm radius; the cavernous sinuses beside the
  sella (x +-15, y 0, z -28 mm, 5 mm radius); the pituitary gland (x 0, y 2, z -32 mm, 4 mm
  radius), which has no blood-brain barrier and enhances avidly. Positions after standard anatomy
  (approx.; Osborn, *Diagnostic Cerebral Angiography*, 1999);
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
import torch
import torch.nn.functional as F
from scipy import ndimage

from medgen_nb.data.brain_anatomy import T

# Gadolinium concentration of each structure relative to blood (approximate, see the module doc).
CONCENTRATION_RATIO: dict[str, float] = {
    "dura": 0.4,
    "sagittal_sinus": 1.0,
    "transverse_sinus": 1.0,
    "straight_sinus": 1.0,
    "choroid_plexus": 0.6,
    "cortical_veins": 1.0,
    "arteries": 1.0,
    "skull_base_veins": 1.0,
    "pituitary": 0.7,
}
SOFT_TISSUE_RATIO = 0.15  # scalp and muscle, v_e ~ 0.1-0.2 of plasma (approx.)
_DURA_MM = 1.0  # dural thickness (approx.)
_ICV = ("csf", "gm", "wm", "necrosis", "enhancing", "oedema", "wm_lesion")
_VEIN_CORRELATION_MM = 25.0  # spacing of the random field whose zero set draws the veins (approx.)
_VEIN_HALF_WIDTH = 0.2  # |field| / sd below which a voxel holds vein (sets the vein calibre)
# (start, end) MNI mm of the basal arteries drawn as tubes, and their radius (approx.).
_ARTERIES_MM = (
    ((-12.0, 2.0, -14.0), (-44.0, 4.0, 0.0)),  # left middle cerebral artery
    ((12.0, 2.0, -14.0), (44.0, 4.0, 0.0)),  # right middle cerebral artery
    ((0.0, -28.0, -36.0), (0.0, -18.0, -12.0)),  # basilar artery
)
_ARTERY_RADIUS_MM = 1.5
_CAROTIDS_MM = tuple(((s * 22.0, 8.0, -72.0), (s * 12.0, 2.0, -14.0)) for s in (-1.0, 1.0))
_CAROTID_RADIUS_MM = 2.5
# Sigmoid sinus -> jugular bulb -> internal jugular vein, each side (segments, MNI mm).
_JUGULAR_MM = tuple(
    seg
    for s in (-1.0, 1.0)
    for seg in (
        ((s * 44.0, -66.0, -14.0), (s * 38.0, -36.0, -44.0)),
        ((s * 38.0, -36.0, -44.0), (s * 34.0, -30.0, -72.0)),
    )
)
_JUGULAR_RADIUS_MM = 3.0
_CAVERNOUS_MM = ((-15.0, 0.0, -28.0), (15.0, 0.0, -28.0))
_CAVERNOUS_RADIUS_MM = 5.0
_PITUITARY_MM, _PITUITARY_RADIUS_MM = (0.0, 2.0, -32.0), 4.0


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


def _tube(affine, shape, p0, p1, radius_mm: float) -> tuple[tuple[slice, ...], np.ndarray]:
    """Share (0-1) of each voxel inside a straight tube from ``p0`` to ``p1`` (MNI mm), computed
    in the tube's bounding box only: ``(box slices, share within the box)``."""
    spacing = float(affine[0, 0])
    p0, p1 = np.asarray(p0, np.float32), np.asarray(p1, np.float32)
    margin = radius_mm + spacing
    box = _box(affine, shape, np.minimum(p0, p1) - margin, np.maximum(p0, p1) + margin)
    x, y, z = _world_mm(shape, affine)
    x, y, z = x[box[0]], y[:, box[1]], z[:, :, box[2]]
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    axis = axis / length if length > 0 else np.array([1.0, 0.0, 0.0], np.float32)  # a ball
    d = (x - p0[0], y - p0[1], z - p0[2])
    t = np.clip(d[0] * axis[0] + d[1] * axis[1] + d[2] * axis[2], 0.0, length)
    dist = np.sqrt(sum((d[i] - t * axis[i]) ** 2 for i in range(3)))
    # Linear partial-volume edge one voxel wide around the tube wall.
    return box, np.clip(0.5 + (radius_mm - dist) / spacing, 0.0, 1.0).astype(np.float32)


def _vein_field(shape: tuple[int, ...], spacing: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth zero-mean random field with unit sd and ~``_VEIN_CORRELATION_MM`` correlation."""
    n_ctrl = [max(3, round(n * spacing / _VEIN_CORRELATION_MM)) for n in shape]
    coarse = torch.from_numpy(rng.standard_normal((1, 1, *n_ctrl)).astype(np.float32))
    field = F.interpolate(coarse, size=tuple(shape), mode="trilinear", align_corners=True)[0, 0]
    field = field.numpy()
    return field / max(float(field.std()), 1e-6)


def enhancing_structures(
    frac: np.ndarray, affine: np.ndarray, rng: np.random.Generator | None = None
) -> EnhancingStructures:
    """Shares of dura, sinuses, choroid plexus, cortical veins and basal arteries from the
    fractions ``(K, X, Y, Z)``.

    ``affine`` is the voxel -> MNI mm affine of the grid (diagonal, as in
    :func:`medgen_nb.data.brain_anatomy.grid_affine`). ``rng`` draws the subject's cortical-vein
    pattern (None: a fixed pattern, seed 0).
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

    # Cortical veins: where the zero set of a smooth random field meets the CSF under the inner
    # table (a thin surface), the intersection is a network of curves; only CSF holds them.
    field = _vein_field(shape, spacing, rng if rng is not None else np.random.default_rng(0))
    surface_csf = band & (frac[T["csf"]] > 0.2) & (z > -20.0)
    vein = np.clip(1.0 - np.abs(field) / _VEIN_HALF_WIDTH, 0.0, 1.0)
    # A vein fills most of the sulcal CSF it runs in (calibre 2-4 mm vs. a 2 mm voxel).
    share = vein * np.minimum(1.0, 2.0 * frac[T["csf"]])
    maps["cortical_veins"] = np.where(surface_csf, share, 0.0).astype(np.float32)
    body = frac[T["air"]] < 0.5  # the neck vessels run outside the intracranial volume
    vessels = (
        *(("arteries", p0, p1, _ARTERY_RADIUS_MM, inside) for p0, p1 in _ARTERIES_MM),
        *(("arteries", p0, p1, _CAROTID_RADIUS_MM, body) for p0, p1 in _CAROTIDS_MM),
        *(("skull_base_veins", p0, p1, _JUGULAR_RADIUS_MM, body) for p0, p1 in _JUGULAR_MM),
        *(("skull_base_veins", c, c, _CAVERNOUS_RADIUS_MM, inside) for c in _CAVERNOUS_MM),
        ("pituitary", _PITUITARY_MM, _PITUITARY_MM, _PITUITARY_RADIUS_MM, inside),
    )
    for name, p0, p1, radius, where in vessels:
        box, tube = _tube(affine, shape, p0, p1, radius)
        maps[name][box] = np.maximum(maps[name][box], np.where(where[box], tube, 0.0))

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
    # A structure's share of a voxel holds its own concentration instead of the tissue's.
    covered = structures.share.sum(0)
    c[structures.index] = (
        c[structures.index] * (1.0 - covered)
        + np.maximum(
            c[structures.index],
            blood_mM * (ratios[:, None] * structures.share).sum(0) / np.maximum(covered, 1e-6),
        )
        * covered
    )
    return c.reshape(structures.shape).astype(np.float32)
