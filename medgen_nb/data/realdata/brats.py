"""BraTS 2023 and 2021 (adult glioma): skull-stripped, co-registered multi-contrast MR.

Registration-gated (Synapse, data use agreement), so there is no download here: register, download
the training zip yourself and point :func:`load_brats` at the extracted folder::

    ASNR-MICCAI-BraTS2023-GLI-Challenge-TrainingData/
        BraTS-GLI-00000-000/
            BraTS-GLI-00000-000-t1n.nii.gz   T1 native
            BraTS-GLI-00000-000-t1c.nii.gz   T1 post-contrast (gadolinium)
            BraTS-GLI-00000-000-t2w.nii.gz   T2-weighted
            BraTS-GLI-00000-000-t2f.nii.gz   T2-FLAIR
            BraTS-GLI-00000-000-seg.nii.gz   labels 1 necrotic core, 2 oedema, 3 enhancing tumour

The BraTS 2021 release names the same contrasts differently, and is detected per case folder::

    BraTS2021_00000/BraTS2021_00000_{t1,t1ce,t2,flair,seg}.nii.gz   (4 = enhancing tumour)

Its files are loaded under the 2023 names (t1 -> t1n, t1ce -> t1c, t2 -> t2w, flair -> t2f) and
its enhancing-tumour label 4 becomes 3, so both releases give one label convention (0, 1, 2, 3).
One root must hold one release: the 2023 glioma set re-uses the 2021 patients under new ids, so
a mixed root could put one patient in two splits.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


@dataclass(frozen=True)
class BratsNaming:
    """How one BraTS release names its case folders, files and enhancing-tumour label."""

    release: str
    case: str  # regex of a case folder name
    sep: str  # between the case id and the file key
    files: dict[str, str]  # package key (BRATS_MODALITIES, "seg") -> file key of this release
    enhancing: int  # label value of enhancing tumour in this release's seg

    def matches(self, name: str) -> bool:
        """Whether ``name`` is a case folder of this release."""
        return re.fullmatch(self.case, name) is not None

    def is_file(self, name: str) -> bool:
        """Whether ``name`` is an image or seg file of this release (any case id)."""
        keys = "|".join(self.files.values())
        return re.fullmatch(rf"{self.case}{self.sep}({keys})\.nii(\.gz)?", name) is not None

    def pattern(self, case: str = "<case>") -> str:
        """The layout of one case, for messages: ``<case>/<case>-{t1n,...}.nii.gz``."""
        return f"{case}/{case}{self.sep}{{{','.join(self.files.values())}}}.nii.gz"


BRATS_2023 = BratsNaming(
    "BraTS 2023", r"BraTS-[A-Z]+-\d{5}-\d{3}", "-", {k: k for k in (*BRATS_MODALITIES, "seg")}, 3
)
BRATS_2021 = BratsNaming(
    "BraTS 2021",
    r"BraTS2021_\d{5}",
    "_",
    {"t1n": "t1", "t1c": "t1ce", "t2w": "t2", "t2f": "flair", "seg": "seg"},
    4,
)
BRATS_NAMINGS: tuple[BratsNaming, ...] = (BRATS_2023, BRATS_2021)


def brats_naming(case_id: str) -> BratsNaming | None:
    """The release whose case-folder name ``case_id`` follows (None if neither)."""
    return next((n for n in BRATS_NAMINGS if n.matches(case_id)), None)


def _case_files(folder: Path, naming: BratsNaming) -> dict[str, Path]:
    """{package key: path} of one case folder; a file named by the other release is an error."""
    for other in (n for n in BRATS_NAMINGS if n != naming):
        strays = sorted(p.name for p in folder.iterdir() if other.is_file(p.name))
        if strays:
            raise ValueError(
                f"BraTS case folder {folder} mixes {naming.release} names with {other.release} "
                f"names ({', '.join(strays[:3])}); keep one naming per case folder: "
                f"{naming.pattern(folder.name)}"
            )
    files = {}
    for key, name in naming.files.items():
        for ext in (".nii.gz", ".nii"):
            path = folder / f"{folder.name}{naming.sep}{name}{ext}"
            if path.is_file():
                files[key] = path
                break
    return files


def find_brats(root: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """Case id -> {"t1n", "t1c", "t2w", "t2f", "seg": path}: case folders anywhere under ``root``.

    Each case folder's release (2023 or 2021 naming) is detected from its name; 2021 files are
    returned under the 2023 keys. Raises ValueError if a case folder, or ``root``, mixes releases.
    """
    found: dict[str, dict[str, Path]] = {}
    example: dict[str, str] = {}  # release -> first case folder seen
    root = Path(root)
    candidates = [root, *sorted(p for p in root.rglob("BraTS*") if p.is_dir())]
    for folder in candidates:
        naming = brats_naming(folder.name)
        if naming is None or not folder.is_dir():
            continue
        found[folder.name] = _case_files(folder, naming)
        example.setdefault(naming.release, folder.name)
    if len(example) > 1:
        listing = " and ".join(f"{r} case folders (e.g. {c})" for r, c in example.items())
        raise ValueError(
            f"{root} holds {listing}: the 2023 glioma set re-uses the 2021 patients under new "
            "ids, so one patient could land in two splits. Keep one release per root and pass "
            "that folder as root="
        )
    return found


def _unified_labels(case_id: str, seg: np.ndarray) -> np.ndarray:
    """A case's label map in the 2023 convention (0, 1 necrotic core, 2 oedema, 3 enhancing)."""
    naming = brats_naming(case_id)
    seg = seg.round()
    if naming is None or naming.enhancing == BRATS_2023.enhancing:
        return seg
    allowed = {0, 1, 2, naming.enhancing}
    found = {int(v) for v in np.unique(seg)}
    if not found <= allowed:
        raise ValueError(
            f"BraTS case {case_id}: seg has labels {sorted(found)}, but {naming.release} uses "
            f"{sorted(allowed)}; check that the file belongs to that release"
        )
    seg[seg == naming.enhancing] = BRATS_2023.enhancing
    return seg


