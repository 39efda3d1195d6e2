"""Anatomy of the simulated brain phantom: real MNI tissue maps, subject warps and lesions.

The template is built once per resolution from real files of the source registry:

* ICBM152 2009a GM and WM probability maps and the (skull-stripped) T1 template give grey matter,
  white matter and the intracranial volume; CSF is what the intracranial volume leaves over.
* The FSL MNI152 2 mm T1 (full head, same MNI space, but another grid: the NIfTI affines map both
  onto one world grid) gives the head, the skull (dark in T1 between brain and scalp) and the scalp.

All maps are partial-volume **fractions**: a ``(K, X, Y, Z)`` float32 array over :data:`TISSUES`
that sums to 1 in every voxel, on a RAS grid covering MNI x -90..90, y -126..90, z -72..108 mm.
Subjects are the template under a seeded smooth deformation plus a small affine change, with
optional glioma-like tumours and small white-matter lesions written into the fractions, so every
imaging modality later sees exactly the same lesion geometry.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from medgen_nb.data.sources import fetch
from medgen_nb.utils import atomic_write, cache_dir

# Compartments of the fraction maps (one channel each, in this order).
TISSUES: tuple[str, ...] = (
    "air",
    "csf",
    "gm",
    "wm",
    "cortical_bone",
    "cancellous_bone",
    "soft_tissue",  # scalp: skin, fat and muscle
    "necrosis",
    "enhancing",
    "oedema",
    "wm_lesion",
)
T = {name: k for k, name in enumerate(TISSUES)}
# "tissue" label map values: 0 background, 1 CSF, 2 GM, 3 WM, 4 skull (bone), 5 scalp/soft tissue.
TISSUE_LABELS: dict[str, int] = {
    "background": 0,
    "csf": 1,
    "gm": 2,
    "wm": 3,
    "skull": 4,
    "scalp": 5,
}
# "lesion" label map values, BraTS 2023 style plus small white-matter lesions.
LESION_LABELS: dict[str, int] = {
    "none": 0,
    "necrosis": 1,
    "oedema": 2,
    "enhancing": 3,
    "wm_lesion": 4,
}

_ORIGIN_1MM = np.array([-90.0, -126.0, -72.0])  # world position (mm) of voxel (0, 0, 0) at 1 mm
_SHAPE_1MM = (181, 217, 181)
_HEAD_T1 = 1500.0  # FSL MNI152 T1 value above which a voxel is head (background reads ~400)
_BONE_T1 = 2600.0  # skull reads 800-2500 between brain (~3000-7000) and scalp fat (~5000-7000)
_SINUS_T1 = 1000.0  # air cavities inside the head read like background
_TEMPLATE_VERSION = 1  # bump when the template construction changes
_SHARPEN = 2.0  # exponent that sharpens the CSF/GM/WM shares of the population maps


def grid_affine(resolution_mm: float) -> np.ndarray:
    """4x4 voxel -> MNI world (mm) affine of the phantom grid at ``resolution_mm`` (RAS)."""
    affine = np.eye(4)
    affine[:3, :3] *= resolution_mm
    # A block of r x r x r voxels at 1 mm has its centre (r - 1) / 2 mm inside the block.
    affine[:3, 3] = _ORIGIN_1MM + (resolution_mm - 1.0) / 2.0
    return affine


def _resample(name: str, affine_out: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Read a registered NIfTI and resample it (trilinear) onto a grid given by its affine."""
    img = nib.load(str(fetch(name)))
    data = np.asarray(img.dataobj, dtype=np.float32)
    out_to_in = np.linalg.inv(img.affine) @ affine_out  # world coordinates link the two grids
    return ndimage.affine_transform(
        data, out_to_in[:3, :3], out_to_in[:3, 3], output_shape=shape, order=1, cval=0.0
    )


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = ndimage.sum(mask, labels, index=np.arange(1, n + 1))
    return labels == (1 + int(np.argmax(sizes)))


