"""Anatomy of the simulated brain phantom: a crisp MNI anatomy, subject variation, partial volumes.

The template is built once from real files of the source registry (then cached on disk):

* ICBM152 2009a GM and WM probability maps and the (skull-stripped) T1 template give the
  intracranial volume (ICV) and the brain. The population maps are blurrier than one brain, so they
  are unsharp-masked and cut into **hard labels** at 1 mm: CSF takes the lowest-brain-share 10 % of
  the ICV plus a 1 mm subarachnoid rim (young adults: CSF about 10 % of the ICV; 11.4 % averaged
  over ages 24-80, Matsumae et al. 1996, J Neurosurg 84:982), the rest is WM where the sharpened
  WM map exceeds the GM map, else GM. Thick central CSF is labelled ventricle.
* The FSL MNI152 2 mm T1 (full head, same MNI space, another grid: the NIfTI affines map both onto
  one world grid) gives the head, the skull (dark in T1 between brain and scalp) and the scalp.

A subject (:func:`subject_fractions`) is that label map aged (ventricles enlarged, cortex thinned,
see :func:`age_anatomy`), warped (smooth deformation, affine change and a head-size scale) and
sampled ``n x n x n`` times per output voxel: the fractions are the true partial volumes of a crisp
anatomy. All maps are a ``(K, X, Y, Z)`` float32 array over :data:`TISSUES` summing to 1 per voxel,
on a RAS grid covering MNI x -90..90, y -126..90, z -72..108 mm. Lesions
(:mod:`medgen_nb.data.brain_lesions`) are written into the fractions afterwards, so every imaging
modality sees exactly the same lesion geometry.
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

ORIGIN_1MM = np.array([-90.0, -126.0, -72.0])  # world position (mm) of voxel (0, 0, 0) at 1 mm
_ORIGIN_1MM = ORIGIN_1MM  # v1 name
_SHAPE_1MM = (181, 217, 181)
_HEAD_T1 = 1500.0  # FSL MNI152 T1 value above which a voxel is head (background reads ~400)
_BONE_T1 = 2600.0  # skull reads 800-2500 between brain (~3000-7000) and scalp fat (~5000-7000)
_SINUS_T1 = 1000.0  # air cavities inside the head read like background
_TEMPLATE_VERSION = 2  # bump when the template construction changes
_UNSHARP_GAIN, _UNSHARP_SIGMA_MM = 3.0, 1.5  # p + g (p - G_sigma p): undoes part of the averaging
_CSF_SHARE = 0.10  # CSF share of the ICV in the young-adult template (Matsumae et al. 1996)
_VENTRICLE = 7  # label code of ventricular CSF in the 1 mm label map (counted as "csf")
_N_CODES = 8  # label codes 0-6 are TISSUES[0:7], 7 is ventricular CSF
_TEMPLATE_AGE = (
    25.0  # ICBM152: 152 young adults, 18-44 y (Mazziotta et al. 2001, Phil Trans B 356:1293)
)
_MAX_VENTRICLE_FACTOR = 4.0  # ventricle growth candidates are stored for up to 4x the volume
_MAX_THINNING_MM = 2.0  # cortical thinning candidates are stored up to 2 mm deep


def grid_shape(resolution_mm: float) -> tuple[int, int, int]:
    """Voxels per axis of the phantom grid at ``resolution_mm`` (1 mm blocks averaged, edge-padded)."""
    factor = int(resolution_mm)
    return tuple(-(-n // factor) for n in _SHAPE_1MM)  # type: ignore[return-value]


def grid_affine(resolution_mm: float) -> np.ndarray:
    """4x4 voxel -> MNI world (mm) affine of the phantom grid at ``resolution_mm`` (RAS)."""
    affine = np.eye(4)
    affine[:3, :3] *= resolution_mm
    # A block of r x r x r voxels at 1 mm has its centre (r - 1) / 2 mm inside the block.
    affine[:3, 3] = ORIGIN_1MM + (resolution_mm - 1.0) / 2.0
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


def _unsharp(p: np.ndarray) -> np.ndarray:
    return p + _UNSHARP_GAIN * (p - ndimage.gaussian_filter(p, _UNSHARP_SIGMA_MM))


def _ventricles(csf: np.ndarray, depth_mm: np.ndarray) -> np.ndarray:
    """Ventricular CSF: thick (survives a 2-voxel opening) CSF > 10 mm inside the ICV, in blobs of
    > 2 mL, without the midline fissure above the third ventricle or the cisterns below z -40 mm."""
    x_mm = np.arange(_SHAPE_1MM[0])[:, None, None] + ORIGIN_1MM[0]
    z_mm = np.arange(_SHAPE_1MM[2])[None, None, :] + ORIGIN_1MM[2]
    deep = csf & (depth_mm > 10.0) & ~((np.abs(x_mm) < 3) & (z_mm > 12)) & (z_mm > -40)
    cross = ndimage.generate_binary_structure(3, 1)
    thick = ndimage.binary_opening(deep, cross, iterations=2)
    blobs, n = ndimage.label(thick)
    sizes = ndimage.sum(thick, blobs, np.arange(1, n + 1))
    keep = np.isin(blobs, 1 + np.flatnonzero(sizes > 2000))
    return ndimage.binary_dilation(keep, cross, iterations=2) & deep


def _growth_order(candidates: np.ndarray, dist_mm: np.ndarray, rng, max_mm: float):
    """Flat indices of ``candidates`` sorted by distance (jittered by U(0, 1) voxel to break ties
    and roughen the front), and the sorted keys (mm), for keys < ``max_mm``."""
    key = dist_mm - 1.0 + rng.random(dist_mm.shape, dtype=np.float32)
    idx = np.flatnonzero(candidates & (key < max_mm))
    order = np.argsort(key.ravel()[idx], kind="stable")
    return idx[order].astype(np.int32), key.ravel()[idx][order].astype(np.float32)


def _build_template_1mm() -> dict[str, np.ndarray]:
    """Hard labels ``(181, 217, 181)`` uint8 (codes: TISSUES 0-6, 7 ventricle), the real 2009a T1
    (0-255) and the aging orders (see :func:`age_anatomy`), all on the 1 mm grid."""
    aff = grid_affine(1.0)
    gm = _resample("mni152_2009a_gm", aff, _SHAPE_1MM) / 255.0
    wm = _resample("mni152_2009a_wm", aff, _SHAPE_1MM) / 255.0
    t1_mni = _resample("mni152_2009a_t1", aff, _SHAPE_1MM)
    t1_head = _resample("fsl_mni152_t1_2mm", aff, _SHAPE_1MM)

    # Intracranial volume: the skull-stripped 2009a template covers brain and CSF.
    icv = ndimage.binary_fill_holes(
        ndimage.binary_closing((t1_mni > 5) | (gm + wm > 0.3), iterations=2)
    )
    depth = ndimage.distance_transform_edt(icv)  # mm inside the ICV at 1 mm spacing
    brain_share = _unsharp((gm + wm) * icv)
    rim = icv & (depth <= 1.0)  # subarachnoid CSF between cortex and skull
    target = int(_CSF_SHARE * icv.sum()) - int(rim.sum())
    tau = np.partition(brain_share[icv & ~rim], target)[target]
    csf = rim | (icv & (brain_share < tau))
    white = icv & ~csf & (_unsharp(wm) > _unsharp(gm))
    vent = _ventricles(csf, depth)

    head = _largest_component(t1_head > _HEAD_T1)
    head = ndimage.binary_fill_holes(ndimage.binary_closing(head, iterations=3)) | icv
    dist_to_icv = ndimage.distance_transform_edt(~icv)  # mm at 1 mm spacing
    outside = head & ~icv
    skull = outside & (dist_to_icv <= 12.0) & (t1_head < _BONE_T1)
    skull = ndimage.binary_closing(skull, iterations=1) & outside
    skull = ndimage.binary_opening(skull, iterations=1)  # drop isolated dark specks
    sinus = outside & ~skull & (t1_head < _SINUS_T1)
    cancellous = ndimage.binary_erosion(skull, iterations=1)  # diploe between two cortical tables

    labels = np.full(_SHAPE_1MM, T["air"], np.uint8)
    labels[outside & ~skull & ~sinus] = T["soft_tissue"]
    labels[skull] = T["cortical_bone"]
    labels[cancellous] = T["cancellous_bone"]
    labels[icv] = T["gm"]
    labels[white] = T["wm"]
    labels[csf] = T["csf"]
    labels[vent] = _VENTRICLE

    rng = np.random.default_rng(20090)  # fixed: the template is the same on every machine
    brain = (labels == T["gm"]) | (labels == T["wm"])
    to_outer_csf = ndimage.distance_transform_edt(~((labels == T["csf"]) | ~icv))
    to_ventricle = ndimage.distance_transform_edt(~vent)
    thin_idx, thin_key = _growth_order(labels == T["gm"], to_outer_csf, rng, _MAX_THINNING_MM)
    # Ventricles grow into WM and deep GM, never within 3 mm of the cortical CSF.
    vent_idx, vent_key = _growth_order(brain & (to_outer_csf > 3.0), to_ventricle, rng, 25.0)
    vent_idx = vent_idx[: int((_MAX_VENTRICLE_FACTOR - 1) * vent.sum())]
    return {
        "labels": labels,
        "mni_t1": t1_mni,
        "thin_index": thin_idx,
        "thin_key_mm": thin_key,
        "ventricle_index": vent_idx,
        "ventricle_voxels": np.array(int(vent.sum())),
    }


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


def _codes_to_fractions(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(8, ...)`` label-code shares -> ``(K, ...)`` fractions and the ventricle share."""
    frac = np.zeros((len(TISSUES), *counts.shape[1:]), np.float32)
    frac[: _N_CODES - 1] = counts[: _N_CODES - 1]
    frac[T["csf"]] += counts[_VENTRICLE]
    return frac, counts[_VENTRICLE].astype(np.float32)