def _describe_missing(case_id: str, key: str) -> str:
    """A lacking file by its package key and, for 2021 cases, its file name."""
    naming = brats_naming(case_id)
    if naming is None or naming == BRATS_2023:
        return key
    return f"{key}: {case_id}{naming.sep}{naming.files[key]}.nii.gz"


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
        Subjects with ``images[m]`` ``(X, Y, Z)`` float32 in [0, 1], keyed by canonical names
        (``t1n`` -> ``t1w``, ``t1c`` -> ``t1ce``, ``t2f`` -> ``flair``; ``mr_robust`` inside the
        brain), ``mask`` = brain (any contrast non-zero: the data are skull-stripped), and with
        ``with_seg`` ``labels["lesion"]`` = the BraTS label map (0, 1, 2, 3; 2021's 4 -> 3).
    """
    modalities = modality_subset(modalities, BRATS_MODALITIES)
    root = as_path(root, "brats")
    found = find_brats(root) if root.is_dir() else {}
    if not found:
        raise not_found(
            "BraTS",
            root,
            "no case folders named BraTS-GLI-<nnnnn>-<nnn>/ (BraTS 2023 naming) or "
            "BraTS2021_<nnnnn>/ (BraTS 2021 naming)",
            f"python data_scripts/brats.py --help   # registration needed: {BRATS_INSTRUCTIONS}",
        )
    wanted = [*modalities, *([BRATS_SEG] if with_seg else [])]
    complete = first_n(
        resolve_missing("BraTS", found, wanted, missing, _describe_missing), subjects
    )

    def parts(sid: str, vols: dict) -> SubjectParts:
        seg = vols.pop(BRATS_SEG, None)
        brain = sum(vols[m] > 0 for m in modalities) > 0  # skull-stripped: zero outside
        return vols, brain, {} if seg is None else {"lesion": _unified_labels(sid, seg)}

    kw = {"downsample": downsample, "fit_side": fit_side, "labels": (BRATS_SEG,)}
    return read_subjects(complete, {m: "mr" for m in modalities}, parts, missing=missing, **kw)
