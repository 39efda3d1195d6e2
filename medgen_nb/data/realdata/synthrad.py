"""SynthRAD2023: brain and pelvis radiotherapy patients with rigidly registered MR/CBCT and CT.

Layout (Zenodo 10.5281/zenodo.7260705, ``Task1.zip`` and ``Task2.zip``)::

    Task1/brain/1BA001/{mr,ct,mask}.nii.gz      task 1: MR -> CT
    Task1/pelvis/1PA001/{mr,ct,mask}.nii.gz
    Task2/brain/2BA001/{cbct,ct,mask}.nii.gz    task 2: CBCT -> CT
    Task2/pelvis/2PC001/{cbct,ct,mask}.nii.gz

Subject ids are ``<task><B|P><centre A|B|C><nnn>``. CT and CBCT are in HU (mapped by
``ct_window``), MR by ``mr_robust`` inside the body ``mask``. Each subject's images already share
one grid (paired MR->CT and CBCT->CT synthesis for radiotherapy: Pang et al. 2025, §6.3 and
Table 8).

Citation: Thummerer et al., "SynthRAD2023 Grand Challenge dataset: generating synthetic CT for
radiotherapy", Medical Physics 50(7):4664-4674, 2023, doi:10.1002/mp.16529.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from medgen_nb.data.realdata.common import (
    Missing,
    SubjectParts,
    as_path,
    first_n,
    not_found,
    read_subjects,
    resolve_missing,
)
from medgen_nb.data.slices import Subject

SYNTHRAD_TASKS: tuple[int, ...] = (1, 2)
SYNTHRAD_REGIONS: tuple[str, ...] = ("brain", "pelvis")
SYNTHRAD_URL = "https://zenodo.org/records/7260705/files/Task{task}.zip?download=1"
SYNTHRAD_CITATION = (
    "Thummerer A. et al., SynthRAD2023 Grand Challenge dataset: generating synthetic CT for "
    "radiotherapy, Medical Physics 50(7):4664-4674, 2023, doi:10.1002/mp.16529"
)
_ID = re.compile(r"^([12])([BP])([A-Z])(\d{3})$")
_SOURCE = {1: "mr", 2: "cbct"}


def synthrad_modalities(task: int) -> tuple[str, str]:
    """(source, target) of a task: ``(mr, ct)`` for 1, ``(cbct, ct)`` for 2."""
    if task not in SYNTHRAD_TASKS:
        raise ValueError(f"task must be one of {SYNTHRAD_TASKS}, got {task!r}")
    return _SOURCE[task], "ct"


def find_synthrad(
    root: str | os.PathLike, task: int = 1, region: str = "brain"
) -> dict[str, dict[str, Path]]:
    """Subject id -> {"mr"|"cbct", "ct", "mask": path} under ``root``.

    ``root`` may be the folder holding ``Task1/``, ``Task1/`` itself or ``Task1/brain/``.
    """
    synthrad_modalities(task)
    if region not in SYNTHRAD_REGIONS:
        raise ValueError(f"region must be one of {SYNTHRAD_REGIONS}, got {region!r}")
    root = Path(root)
    letter = "B" if region == "brain" else "P"
    found: dict[str, dict[str, Path]] = {}
    for base in (root / f"Task{task}" / region, root / region, root):
        if not base.is_dir():
            continue
        for folder in sorted(base.iterdir()):
            m = _ID.match(folder.name)
            if folder.is_dir() and m and int(m.group(1)) == task and m.group(2) == letter:
                found[folder.name] = {
                    p.name.split(".")[0]: p
                    for p in folder.glob("*.nii*")
                    if not p.name.startswith(".")
                }
        if found:
            break
    return found


def load_synthrad(
    root: str | os.PathLike | None = None,
    task: Literal[1, 2] = 1,
    region: Literal["brain", "pelvis"] = "brain",
    *,
    subjects: int | None = None,
    missing: Missing = "error",
    downsample: int = 1,
    fit_side: int | None = None,
) -> list[Subject]:
    """Load SynthRAD2023 subjects of one task and region.

    ``subjects``, ``missing``, ``downsample`` and ``fit_side`` work as in :func:`~.ixi.load_ixi`.

    Returns:
        Subjects with ``images`` ``{"mr" or "cbct", "ct"}`` as ``(X, Y, Z)`` float32 in [0, 1]
        (RAS; CT/CBCT from HU by ``ct_window``), ``mask`` = the provided body mask, and
        ``meta`` = ``{"centre", "task", "region", "files"}``.
    """
    source, target = synthrad_modalities(task)
    root = as_path(root, "synthrad")
    found = find_synthrad(root, task, region) if root.is_dir() else {}
    if not found:
        raise not_found(
            "SynthRAD2023",
            root,
            f"no folders Task{task}/{region}/{task}{region[0].upper()}<centre><nnn>/ with "
            f"{source}.nii.gz, ct.nii.gz, mask.nii.gz",
            f"python data_scripts/synthrad.py --task {task} --region {region} --subjects 10 --dest {root}",
        )
    wanted = (source, target, "mask")
    complete = first_n(resolve_missing("SynthRAD2023", found, wanted, missing), subjects)

    def parts(sid: str, vols: dict) -> SubjectParts:
        mask = vols.pop("mask") > 0
        return vols, mask, {}

    def meta(sid: str, files: dict[str, Path]) -> dict:
        return {"centre": _ID.match(sid).group(3), "task": task, "region": region}

    kinds = {source: "ct" if source == "cbct" else "mr", target: "ct"}
    kw = {"downsample": downsample, "fit_side": fit_side, "labels": ("mask",), "meta": meta}
    return read_subjects(complete, kinds, parts, missing=missing, **kw)