@dataclass(frozen=True)
class Template:
    """The template at one output resolution.

    ``fractions`` ``(K, X, Y, Z)``: partial volumes of the unwarped labels; ``mni_t1``: the real
    MNI T1 (0-255) on that grid; ``labels_1mm`` ``(181, 217, 181)`` uint8 hard labels (codes 0-6 =
    TISSUES[0:7], 7 = ventricular CSF); ``thin_index``/``thin_key_mm`` and ``ventricle_index``: the
    1 mm voxels that cortical thinning and ventricle growth take, in order (:func:`age_anatomy`).
    """

    fractions: np.ndarray
    mni_t1: np.ndarray
    affine: np.ndarray
    labels_1mm: np.ndarray | None = None
    thin_index: np.ndarray | None = None
    thin_key_mm: np.ndarray | None = None
    ventricle_index: np.ndarray | None = None
    ventricle_voxels: int = 0

    @property
    def spacing_mm(self) -> float:
        return float(self.affine[0, 0])


_TEMPLATES: dict[float, Template] = {}
_STORED = ("labels", "mni_t1", "thin_index", "thin_key_mm", "ventricle_index", "ventricle_voxels")


def load_template(resolution_mm: float) -> Template:
    """The template at ``resolution_mm`` (1.0 or 2.0): built once (~20 s), then cached on disk.

    The disk copy lives in ``cache_dir("brain_phantom", "template-...")``; a corrupt copy is
    reported with a warning and rebuilt.
    """
    if resolution_mm not in (1.0, 2.0):
        raise ValueError(f"resolution_mm must be one of (1.0, 2.0), got {resolution_mm!r}")
    if resolution_mm in _TEMPLATES:
        return _TEMPLATES[resolution_mm]
    path = cache_dir("brain_phantom", f"template-v{_TEMPLATE_VERSION}") / f"{resolution_mm:g}mm.npz"
    stored = None
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                stored = {k: z[k] for k in _STORED}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            warnings.warn(f"corrupt template cache {path} ({err}); rebuilding it", stacklevel=2)
    if stored is None:
        stored = _build_template_1mm()
        stored["mni_t1"] = _block_mean(stored["mni_t1"], int(resolution_mm)).astype(np.float16)
        with atomic_write(path) as fh:
            np.savez_compressed(fh, **stored)
    labels = stored["labels"].astype(np.uint8)
    factor = int(resolution_mm)
    # One code at a time: a stack of all eight 1 mm masks would hold ~230 MB at once.
    shares = [_block_mean((labels == c).astype(np.float32), factor) for c in range(_N_CODES)]
    frac, _ = _codes_to_fractions(np.stack(shares))
    _TEMPLATES[resolution_mm] = Template(
        frac / frac.sum(0, keepdims=True),
        stored["mni_t1"].astype(np.float32),
        grid_affine(resolution_mm),
        labels,
        stored["thin_index"].astype(np.int64),
        stored["thin_key_mm"].astype(np.float32),
        stored["ventricle_index"].astype(np.int64),
        int(stored["ventricle_voxels"]),
    )
    return _TEMPLATES[resolution_mm]


