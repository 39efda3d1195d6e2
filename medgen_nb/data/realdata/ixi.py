"""IXI: ~580 healthy adult heads (T1, T2, PD MR) from three London hospitals, CC BY-SA 3.0.

Files are named ``IXI<nnn>-<site>-<nnnn>-<MOD>.nii.gz`` (e.g. ``IXI002-Guys-0828-T2.nii.gz``),
site in Guys / HH / IOP, one tarball per modality (``IXI-T1.tar``...), files at the tar root.

Tasks (Pang et al. 2025, §6.2.1 and Table 6: IXI is a standard set for multi-contrast MRI
synthesis, used both paired and unpaired):

* **paired T2 -> PD**: T2 and PD come from one dual-echo acquisition, so they share the voxel grid
  with no registration: the natural paired task.
* **unpaired T1 <-> T2**: T1 is a separate sagittal scan on another grid; use
  :func:`ixi_unpaired` (CycleGAN/UNIT setting).

Citation: IXI data set, https://brain-development.org/ixi-dataset/ (EPSRC GR/S21533/02).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from medgen_nb.data.checks import check_fractions
from medgen_nb.data.modalities import resolve as resolve_modality
from medgen_nb.data.realdata.common import (
    Missing,
    SubjectParts,
    as_path,
    first_n,
    foreground_mask,
    modality_subset,
    not_found,
    read_subjects,
    resolve_missing,
    unpaired_splits,
)
from medgen_nb.data.slices import Subject

IXI_MODALITIES: tuple[str, ...] = ("t1", "t2", "pd")
IXI_URL = "http://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI/IXI-{MOD}.tar"
IXI_LICENSE = "CC BY-SA 3.0"
IXI_CITATION = "IXI data set, Imperial College London, https://brain-development.org/ixi-dataset/"
IXI_NAME = re.compile(r"^IXI(\d{3})-(Guys|HH|IOP)-(\d{4})-(T1|T2|PD)\.nii(\.gz)?$")


def ixi_subject_id(filename: str) -> str | None:
    """``"IXI002-Guys-0828-T2.nii.gz"`` -> ``"IXI002"`` (None if the name is not an IXI image)."""
    m = IXI_NAME.match(Path(filename).name)
    return None if m is None else f"IXI{m.group(1)}"


def find_ixi(root: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """Subject id -> {modality: path} for every IXI image under ``root`` (searched recursively)."""
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(Path(root).rglob("IXI*.nii*")):
        m = IXI_NAME.match(path.name)
        if m and not path.name.startswith("."):
            found.setdefault(f"IXI{m.group(1)}", {})[m.group(4).lower()] = path
    return found


def load_ixi(
    root: str | os.PathLike | None = None,
    modalities: Sequence[str] = ("t2", "pd"),
    *,
    subjects: int | None = None,
    missing: Missing = "error",
    downsample: int = 1,
    fit_side: int | None = None,
    resample_to: str | None = None,
) -> list[Subject]:
    """Load IXI subjects with all ``modalities`` on one grid, each mapped to [0, 1] by ``mr_robust``.

    Args:
        root: folder with the extracted ``IXI*.nii.gz`` files (default: where ``data_scripts/ixi.py``
            puts them).
        modalities: subset of :data:`IXI_MODALITIES`. Several must share a grid: ``("t2", "pd")``
            does; T1 does not (load it alone and pair it with :func:`ixi_unpaired`, or pass
            ``resample_to``).
        resample_to: resample every other modality onto this one's grid (e.g. ``"t2"`` for a
            paired T1 -> T2 task) through the scanner coordinates of the NIfTI headers. T1 and T2
            of one IXI visit share scanner coordinates, but the head can move between the two
            scans, and that movement stays: the pairs are aligned, not registered.
        subjects: load only the first N complete subjects (by id).
        missing: ``"error"`` or ``"skip"`` subjects that lack a modality or whose volumes are
            not on one grid (skipped subjects are named in a warning).
        downsample: integer block-mean factor (2 halves each side; saves memory on Binder).
        fit_side: shrink further, by the largest integer factor that keeps the longest side at
            least ``fit_side`` (pass the slice size; see :func:`common.read_volumes`).

    Returns:
        Subjects with ``images[m]`` ``(X, Y, Z)`` float32 in [0, 1] (RAS), keyed by canonical
        names (``t1`` -> ``t1w``, ``t2`` -> ``t2w``, ``pd``), a threshold foreground
        ``mask`` and ``meta`` = ``{"site", "files"}``.
    """
    modalities = modality_subset(modalities, IXI_MODALITIES)
    root = as_path(root, "ixi")
    found = find_ixi(root) if root.is_dir() else {}
    if not found:
        raise not_found(
            "IXI",
            root,
            f"no files named IXI<nnn>-<site>-<nnnn>-{{{','.join(m.upper() for m in modalities)}}}.nii.gz",
            f"python data_scripts/ixi.py --modalities {' '.join(modalities)} --subjects 20 --dest {root}",
        )
    complete = first_n(resolve_missing("IXI", found, modalities, missing), subjects)
    if not complete:
        raise not_found(
            "IXI",
            root,
            f"no subject has all of {modalities}",
            f"python data_scripts/ixi.py --modalities {' '.join(modalities)} --dest {root}",
        )

    def parts(sid: str, vols: dict) -> SubjectParts:
        return vols, foreground_mask(vols[modalities[0]]), {}

    def meta(sid: str, files: dict[str, Path]) -> dict:
        return {"site": IXI_NAME.match(files[modalities[0]].name).group(2)}

    if resample_to is not None:
        try:
            resample_to = resolve_modality(resample_to, modalities)
        except ValueError:
            raise ValueError(
                f"resample_to={resample_to!r} must be one of modalities {modalities}"
            ) from None
    kw = {"downsample": downsample, "fit_side": fit_side, "meta": meta, "resample_to": resample_to}
    return read_subjects(complete, {m: "mr" for m in modalities}, parts, missing=missing, **kw)


def ixi_unpaired(
    root: str | os.PathLike | None = None,
    source: str = "t1",
    target: str = "t2",
    *,
    subjects: int | None = None,
    downsample: int = 1,
    fit_side: int | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    **slice_kwargs,
) -> dict:
    """Unpaired IXI splits (default T1 -> T2): split -> :class:`UnpairedDataset`.

    Each domain is loaded on its own grid; subjects are split by id and, within a split, each
    person gives either the source or the target (see :func:`common.unpaired_splits`).
    """
    fractions = check_fractions(fractions)  # before loading anything
    kw = {"subjects": subjects, "missing": "skip", "downsample": downsample, "fit_side": fit_side}
    a = load_ixi(root, (source,), **kw)
    b = load_ixi(root, (target,), **kw)
    return unpaired_splits(a, b, source, target, fractions=fractions, **slice_kwargs)