def _build_template_1mm() -> tuple[np.ndarray, np.ndarray]:
    """Fractions ``(K, 181, 217, 181)`` at 1 mm and the real 2009a T1 on the same grid (0-255)."""
    aff = grid_affine(1.0)
    gm = _resample("mni152_2009a_gm", aff, _SHAPE_1MM) / 255.0
    wm = _resample("mni152_2009a_wm", aff, _SHAPE_1MM) / 255.0
    t1_mni = _resample("mni152_2009a_t1", aff, _SHAPE_1MM)
    t1_head = _resample("fsl_mni152_t1_2mm", aff, _SHAPE_1MM)

    # Intracranial volume: the skull-stripped 2009a template covers brain and CSF.
    icv_bin = ndimage.binary_fill_holes(
        ndimage.binary_closing((t1_mni > 5) | (gm + wm > 0.3), iterations=2)
    )
    icv = np.maximum(ndimage.gaussian_filter(icv_bin.astype(np.float32), 0.5), gm + wm).clip(0, 1)
    excess = gm + wm > icv
    scale = np.where(excess, icv / np.maximum(gm + wm, 1e-6), 1.0)
    gm, wm = gm * scale, wm * scale
    csf = (icv - gm - wm).clip(0, 1)
    # The population-average maps are blurrier than one brain; squaring and renormalising the
    # within-brain shares (a soft "argmax") gives an individual-like cortex with pure GM voxels.
    sharp = np.stack([csf, gm, wm]) ** _SHARPEN
    csf, gm, wm = sharp / np.maximum(sharp.sum(0), 1e-6) * icv

    head = _largest_component(t1_head > _HEAD_T1)
    head = ndimage.binary_fill_holes(ndimage.binary_closing(head, iterations=3)) | icv_bin
    dist_to_icv = ndimage.distance_transform_edt(~icv_bin)  # mm at 1 mm spacing
    outside = head & ~icv_bin
    skull = outside & (dist_to_icv <= 12.0) & (t1_head < _BONE_T1)
    skull = ndimage.binary_closing(skull, iterations=1) & outside
    skull = ndimage.binary_opening(skull, iterations=1)  # drop isolated dark specks
    sinus = outside & ~skull & (t1_head < _SINUS_T1)
    cancellous = ndimage.binary_erosion(skull, iterations=1)  # diploe between two cortical tables
    cortical = skull & ~cancellous
    soft = outside & ~skull & ~sinus
    air = ~head | sinus

    # Non-brain compartments share what the intracranial volume leaves, with ~1 mm soft edges.
    rest = np.stack([air, cortical, cancellous, soft]).astype(np.float32)
    rest = np.stack([ndimage.gaussian_filter(r, 0.5) for r in rest])
    rest /= np.maximum(rest.sum(0, keepdims=True), 1e-6)
    rest *= 1.0 - icv
    frac = np.zeros((len(TISSUES), *_SHAPE_1MM), np.float32)
    frac[T["air"]], frac[T["cortical_bone"]], frac[T["cancellous_bone"]] = rest[:3]
    frac[T["soft_tissue"]] = rest[3]
    frac[T["csf"]], frac[T["gm"]], frac[T["wm"]] = csf, gm, wm
    frac[T["air"]] += (1.0 - frac.sum(0)).clip(min=0)
    return frac, t1_mni