def age_anatomy(template: Template, ventricle_factor: float, thinning_mm: float) -> np.ndarray:
    """The 1 mm label map with ventricles ``ventricle_factor`` times their volume and the cortex
    ``thinning_mm`` thinner (the GM it loses becomes CSF, so sulci widen by both banks).

    Ventricles take the nearest WM and deep GM first (ex-vacuo enlargement); thinning takes the GM
    nearest the cortical CSF. Both are exact volume steps of the stored orders; returns a copy.
    """
    labels = template.labels_1mm.copy()
    flat = labels.reshape(-1)
    n_vent = int(round((ventricle_factor - 1.0) * template.ventricle_voxels))
    flat[template.ventricle_index[: max(n_vent, 0)]] = _VENTRICLE
    n_thin = int(np.searchsorted(template.thin_key_mm, thinning_mm))
    thin = template.thin_index[:n_thin]
    flat[thin[flat[thin] == T["gm"]]] = T["csf"]
    return labels


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], n_ctrl: int, channels: int):
    """``(channels, *shape)`` smooth random field: unit Gaussian control points, trilinear upsampled."""
    ctrl = torch.from_numpy(rng.standard_normal((1, channels, n_ctrl, n_ctrl, n_ctrl)))
    return F.interpolate(ctrl.float(), size=shape, mode="trilinear", align_corners=True)[0]


