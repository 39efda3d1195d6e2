"""Shared pieces of the real-data loaders: intensity mapping, grid checks, splits, clear errors.

Every 3-D loader turns files into :class:`~medgen_nb.data.slices.Subject` objects through
:func:`make_subject`, so all real data follow the package rule (images in [0, 1], with the
:class:`~medgen_nb.data.intensity.IntensityMap` that inverts them: ``mr_robust`` for MR,
``ct_window`` for CT and CBCT, in HU) exactly as the simulated phantoms do.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from medgen_nb.data.checks import check_count, check_fractions, min_subjects
from medgen_nb.data.intensity import IntensityMap, ct_window, mr_robust
from medgen_nb.data.io import load_nifti
from medgen_nb.data.modalities import canonical_or_self
from medgen_nb.data.modalities import resolve as resolve_modality
from medgen_nb.data.slices import SliceDataset, Subject, UnpairedDataset, split_subjects
from medgen_nb.utils import cache_dir

Missing = Literal["error", "skip"]
MISSING_CHOICES: tuple[str, ...] = ("error", "skip")
ModalityKind = Literal["mr", "ct"]
MODALITY_KINDS: tuple[str, ...] = ("mr", "ct")
# Voxels within this distance (mm) count as the same grid: files written by different tools round.
_AFFINE_TOL_MM = 1e-2


class DataNotFoundError(ValueError):
    """A real data set is not on disk: the message says what is missing and how to get it."""


def default_root(name: str) -> Path:
    """Where ``data_scripts`` put data set ``name`` by default: ``cache_dir("realdata", name)``."""
    return cache_dir("realdata", name)


def not_found(dataset: str, root: Path, what: str, command: str) -> DataNotFoundError:
    """A :class:`DataNotFoundError` naming the folder, what was looked for and the fix."""
    return DataNotFoundError(
        f"{dataset} data not found in {root}: {what}.\n"
        f"Get them with:\n    {command}\n"
        f"or pass root= (the folder that holds them)."
    )


def modality_subset(modalities: str | Sequence[str], allowed: Sequence[str]) -> list[str]:
    """``modalities`` as the loader's own names (any alias works: ``"t1w"`` -> IXI's ``"t1"``),
    checked to be a non-empty subset of ``allowed``."""
    chosen = [modalities] if isinstance(modalities, str) else list(modalities)
    try:
        native = [resolve_modality(m, allowed) for m in chosen]
    except ValueError:
        native = []
    if not chosen or len(native) != len(chosen):
        raise ValueError(
            f"modalities must be a non-empty subset of {tuple(allowed)} (or their canonical names "
            f"{[canonical_or_self(a) for a in allowed]}), got {chosen}"
        )
    return native


def check_missing(missing: str) -> None:
    if missing not in MISSING_CHOICES:
        raise ValueError(f"missing must be one of {MISSING_CHOICES}, got {missing!r}")


def resolve_missing(
    dataset: str,
    found: dict[str, dict[str, Path]],
    wanted: Sequence[str],
    missing: str,
    describe: Callable[[str, str], str] | None = None,
) -> dict[str, dict[str, Path]]:
    """Keep subjects that have every ``wanted`` file; raise or warn (``missing``) about the others.

    ``describe(subject_id, key)`` names a lacking file in the message (default: the key itself).
    """
    check_missing(missing)
    complete, incomplete = {}, {}
    for sid, files in sorted(found.items()):
        lacking = [w if describe is None else describe(sid, w) for w in wanted if w not in files]
        if lacking:
            incomplete[sid] = lacking
        else:
            complete[sid] = {w: files[w] for w in wanted}
    if incomplete:
        listing = ", ".join(f"{s} (no {'/'.join(m)})" for s, m in list(incomplete.items())[:5])
        more = f" and {len(incomplete) - 5} more" if len(incomplete) > 5 else ""
        msg = f"{dataset}: {len(incomplete)} subject(s) lack a modality: {listing}{more}"
        if missing == "error":
            raise ValueError(f"{msg}. Pass missing='skip' to leave them out.")
        warnings.warn(f"{msg}; left out (missing='skip').", stacklevel=3)
    return complete


def first_n(found: dict[str, dict[str, Path]], subjects: int | None) -> dict[str, dict[str, Path]]:
    """The first ``subjects`` subjects in id order (all if None)."""
    check_count(subjects, "subjects", none_ok=True)
    keys = sorted(found)[:subjects]
    return {k: found[k] for k in keys}


def check_downsample(downsample: int) -> None:
    """Raise unless ``downsample`` (the integer shrink factor) is a positive int (not a bool)."""
    check_count(downsample, "downsample")


def downsample_volume(volume: np.ndarray, factor: int, label: bool = False) -> np.ndarray:
    """Shrink ``(X, Y, Z)`` by an integer ``factor``: block mean for images, stride for labels."""
    check_downsample(factor)
    if factor == 1:
        return volume
    if label:
        return volume[::factor, ::factor, ::factor]
    t = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None]
    return F.avg_pool3d(t, factor, ceil_mode=True)[0, 0].numpy()


def shrink_factor(shape: Sequence[int], downsample: int, fit_side: int | None) -> int:
    """``downsample``, or the largest integer factor keeping ``max(shape)`` >= ``fit_side`` if larger."""
    if fit_side is None:
        return downsample
    return max(downsample, max(shape) // fit_side)


def foreground_mask(volume: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Voxels brighter than ``fraction`` of the 99th percentile: a rough head/body mask for MR."""
    hi = float(np.percentile(volume, 99))
    lo = float(volume.min())
    return volume > lo + fraction * (hi - lo)