def _block_mean(vol: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor``^3 blocks of the last three axes (edge-padded to a multiple)."""
    if factor == 1:
        return vol
    pad = [(0, 0)] * (vol.ndim - 3) + [(0, (-s) % factor) for s in vol.shape[-3:]]
    vol = np.pad(vol, pad, mode="edge")
    t = torch.from_numpy(np.ascontiguousarray(vol, dtype=np.float32))
    lead = t.shape[:-3]
    t = F.avg_pool3d(t.reshape(-1, 1, *t.shape[-3:]), factor)
    return t.reshape(*lead, *t.shape[-3:]).numpy()


@dataclass(frozen=True)
class Template:
    """Tissue fractions ``(K, X, Y, Z)`` of the population average and the real MNI T1 (0-255)."""

    fractions: np.ndarray
    mni_t1: np.ndarray
    affine: np.ndarray

    @property
    def spacing_mm(self) -> float:
        return float(self.affine[0, 0])


_TEMPLATES: dict[float, Template] = {}


def load_template(resolution_mm: float) -> Template:
    """The template at ``resolution_mm`` (1.0 or 2.0): built once (~10-20 s), then cached on disk.

    The disk copy (float16 fractions) lives in ``cache_dir("brain_phantom", "template-...")``; a
    corrupt copy is reported with a warning and rebuilt.
    """
    if resolution_mm not in (1.0, 2.0):
        raise ValueError(f"resolution_mm must be one of (1.0, 2.0), got {resolution_mm!r}")
    if resolution_mm in _TEMPLATES:
        return _TEMPLATES[resolution_mm]
    path = cache_dir("brain_phantom", f"template-v{_TEMPLATE_VERSION}") / f"{resolution_mm:g}mm.npz"
    frac = t1 = None
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                frac, t1 = z["fractions"].astype(np.float32), z["mni_t1"].astype(np.float32)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            warnings.warn(f"corrupt template cache {path} ({err}); rebuilding it", stacklevel=2)
            frac = None
    if frac is None:
        frac, t1 = _build_template_1mm()
        factor = int(resolution_mm)
        frac, t1 = _block_mean(frac, factor), _block_mean(t1, factor)
        with atomic_write(path) as fh:
            np.savez_compressed(fh, fractions=frac.astype(np.float16), mni_t1=t1.astype(np.float16))
        # Use the stored (float16) values now too, so a cold and a warm cache give equal subjects.
        frac, t1 = (
            frac.astype(np.float16).astype(np.float32),
            t1.astype(np.float16).astype(np.float32),
        )
    frac /= frac.sum(0, keepdims=True)
    _TEMPLATES[resolution_mm] = Template(frac, t1, grid_affine(resolution_mm))
    return _TEMPLATES[resolution_mm]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], n_ctrl: int, channels: int):
    """``(channels, *shape)`` smooth random field: unit Gaussian control points, cubic-ish upsampled."""
    ctrl = torch.from_numpy(rng.standard_normal((1, channels, n_ctrl, n_ctrl, n_ctrl)))
    return F.interpolate(ctrl.float(), size=shape, mode="trilinear", align_corners=True)[0]


def warp_fractions(
    fractions: np.ndarray,
    spacing_mm: float,
    rng: np.random.Generator,
    deformation_mm: float,
    rotation_deg: float,
    scale_jitter: float,
    translation_mm: float,
) -> tuple[np.ndarray, dict]:
    """Resample the template fractions under a random affine + smooth deformation.

    The smooth displacement has a standard deviation of ``deformation_mm`` per axis (control
    points ~30 mm apart); rotations are uniform within +-``rotation_deg`` about each axis, scales
    within ``1 +- scale_jitter``, translations within +-``translation_mm``. Trilinear resampling of
    fractions keeps them non-negative and summing to one.

    Returns ``(fractions, params)`` with the drawn affine parameters (for ``Subject.meta``).
    """
    shape = fractions.shape[1:]
    angles = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg, 3))
    scales = 1.0 + rng.uniform(-scale_jitter, scale_jitter, 3)
    shift = rng.uniform(-translation_mm, translation_mm, 3)
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rot = (
        np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        @ np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    )
    matrix = torch.from_numpy(rot @ np.diag(scales)).float()
    n_ctrl = max(4, round(max(shape) * spacing_mm / 30.0))
    disp = _smooth_noise(rng, shape, n_ctrl, 3) * deformation_mm  # (3, X, Y, Z) mm

    # Output voxel -> centred mm -> source mm = A p + t + d(p) -> source voxel -> [-1, 1].
    axes = [torch.arange(n, dtype=torch.float32) for n in shape]
    centre = torch.tensor([(n - 1) / 2 for n in shape])
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)  # (X, Y, Z, 3) voxel indices
    p = (grid - centre) * spacing_mm
    src = p @ matrix.T + torch.from_numpy(shift).float() + disp.permute(1, 2, 3, 0)
    src_vox = src / spacing_mm + centre
    norm = src_vox / (centre * 2) * 2 - 1  # align_corners=True convention
    norm = norm.flip(-1)  # grid_sample wants (W, H, D) = (Z, Y, X) order
    vol = torch.from_numpy(fractions)[None]
    out = F.grid_sample(vol, norm[None], mode="bilinear", padding_mode="border", align_corners=True)
    params = {
        "rotation_deg": np.rad2deg(angles).round(3).tolist(),
        "scale": scales.round(4).tolist(),
        "translation_mm": shift.round(3).tolist(),
    }
    return out[0].numpy(), params


def _replace_brain(frac: np.ndarray, weight: np.ndarray, tissue: str, sl: tuple) -> None:
    """Turn a share ``weight`` (0-1) of the GM and WM in region ``sl`` into ``tissue``, in place."""
    gm, wm = frac[T["gm"]][sl], frac[T["wm"]][sl]
    moved_gm, moved_wm = gm * weight, wm * weight
    frac[T["gm"]][sl] = gm - moved_gm
    frac[T["wm"]][sl] = wm - moved_wm
    frac[T[tissue]][sl] += moved_gm + moved_wm


def _region(centre: np.ndarray, radius_vox: float, shape: tuple[int, ...]) -> tuple:
    lo = np.maximum(np.floor(centre - radius_vox).astype(int), 0)
    hi = np.minimum(np.ceil(centre + radius_vox).astype(int) + 1, shape)
    return tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))


def _pick_centre(frac: np.ndarray, rng: np.random.Generator, min_wm: float, max_mm: float, spacing):
    """A random voxel with WM fraction >= ``min_wm`` within ``max_mm`` of the grid centre."""
    shape = np.array(frac.shape[1:])
    idx = np.argwhere(frac[T["wm"]] >= min_wm)
    near = np.linalg.norm((idx - (shape - 1) / 2) * spacing, axis=1) <= max_mm
    idx = idx[near] if near.any() else idx
    return idx[rng.integers(len(idx))].astype(float)


def add_glioma(frac: np.ndarray, spacing_mm: float, rng: np.random.Generator) -> dict:
    """Write a glioma-like tumour into the fractions (in place): necrotic core, enhancing rim, oedema.

    Shells are defined on an irregular radius (a smooth random modulation of +-20 %), centred in deep
    white matter. Oedema replaces GM and WM only (it spreads in tissue, not in CSF); the solid tumour
    and necrosis replace GM and WM as well. Radii in mm are returned for ``Subject.meta``.
    """
    centre = _pick_centre(frac, rng, 0.8, 45.0, spacing_mm)
    r_core = rng.uniform(3.0, 8.0)
    r_rim = r_core + rng.uniform(2.5, 5.0)
    r_oedema = r_rim + rng.uniform(6.0, 16.0)
    sl = _region(centre, 1.3 * r_oedema / spacing_mm, frac.shape[1:])
    sub = tuple(s.stop - s.start for s in sl)
    offs = np.array([s.start for s in sl], float)
    axes = [np.arange(n) + o - c for n, o, c in zip(sub, offs, centre, strict=True)]
    gx, gy, gz = np.meshgrid(*axes, indexing="ij")
    dist = np.sqrt(gx**2 + gy**2 + gz**2) * spacing_mm
    wobble = 1.0 + 0.2 * np.tanh(_smooth_noise(rng, sub, 4, 1)[0].numpy())
    d = dist / wobble

    # Soft shell edges over ~1 voxel give partial volumes like a real boundary would.
    def inside(r: float) -> np.ndarray:
        return np.clip((r - d) / spacing_mm + 0.5, 0.0, 1.0).astype(np.float32)

    in_core, in_rim, in_oedema = inside(r_core), inside(r_rim), inside(r_oedema)
    _replace_brain(frac, in_core, "necrosis", sl)
    rim = np.where(in_core < 1, (in_rim - in_core) / np.maximum(1 - in_core, 1e-6), 0)
    _replace_brain(frac, rim.astype(np.float32), "enhancing", sl)
    oed = (in_oedema - in_rim) / np.maximum(1 - in_rim, 1e-6)
    _replace_brain(frac, np.where(in_rim < 1, oed, 0).astype(np.float32), "oedema", sl)
    world = centre * spacing_mm + _ORIGIN_1MM + (spacing_mm - 1) / 2
    return {
        "glioma_centre_mm": world.round(2).tolist(),
        "glioma_radii_mm": [round(r_core, 2), round(r_rim, 2), round(r_oedema, 2)],
    }


def add_wm_lesions(frac: np.ndarray, spacing_mm: float, rng: np.random.Generator) -> int:
    """Write 3-10 small spherical white-matter lesions (radius 2-4.5 mm) in deep WM, in place."""
    n = int(rng.integers(3, 11))
    for _ in range(n):
        centre = _pick_centre(frac, rng, 0.9, 60.0, spacing_mm)
        radius = rng.uniform(2.0, 4.5)
        sl = _region(centre, radius / spacing_mm + 1, frac.shape[1:])
        axes = [np.arange(s.start, s.stop) - c for s, c in zip(sl, centre, strict=True)]
        gx, gy, gz = np.meshgrid(*axes, indexing="ij")
        d = np.sqrt(gx**2 + gy**2 + gz**2) * spacing_mm
        w = np.clip((radius - d) / spacing_mm + 0.5, 0.0, 1.0).astype(np.float32)
        _replace_brain(frac, w, "wm_lesion", sl)
    return n


def label_maps(healthy: np.ndarray, frac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(tissue, lesion)`` uint8 label maps from healthy and lesioned fractions (see module labels).

    ``tissue`` is the healthy anatomy (the tissue a lesion grows in keeps its label); ``lesion``
    marks voxels where lesion compartments make up at least half of the voxel.
    """
    groups = np.stack(
        [
            healthy[T["air"]],
            healthy[T["csf"]],
            healthy[T["gm"]],
            healthy[T["wm"]],
            healthy[T["cortical_bone"]] + healthy[T["cancellous_bone"]],
            healthy[T["soft_tissue"]],
        ]
    )
    tissue = groups.argmax(0).astype(np.uint8)
    order = ["necrosis", "oedema", "enhancing", "wm_lesion"]  # BraTS-style values 1..4
    les = np.stack([frac[T[name]] for name in order])
    lesion = np.where(les.sum(0) >= 0.5, les.argmax(0) + 1, 0).astype(np.uint8)
    return tissue, lesion