def _rotation(angles_rad: np.ndarray) -> np.ndarray:
    cx, cy, cz = np.cos(angles_rad)
    sx, sy, sz = np.sin(angles_rad)
    return (
        np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        @ np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    )


def partial_volume_sample(
    labels_1mm: np.ndarray,
    affine_out: np.ndarray,
    shape_out: tuple[int, int, int],
    matrix: np.ndarray,
    shift_mm: np.ndarray,
    displacement_mm: torch.Tensor,
    samples_per_axis: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Partial-volume fractions of warped hard labels on an output grid.

    Each output voxel centre ``x`` (world mm) maps to ``c + M (x - c) + shift + d(x)`` in the
    template (``c`` the grid centre, ``M`` = ``matrix``, ``d`` the smooth ``(3, X, Y, Z)``
    displacement); ``samples_per_axis``^3 points spread evenly over the voxel (mapped with ``M``;
    ``d`` varies on a ~30 mm scale, so it is taken constant within a voxel) read the nearest 1 mm
    label, and the fractions are the shares of each code. Returns ``(fractions (K, X, Y, Z),
    ventricle share (X, Y, Z))``.
    """
    sp = float(affine_out[0, 0])
    axes = [
        torch.arange(n, dtype=torch.float32) * sp + float(affine_out[i, 3])
        for i, n in enumerate(shape_out)
    ]
    x = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)  # (X, Y, Z, 3) world mm
    centre = torch.tensor([float(a[(len(a) - 1) // 2] + a[len(a) // 2]) / 2 for a in axes])
    m = torch.from_numpy(np.asarray(matrix, np.float32))
    src = (x - centre) @ m.T + centre + torch.from_numpy(np.asarray(shift_mm, np.float32))
    src = src + displacement_mm.permute(1, 2, 3, 0) - torch.from_numpy(ORIGIN_1MM).float()
    del x
    n = samples_per_axis
    ticks = (torch.arange(n, dtype=torch.float32) + 0.5) / n - 0.5  # sub-voxel offsets / spacing
    offsets = torch.stack(torch.meshgrid(ticks, ticks, ticks, indexing="ij"), -1).reshape(-1, 3)
    offsets = offsets * sp @ m.T  # (n^3, 3) mm in the template
    flat_labels = torch.from_numpy(labels_1mm.reshape(-1))
    dims = torch.tensor(labels_1mm.shape)
    stride = torch.tensor([dims[1] * dims[2], dims[2], 1])
    counts = torch.zeros(_N_CODES, src[..., 0].numel())
    ones = torch.ones(1, src[..., 0].numel())
    for off in offsets:
        vox = (src + off).round_().long()
        vox = torch.minimum(vox.clamp_(min=0), dims - 1)  # outside: the nearest edge voxel
        code = flat_labels[(vox * stride).sum(-1).reshape(-1)].long()
        counts.scatter_add_(0, code[None], ones)
    counts = (counts / len(offsets)).reshape(_N_CODES, *shape_out).numpy()
    return _codes_to_fractions(counts)


def subject_fractions(
    template: Template,
    rng: np.random.Generator,
    *,
    deformation_mm: float,
    rotation_deg: float,
    scale_jitter: float,
    translation_mm: float,
    head_scale_sd: float,
    age_range_years: tuple[float, float],
    ventricle_growth_per_year: float,
    ventricle_factor_sd: float,
    cortical_thinning_mm_per_year: float,
    samples_per_axis: int,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """One subject's healthy anatomy: aged, warped, partial-volume sampled template labels.

    Draws (always all of them, in this order, so changing one range keeps the others): rotations
    U(+-``rotation_deg``) per axis, per-axis scales ``1 + U(+-scale_jitter)``, translations
    U(+-``translation_mm``), a head-size scale ``1 + N(0, head_scale_sd)`` (clipped to 3 sd), an
    age U(``age_range_years``), an individual ventricle factor ``exp(N(0, ventricle_factor_sd))``,
    and the smooth displacement (sd ``deformation_mm`` per axis, control points ~30 mm apart).
    Years past the template age (25) enlarge the ventricles by ``exp(growth * years)`` and thin the
    cortex by ``cortical_thinning_mm_per_year * years``.

    Returns ``(fractions (K, X, Y, Z), ventricle share (X, Y, Z), meta)``.
    """
    shape = template.fractions.shape[1:]
    sp = template.spacing_mm
    angles = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg, 3))
    scales = 1.0 + rng.uniform(-scale_jitter, scale_jitter, 3)
    shift = rng.uniform(-translation_mm, translation_mm, 3)
    head_scale = 1.0 + head_scale_sd * float(np.clip(rng.standard_normal(), -3.0, 3.0))
    age = float(rng.uniform(*age_range_years))
    individual = float(rng.standard_normal())
    n_ctrl = max(4, round(max(shape) * sp / 30.0))
    ctrl = torch.from_numpy(rng.standard_normal((1, 3, n_ctrl, n_ctrl, n_ctrl))).float()
    disp = F.interpolate(ctrl, size=shape, mode="trilinear", align_corners=True)[0]

    years = max(age - _TEMPLATE_AGE, 0.0)
    ventricle_factor = float(
        np.clip(
            np.exp(ventricle_growth_per_year * years + ventricle_factor_sd * individual),
            1.0,
            _MAX_VENTRICLE_FACTOR,
        )
    )
    thinning = cortical_thinning_mm_per_year * years
    labels = age_anatomy(template, ventricle_factor, thinning)
    # A bigger head (scale > 1) reads the template at points closer to the centre.
    matrix = _rotation(angles) @ np.diag(scales) / head_scale
    frac, ventricles = partial_volume_sample(
        labels, template.affine, shape, matrix, shift, disp * deformation_mm, samples_per_axis
    )
    meta = {
        "rotation_deg": np.rad2deg(angles).round(3).tolist(),
        "scale": scales.round(4).tolist(),
        "translation_mm": shift.round(3).tolist(),
        "head_scale": round(head_scale, 4),
        "age_years": round(age, 1),
        "ventricle_factor": round(ventricle_factor, 3),
        "cortical_thinning_mm": round(thinning, 3),
    }
    return frac, ventricles, meta


def warp_fractions(
    fractions: np.ndarray,
    spacing_mm: float,
    rng: np.random.Generator,
    deformation_mm: float,
    rotation_deg: float,
    scale_jitter: float,
    translation_mm: float,
) -> tuple[np.ndarray, dict]:
    """v1 warp: trilinear resampling of fractions under a random affine + smooth deformation.

    Kept for callers of v1; subjects now use :func:`subject_fractions` (crisp partial volumes).
    Returns ``(fractions, params)`` with the drawn affine parameters.
    """
    shape = fractions.shape[1:]
    angles = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg, 3))
    scales = 1.0 + rng.uniform(-scale_jitter, scale_jitter, 3)
    shift = rng.uniform(-translation_mm, translation_mm, 3)
    matrix = torch.from_numpy(_rotation(angles) @ np.diag(scales)).float()
    n_ctrl = max(4, round(max(shape) * spacing_mm / 30.0))
    disp = smooth_noise(rng, shape, n_ctrl, 3) * deformation_mm  # (3, X, Y, Z) mm
    axes = [torch.arange(n, dtype=torch.float32) for n in shape]
    centre = torch.tensor([(n - 1) / 2 for n in shape])
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)  # (X, Y, Z, 3) voxel indices
    src = (grid - centre) * spacing_mm @ matrix.T + torch.from_numpy(shift).float()
    src_vox = (src + disp.permute(1, 2, 3, 0)) / spacing_mm + centre
    norm = (src_vox / (centre * 2) * 2 - 1).flip(-1)  # grid_sample: (Z, Y, X), align_corners
    vol = torch.from_numpy(fractions)[None]
    out = F.grid_sample(vol, norm[None], mode="bilinear", padding_mode="border", align_corners=True)
    params = {
        "rotation_deg": np.rad2deg(angles).round(3).tolist(),
        "scale": scales.round(4).tolist(),
        "translation_mm": shift.round(3).tolist(),
    }
    return out[0].numpy(), params


def tissue_labels(frac: np.ndarray) -> np.ndarray:
    """``(X, Y, Z)`` uint8 tissue labels (see :data:`TISSUE_LABELS`) from healthy fractions.

    Call it before lesions are added: the tissue a lesion grows in keeps its label.
    """
    groups = np.stack(
        [
            frac[T["air"]],
            frac[T["csf"]],
            frac[T["gm"]],
            frac[T["wm"]],
            frac[T["cortical_bone"]] + frac[T["cancellous_bone"]],
            frac[T["soft_tissue"]],
        ]
    )
    return groups.argmax(0).astype(np.uint8)


def lesion_labels(frac: np.ndarray) -> np.ndarray:
    """``(X, Y, Z)`` uint8 lesion labels (see :data:`LESION_LABELS`): the largest lesion compartment
    where lesion compartments make up at least half of the voxel, else 0."""
    order = ["necrosis", "oedema", "enhancing", "wm_lesion"]  # BraTS-style values 1..4
    les = np.stack([frac[T[name]] for name in order])
    return np.where(les.sum(0) >= 0.5, les.argmax(0) + 1, 0).astype(np.uint8)