class GridMismatchError(ValueError):
    """Volumes of one subject are not on one voxel grid (shape or affine differ)."""


def read_volumes(
    subject_id: str,
    files: dict[str, Path],
    downsample: int = 1,
    labels: Sequence[str] = (),
    fit_side: int | None = None,
    resample_to: str | None = None,
) -> tuple[dict[str, np.ndarray], tuple[float, float, float]]:
    """Load files (RAS order), check they share one grid, shrink; returns volumes and mm spacing.

    ``resample_to`` names the file whose grid the others are resampled onto first (through the
    scanner coordinates of the NIfTI affines, see :func:`resample_onto`).

    The shrink factor is ``downsample``, or, if larger, the biggest integer factor that keeps the
    longest side at least ``fit_side`` (slices are resampled to that size later anyway, and a
    256^3 head at full size would not fit Binder's 2 GB for twenty subjects).

    Raises :class:`GridMismatchError` naming both files when shapes or affines differ (a pair that
    is not co-registered cannot be used for paired translation).
    """
    vols, affines = {}, {}
    for name, path in files.items():
        vols[name], affines[name] = load_nifti(path)
    ref = next(iter(files))
    if resample_to is not None:
        if resample_to not in files:
            raise ValueError(f"resample_to={resample_to!r} is not one of the files {sorted(files)}")
        ref = resample_to
        for name in files:
            if name != ref:
                vols[name] = resample_onto(
                    vols[name], affines[name], vols[ref].shape, affines[ref], label=name in labels
                )
                affines[name] = affines[ref]
    for name in files:
        if vols[name].shape != vols[ref].shape:
            raise GridMismatchError(
                f"subject {subject_id}: {files[name].name} has shape {vols[name].shape} but "
                f"{files[ref].name} has {vols[ref].shape}; paired volumes must share one grid "
                "(resample them onto one grid first)"
            )
        if np.abs(affines[name] - affines[ref]).max() > _AFFINE_TOL_MM:
            raise GridMismatchError(
                f"subject {subject_id}: {files[name].name} and {files[ref].name} have different "
                "voxel-to-world affines: they are not on one grid (register/resample them first)"
            )
    factor = shrink_factor(vols[ref].shape, downsample, fit_side)
    spacing = np.sqrt((affines[ref][:3, :3] ** 2).sum(0)) * factor
    vols = {k: downsample_volume(v, factor, label=k in labels) for k, v in vols.items()}
    return vols, (float(spacing[0]), float(spacing[1]), float(spacing[2]))


def resample_onto(
    volume: np.ndarray,
    affine: np.ndarray,
    shape: Sequence[int],
    target_affine: np.ndarray,
    label: bool = False,
) -> np.ndarray:
    """Sample ``volume`` (voxel-to-world ``affine``) at the voxels of another grid.

    Each voxel ``o`` of the target grid (``shape``, ``target_affine``) reads the source at
    ``affine^-1 @ target_affine @ o``: trilinear for images, nearest for label maps, 0 outside.
    This aligns two acquisitions of one session by their scanner coordinates; it corrects no
    movement between them (that needs registration).
    """
    mapping = np.linalg.inv(np.asarray(affine, np.float64)) @ np.asarray(target_affine, np.float64)
    return ndimage.affine_transform(
        volume, mapping[:3, :3], offset=mapping[:3, 3], output_shape=tuple(int(n) for n in shape),
        order=0 if label else 1, mode="constant", cval=0.0,
    ).astype(volume.dtype)  # fmt: skip


