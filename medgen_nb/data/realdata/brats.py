"""BraTS 2023 (adult glioma and sister sets): skull-stripped, co-registered multi-contrast MR.

Registration-gated (Synapse, data use agreement), so there is no download here: register, download
the training zip yourself and point :func:`load_brats` at the extracted folder::

    ASNR-MICCAI-BraTS2023-GLI-Challenge-TrainingData/
        BraTS-GLI-00000-000/
            BraTS-GLI-00000-000-t1n.nii.gz   T1 native
            BraTS-GLI-00000-000-t1c.nii.gz   T1 post-contrast (gadolinium)
            BraTS-GLI-00000-000-t2w.nii.gz   T2-weighted
            BraTS-GLI-00000-000-t2f.nii.gz   T2-FLAIR
            BraTS-GLI-00000-000-seg.nii.gz   labels 1 necrotic core, 2 oedema, 3 enhancing tumour

All four contrasts are on one 1 mm grid (240x240x155), so any pair is a paired translation task,
e.g. missing-modality synthesis (Pang et al. 2025, §6.2.1 and Table 6, where BraTS is the most
used set); ``seg`` gives tumour labels for conditioning.

Citation: Baid et al., arXiv:2107.02314 (2021); Menze et al., IEEE TMI 34(10):1993-2024 (2015);
Bakas et al., Scientific Data 4:170117 (2017).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from medgen_nb.data.realdata.common import (
    Missing,
    SubjectParts,
    as_path,
    first_n,
    modality_subset,
    not_found,
    read_subjects,
    resolve_missing,
)
from medgen_nb.data.slices import Subject

BRATS_MODALITIES: tuple[str, ...] = ("t1n", "t1c", "t2w", "t2f")
BRATS_SEG = "seg"
BRATS_CITATION = (
    "Baid U. et al., The RSNA-ASNR-MICCAI BraTS 2021 benchmark on brain tumor segmentation and "
    "radiogenomic classification, arXiv:2107.02314, 2021; Menze B.H. et al., IEEE TMI "
    "34(10):1993-2024, 2015; Bakas S. et al., Scientific Data 4:170117, 2017"
)
BRATS_INSTRUCTIONS = (
    "BraTS needs registration: 1) create a Synapse account and register for the BraTS 2023 "
    "challenge (https://www.synapse.org/, search 'BraTS 2023'), accepting the data use agreement; "
    "2) download the training data zip (e.g. ASNR-MICCAI-BraTS2023-GLI-Challenge-TrainingData.zip); "
    "3) extract it safely with: python data_scripts/brats.py --archive PATH/TO/ZIP --dest DEST; "
    "4) load it with DATA = 'brats' (or load_brats(DEST))."
)
_CASE = re.compile(r"^BraTS-[A-Z]+-\d{5}-\d{3}$")


def find_brats(root: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """Case id -> {"t1n", "t1c", "t2w", "t2f", "seg": path}: case folders anywhere under ``root``."""
    found: dict[str, dict[str, Path]] = {}
    root = Path(root)
    candidates = [root, *sorted(p for p in root.rglob("BraTS-*") if p.is_dir())]
    for folder in candidates:
        if not (folder.is_dir() and _CASE.match(folder.name)):
            continue
        files = {}
        for key in (*BRATS_MODALITIES, BRATS_SEG):
            for ext in (".nii.gz", ".nii"):
                path = folder / f"{folder.name}-{key}{ext}"
                if path.is_file():
                    files[key] = path
                    break
        found[folder.name] = files
    return found


def load_brats(
    root: str | os.PathLike | None = None,
    modalities: Sequence[str] = BRATS_MODALITIES,
    *,
    with_seg: bool = True,
    subjects: int | None = None,
    missing: Missing = "error",
    downsample: int = 1,
    fit_side: int | None = None,
) -> list[Subject]:
    """Load BraTS cases as subjects.

    ``subjects``, ``missing``, ``downsample`` and ``fit_side`` work as in :func:`~.ixi.load_ixi`.

    Returns:
        Subjects with ``images[m]`` ``(X, Y, Z)`` float32 in [0, 1] (``mr_robust`` inside the
        brain), ``mask`` = brain (any contrast non-zero: the data are skull-stripped), and with
        ``with_seg`` ``labels["lesion"]`` = the BraTS label map (0, 1, 2, 3).
    """
    modalities = modality_subset(modalities, BRATS_MODALITIES)
    root = as_path(root, "brats")
    found = find_brats(root) if root.is_dir() else {}
    if not found:
        raise not_found(
            "BraTS",
            root,
            "no case folders named BraTS-GLI-<nnnnn>-<nnn>/ (BraTS 2023 naming)",
            f"python data_scripts/brats.py --help   # registration needed: {BRATS_INSTRUCTIONS}",
        )
    wanted = [*modalities, *([BRATS_SEG] if with_seg else [])]
    complete = first_n(resolve_missing("BraTS", found, wanted, missing), subjects)

    def parts(sid: str, vols: dict) -> SubjectParts:
        seg = vols.pop(BRATS_SEG, None)
        brain = sum(vols[m] > 0 for m in modalities) > 0  # skull-stripped: zero outside
        return vols, brain, {} if seg is None else {"lesion": seg.round()}

    kw = {"downsample": downsample, "fit_side": fit_side, "labels": (BRATS_SEG,)}
    return read_subjects(complete, {m: "mr" for m in modalities}, parts, missing=missing, **kw)
