"""Any folder of NIfTI files, paired by subject id: your own co-registered data in two layouts.

* nested: ``ROOT/<subject>/<modality>.nii.gz`` (e.g. ``ROOT/case01/t1.nii.gz``, ``.../ct.nii.gz``)
* flat: ``ROOT/<subject>_<modality>.nii.gz`` (or ``-``; the modality is the part after the last
  ``_`` or ``-``, e.g. ``case01_t2.nii.gz``)

A modality called ``mask`` becomes the subject's foreground mask; ``seg``/``label``/``labels``
become label maps; every other modality is an image, mapped to [0, 1] by its kind: a name with a
whole token (split on ``_``, ``-``, ``.`` and spaces, any case) from :data:`CT_TOKENS` is CT in HU
(``ct_window``): ``ct``, ``CBCT_fx1``, ``sct`` (synthetic CT, which is in HU); every other name is
MR (``mr_robust``), so ``t1_corrected`` or ``octopus`` are MR. ``pct`` is not guessed (planning
CT in radiotherapy, but also "percent"). Override with ``kinds={"pct": "ct", ...}``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from medgen_nb.data.realdata.common import (
    MODALITY_KINDS,
    Missing,
    SubjectParts,
    first_n,
    foreground_mask,
    not_found,
    read_subjects,
    resolve_missing,
)
from medgen_nb.data.slices import Subject

LABEL_NAMES: tuple[str, ...] = ("seg", "label", "labels")
MASK_NAME = "mask"
# Name tokens that mean a CT-like image in HU: CT, cone-beam CT, synthetic CT, non-contrast and
# contrast-enhanced CT.
CT_TOKENS: frozenset[str] = frozenset({"ct", "cbct", "sct", "ncct", "cect"})
_TOKEN_SPLIT = re.compile(r"[_\-.\s]+")
_FLAT = re.compile(r"^(?P<subject>.+)[_-](?P<modality>[A-Za-z0-9]+)\.nii(\.gz)?$")


def _stem(path: Path) -> str:
    return path.name.split(".nii")[0]


def find_nifti_pairs(root: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """Subject id -> {modality: path}, from the nested layout if ``root`` has sub-folders with NIfTI
    files, else from the flat layout."""
    root = Path(root)
    found: dict[str, dict[str, Path]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = {_stem(p).lower(): p for p in folder.glob("*.nii*") if not p.name.startswith(".")}
        if files:
            found[folder.name] = files
    if found:
        return found
    for path in sorted(root.glob("*.nii*")):
        m = _FLAT.match(path.name)
        if m and not path.name.startswith("."):
            found.setdefault(m["subject"], {})[m["modality"].lower()] = path
    return found


def guess_kind(modality: str) -> str:
    """``"ct"`` if a whole token of the name is in :data:`CT_TOKENS` (``ct``, ``CBCT_fx1``,
    ``sCT``), else ``"mr"`` (``t1_corrected``, ``octopus``, ``pct_x``)."""
    tokens = _TOKEN_SPLIT.split(modality.lower())
    return "ct" if CT_TOKENS.intersection(tokens) else "mr"


def load_nifti_folder(
    root: str | os.PathLike,
    modalities: Sequence[str] | None = None,
    *,
    kinds: dict[str, str] | None = None,
    subjects: int | None = None,
    missing: Missing = "error",
    downsample: int = 1,
    fit_side: int | None = None,
) -> list[Subject]:
    """Load co-registered NIfTI files paired by subject id (see the module docstring for layouts).

    Args:
        root: the folder.
        modalities: image modalities to load (default: every non-mask, non-label name found).
        kinds: modality -> ``"mr"`` or ``"ct"`` (default from the name, :func:`guess_kind`); a
            key that names no loaded modality raises ``ValueError`` (a typo would go unnoticed).
        subjects, missing, downsample, fit_side: as in :func:`~.ixi.load_ixi`.

    Returns:
        Subjects with ``images`` ``(X, Y, Z)`` in [0, 1], ``mask`` (from ``mask`` files, else a
        threshold of the first modality) and ``labels`` from ``seg``/``label`` files.
    """
    root = Path(root).expanduser()
    found = find_nifti_pairs(root) if root.is_dir() else {}
    if not found:
        raise not_found(
            "NIfTI folder",
            root,
            "no ROOT/<subject>/<modality>.nii.gz or ROOT/<subject>_<modality>.nii.gz files",
            "put your co-registered files in one of those layouts",
        )
    names = sorted({m for files in found.values() for m in files})
    images = [m for m in names if m != MASK_NAME and m not in LABEL_NAMES]
    modalities = images if modalities is None else [m.lower() for m in modalities]
    if not modalities:
        raise ValueError(f"no image modality in {root}; found only {names}")
    unknown = [m for m in modalities if m not in images]
    if unknown:
        raise ValueError(
            f"modalities {unknown} are not in {root}: no subject has such a file; the image "
            f"modalities found are {images}"
        )
    given = {k.lower(): v for k, v in (kinds or {}).items()}
    bad = {m: k for m, k in given.items() if k not in MODALITY_KINDS}
    if bad:
        raise ValueError(f"kinds values must be one of {MODALITY_KINDS}, got {bad}")
    unknown = sorted(set(given) - set(modalities))
    if unknown:
        raise ValueError(
            f"kinds names {', '.join(map(repr, unknown))}, which is not a loaded modality; "
            f"the modalities are {sorted(modalities)} (names are matched in lower case)"
        )
    kinds = {m: guess_kind(m) for m in modalities} | given
    extras = [n for n in (MASK_NAME, *LABEL_NAMES) if n in names]
    complete = first_n(
        resolve_missing(f"NIfTI folder {root}", found, modalities, missing), subjects
    )
    complete = {
        sid: files | {e: found[sid][e] for e in extras if e in found[sid]}
        for sid, files in complete.items()
    }

    def parts(sid: str, vols: dict) -> SubjectParts:
        mask = vols.pop(MASK_NAME) > 0 if MASK_NAME in vols else None
        labels = {n: vols.pop(n).round() for n in LABEL_NAMES if n in vols}
        if mask is None and kinds[modalities[0]] == "mr":
            mask = foreground_mask(vols[modalities[0]])
        return vols, mask, labels

    kw = {"downsample": downsample, "fit_side": fit_side, "labels": (MASK_NAME, *LABEL_NAMES)}
    return read_subjects(complete, kinds, parts, missing=missing, **kw)