def read_or_skip(
    subject_id: str, files: dict[str, Path], missing: str, stacklevel: int = 3, **kwargs
) -> tuple[dict[str, np.ndarray], tuple[float, float, float]] | None:
    """:func:`read_volumes`, or None with a warning for a mismatched subject when ``missing="skip"``."""
    try:
        return read_volumes(subject_id, files, **kwargs)
    except GridMismatchError as exc:
        if missing != "skip":
            raise GridMismatchError(
                f"{exc}. Pass missing='skip' to leave such subjects out."
            ) from None
        warnings.warn(f"{exc}; left out (missing='skip').", stacklevel=stacklevel)
        return None


def to_unit(
    volume: np.ndarray, kind: str, mask: np.ndarray | None
) -> tuple[np.ndarray, IntensityMap]:
    """Map one volume to [0, 1]: MR by robust percentiles inside ``mask``, CT/CBCT by the HU window."""
    if kind not in MODALITY_KINDS:
        raise ValueError(f"modality kind must be one of {MODALITY_KINDS}, got {kind!r}")
    imap = (
        ct_window()
        if kind == "ct"
        else mr_robust(volume, mask if mask is not None and mask.any() else None)
    )
    return imap.forward(volume).astype(np.float32), imap


def make_subject(
    subject_id: str,
    images: dict[str, np.ndarray],
    kinds: dict[str, str],
    spacing_mm: tuple[float, float, float],
    mask: np.ndarray | None = None,
    labels: dict[str, np.ndarray] | None = None,
    meta: dict | None = None,
) -> Subject:
    """A :class:`Subject` with every image mapped to [0, 1] by its ``kinds[name]`` rule.

    Images are keyed by their canonical modality name (:mod:`medgen_nb.data.modalities`: IXI's
    ``t1`` becomes ``t1w``, BraTS' ``t2f`` becomes ``flair``); names the vocabulary does not know
    (a user's own, e.g. ``t1_corrected``) stay as they are.
    """
    unit, imaps = {}, {}
    for name, vol in images.items():
        key = canonical_or_self(name)
        if key in unit:
            raise ValueError(
                f"subject {subject_id}: images {sorted(images)} name the modality {key!r} twice"
            )
        unit[key], imaps[key] = to_unit(vol, kinds[name], mask)
    return Subject(
        subject_id=subject_id,
        images=unit,
        intensity=imaps,
        spacing_mm=spacing_mm,
        labels={k: v.astype(np.int64) for k, v in (labels or {}).items()},
        mask=None if mask is None else mask.astype(bool),
        meta=meta or {},
    )


# What a loader makes of one subject's volumes: (images, mask or None, labels), all (X, Y, Z).
SubjectParts = tuple[dict[str, np.ndarray], np.ndarray | None, dict[str, np.ndarray]]
PartsRule = Callable[[str, dict[str, np.ndarray]], SubjectParts]
MetaRule = Callable[[str, dict[str, Path]], dict]


def read_subjects(
    complete: dict[str, dict[str, Path]],
    kinds: dict[str, str],
    parts: PartsRule,
    *,
    missing: str,
    downsample: int = 1,
    fit_side: int | None = None,
    labels: Sequence[str] = (),
    meta: MetaRule | None = None,
    resample_to: str | None = None,
) -> list[Subject]:
    """The loop every NIfTI loader shares: read each subject's files, split, map to [0, 1].

    Args:
        complete: subject id -> {file key: path}, all on one grid (from :func:`resolve_missing`).
        kinds: image key -> ``"mr"`` or ``"ct"`` (how :func:`to_unit` maps it).
        parts: ``(subject_id, volumes) -> (images, mask, labels)``, the layout-specific part:
            which volumes are images, which is the mask, which are label maps.
        missing, downsample, fit_side, resample_to: as in :func:`read_or_skip` /
            :func:`read_volumes`.
        labels: file keys read as label maps (shrunk by stride, never averaged).
        meta: ``(subject_id, files) -> dict`` of extra ``Subject.meta``; ``"files"`` is added.

    Returns:
        Subjects with ``images`` ``(X, Y, Z)`` float32 in [0, 1]; subjects whose volumes are not on
        one grid are left out with a warning when ``missing="skip"``.
    """
    out, skipped = [], []
    for sid, files in complete.items():
        loaded = read_or_skip(
            sid,
            files,
            missing,
            stacklevel=4,
            downsample=downsample,
            fit_side=fit_side,
            labels=labels,
            resample_to=resample_to,
        )
        if loaded is None:
            skipped.append(sid)
            continue
        vols, spacing = loaded
        images, mask, label_maps = parts(sid, vols)
        extra = meta(sid, files) if meta is not None else {}
        out.append(
            make_subject(
                sid,
                images,
                kinds,
                spacing,
                mask=mask,
                labels=label_maps,
                meta={**extra, "files": {k: str(v) for k, v in files.items()}},
            )
        )
    if not out:
        why = (
            f"all {len(skipped)} were left out (missing='skip') because their volumes are not on "
            "one grid: resample them onto one grid"
            if skipped
            else f"none has all of {sorted(kinds)}: add the missing files or load fewer modalities"
        )
        raise ValueError(f"no subject to load: {why}")
    return out


def slice_splits(
    subjects: Sequence[Subject],
    sources: Sequence[str] | str,
    target: str | None = None,
    *,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    **slice_kwargs,
) -> dict[str, SliceDataset]:
    """``{"train", "val", "test"}`` -> :class:`SliceDataset`, split **by subject** (never by slice).

    ``slice_kwargs`` go to :class:`SliceDataset` (``plane``, ``size``, ``seg_key``, ``label_from``,
    ``min_foreground``). A split that gets no subject (fewer than three subjects) is left out;
    no subject at all raises ``ValueError``.
    """
    fractions = check_fractions(fractions)
    if not subjects:
        raise ValueError(
            "no subjects to split into train/val/test; check the data folder and the subjects= "
            "and missing= arguments"
        )
    by_id = {s.subject_id: s for s in subjects}
    ids = split_subjects(list(by_id), fractions)
    return {
        split: SliceDataset([by_id[i] for i in members], sources, target, **slice_kwargs)
        for split, members in ids.items()
        if members
    }


def unpaired_splits(
    domain_a: Sequence[Subject],
    domain_b: Sequence[Subject],
    source_a: str,
    source_b: str,
    *,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    disjoint: bool = True,
    seed: int = 0,
    **slice_kwargs,
) -> dict[str, UnpairedDataset]:
    """Unpaired translation splits (e.g. IXI T1 -> T2): ``image`` from A, ``target`` from B.

    Subjects are split by id over both domains, so a person is in one split only. With
    ``disjoint`` (default), within a split A and B also come from different people (alternate
    subjects), which is the honest unpaired setting: the model never sees one head in both.

    Raises ``ValueError`` if a split with a positive fraction gets no subject of A or of B (it
    says how many subjects there are and how many the fractions need); use more subjects or
    ``fractions=(1.0, 0.0, 0.0)``.
    """
    fractions = check_fractions(fractions)
    ids_a = {s.subject_id: s for s in domain_a}
    ids_b = {s.subject_id: s for s in domain_b}
    people = sorted(set(ids_a) | set(ids_b))
    splits = split_subjects(people, fractions)
    chosen = {}
    for (split, members), fraction in zip(splits.items(), fractions, strict=True):
        a_ids = [m for m in members if m in ids_a]
        b_ids = [m for m in members if m in ids_b]
        if disjoint:
            a_ids, b_ids = _alternate(members, ids_a, ids_b)
        if a_ids and b_ids:
            chosen[split] = a_ids, b_ids
        elif fraction > 0:
            raise ValueError(
                f"unpaired splits need, in every split with a positive fraction, subjects of both "
                f"domains ({source_a!r} and {source_b!r}"
                f"{', from different people' if disjoint else ''}); with {len(people)} subjects "
                f"({len(ids_a)} with {source_a!r}, {len(ids_b)} with {source_b!r}) and fractions "
                f"{fractions}, the {split!r} split gets {len(a_ids)} of {source_a!r} and "
                f"{len(b_ids)} of {source_b!r}. Use at least {min_subjects(fractions, 2)} "
                "subjects (two per split), or fractions=(1.0, 0.0, 0.0) to put all in train"
            )
    out = {}
    for split, (a_ids, b_ids) in chosen.items():
        ds_a = SliceDataset([ids_a[i] for i in a_ids], source_a, **slice_kwargs)
        ds_b = SliceDataset([ids_b[i] for i in b_ids], source_b, **slice_kwargs)
        out[split] = UnpairedDataset(ds_a, ds_b, seed=seed)
    return out


def _alternate(members: list[str], ids_a: dict, ids_b: dict) -> tuple[list[str], list[str]]:
    """Give subjects alternately to A and B (one person in one domain only)."""
    a, b = [], []
    for m in members:
        if m in ids_a and m in ids_b:
            (a if len(a) <= len(b) else b).append(m)
        elif m in ids_a:
            a.append(m)
        elif m in ids_b:
            b.append(m)
    return a, b


def as_path(root: str | os.PathLike | None, name: str) -> Path:
    """``root`` as a Path, or the default folder of data set ``name``."""
    return default_root(name) if root is None else Path(root).expanduser()
