"""Real public data sets, loaded into the same Dataset objects as the simulated phantoms.

``load_dataset(DATA)`` is what a notebook's ``DATA`` parameter calls (see notebooks/README.md):

==============================  =========================================================
``DATA``                        what it loads (default task)
==============================  =========================================================
``"ixi"``                       IXI T2 -> PD, paired (``unpaired=True``: T1 -> T2)
``"synthrad"``                  SynthRAD2023 task 1 brain MR -> CT (``task=2``: CBCT -> CT,
                                ``region="pelvis"``)
``"brats"``                     BraTS 2023 T1n -> T2-FLAIR with ``seg`` = tumour labels
                                (BraTS 2021 naming read as 2023)
``"medmnist:pneumoniamnist"``   a MedMNIST 2-D set, official splits, ``image`` + ``label``
``"nifti:/path"``               your NIfTI folder paired by subject id (first modality -> second)
``"dicom:/path"``               your DICOM series, one per sub-folder (one subject each):
                                image creation (no ``target``); ``unpaired=True,
                                sources="mr", target="ct"`` between two modalities
==============================  =========================================================

Modality names may be the data set's own (``"t1n"``, ``"t2"``) or canonical (``"t1w"``, ``"t2w"``):
every subject's images are keyed by the canonical names of :mod:`medgen_nb.data.modalities`.
Each returns ``{"train", "val", "test"} -> Dataset`` split by subject. A missing data set raises
:class:`DataNotFoundError` saying what is missing and the ``data_scripts`` command that gets it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from torch.utils.data import Dataset

from medgen_nb.data.checks import check_count, check_fractions
from medgen_nb.data.realdata.brats import BRATS_MODALITIES, find_brats, load_brats
from medgen_nb.data.realdata.common import (
    DataNotFoundError,
    default_root,
    slice_splits,
    unpaired_splits,
)
from medgen_nb.data.realdata.dicom import dicom_subject, load_dicom_folder, load_dicom_series
from medgen_nb.data.realdata.download import (
    DownloadError,
    UnsafeArchiveError,
    download,
    safe_extract,
    verify_format,
)
from medgen_nb.data.realdata.folders import find_nifti_pairs, load_nifti_folder
from medgen_nb.data.realdata.ixi import IXI_MODALITIES, find_ixi, ixi_unpaired, load_ixi
from medgen_nb.data.realdata.medmnist import (
    MEDMNIST_2D,
    MEDMNIST_SIZES,
    MedMNISTDataset,
    load_medmnist,
)
from medgen_nb.data.realdata.synthrad import find_synthrad, load_synthrad, synthrad_modalities
from medgen_nb.data.slices import Subject, check_slice_args

DATASETS: tuple[str, ...] = (
    "ixi",
    "synthrad",
    "brats",
    "medmnist:<flag>",
    "nifti:<path>",
    "dicom:<path>",
)
_DEFAULT_TASK = {"ixi": (["t2"], "pd"), "brats": (["t1n"], "t2f")}

__all__ = [
    "BRATS_MODALITIES",
    "DATASETS",
    "IXI_MODALITIES",
    "MEDMNIST_2D",
    "DataNotFoundError",
    "DownloadError",
    "MedMNISTDataset",
    "UnsafeArchiveError",
    "default_root",
    "dicom_subject",
    "download",
    "find_brats",
    "find_ixi",
    "find_nifti_pairs",
    "find_synthrad",
    "ixi_unpaired",
    "load_brats",
    "load_dataset",
    "load_dicom_folder",
    "load_dicom_series",
    "load_ixi",
    "load_medmnist",
    "load_nifti_folder",
    "load_synthrad",
    "safe_extract",
    "slice_splits",
    "synthrad_modalities",
    "unpaired_splits",
    "verify_format",
]


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    sources: Sequence[str] | str | None = None,
    target: str | None = "default",
    unpaired: bool = False,
    size: int = 64,
    plane: str = "axial",
    subjects: int | None = None,
    downsample: int | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    min_foreground: float = 0.05,
    **loader_kwargs,
) -> dict[str, Dataset]:
    """Load a real data set by its notebook name; returns ``{"train", "val", "test"} -> Dataset``.

    Args:
        name: ``"ixi"``, ``"synthrad"``, ``"brats"``, ``"medmnist:<flag>"``, ``"nifti:<path>"`` or
            ``"dicom:<path>"``.
        root: folder of the data (default: where its ``data_scripts`` command puts it).
        sources, target: modalities for ``image`` and ``target`` (default: the set's natural task);
            ``target=None`` gives no ``target`` (image creation, as in :class:`SliceDataset`).
        unpaired: return :class:`UnpairedDataset` splits (IXI: T1 -> T2) instead of paired slices.
        size, plane, min_foreground: as in :class:`SliceDataset` (MedMNIST: ``size`` resamples).
        subjects: load only the first N subjects (quick runs; Binder's 2 GB RAM).
        downsample: integer factor to shrink 3-D volumes on load; None (default) shrinks each
            volume by the largest factor that keeps its longest side >= ``size`` (saves memory).
        loader_kwargs: passed to the loader (``task=2``, ``region="pelvis"``, ``missing="skip"``,
            ``medmnist_size=`` the stored MedMNIST size, default the largest one <= ``size``).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    kind, _, arg = name.partition(":")
    kind = kind.lower()
    # Every argument that needs no data is checked here, before any file is read.
    fractions = check_fractions(fractions)
    check_count(subjects, "subjects", none_ok=True)
    check_count(downsample, "downsample", none_ok=True)
    if kind == "medmnist":
        check_count(size, "size", minimum=8)
    else:
        check_slice_args(plane, size, min_foreground)
    if kind == "phantom":
        raise ValueError(
            "DATA='phantom' is the embedded simulated data, which the notebook builds itself; "
            f"load_dataset loads the real data sets {DATASETS}"
        )
    if kind == "medmnist":
        if not arg:
            raise ValueError(
                f"name 'medmnist' needs a set, e.g. 'medmnist:pneumoniamnist'; sets: {sorted(MEDMNIST_2D)}"
            )
        # the stored size nearest below SIZE (64 -> the 64 px files; 32 -> 28 px resampled)
        fits = [s for s in MEDMNIST_SIZES if s <= size] or [MEDMNIST_SIZES[0]]
        stored = loader_kwargs.pop("medmnist_size", fits[-1])
        return load_medmnist(arg.lower(), root, size=stored, resize_to=size, **loader_kwargs)
    common = {
        "subjects": subjects,
        "downsample": 1 if downsample is None else downsample,
        "fit_side": size if downsample is None else None,
    }
    slice_kw = {"size": size, "plane": plane, "min_foreground": min_foreground}
    if kind == "ixi":
        if unpaired:
            src = (sources or ["t1"])[0] if not isinstance(sources, str) else sources
            return ixi_unpaired(
                root,
                src,
                "t2" if target in ("default", None) else target,
                fractions=fractions,
                **common,
                **slice_kw,
            )
        src, tgt = _task(sources, target, *_DEFAULT_TASK["ixi"])
        loader_kwargs.setdefault("missing", "skip")  # IXI has subjects without T2 or PD
        subj = load_ixi(root, _wanted(src, tgt), **common, **loader_kwargs)
    elif kind == "synthrad":
        task = loader_kwargs.get("task", 1)
        src, tgt = _task(sources, target, [synthrad_modalities(task)[0]], "ct")
        subj = load_synthrad(root, **common, **loader_kwargs)
    elif kind == "brats":
        src, tgt = _task(sources, target, *_DEFAULT_TASK["brats"])
        subj = load_brats(root, _wanted(src, tgt), **common, **loader_kwargs)
        slice_kw["seg_key"] = "lesion" if loader_kwargs.get("with_seg", True) else None
    elif kind == "nifti":
        if not arg:
            raise ValueError("name 'nifti' needs a folder, e.g. 'nifti:/data/my_pairs'")
        subj = load_nifti_folder(arg, **common, **loader_kwargs)
        found = list(subj[0].images)
        src, tgt = _task(sources, target, found[:1], found[1] if len(found) > 1 else None)
    elif kind == "dicom":
        if not arg:
            raise ValueError("name 'dicom' needs a folder, e.g. 'dicom:/data/my_series'")
        subj = load_dicom_folder(arg, **common, **loader_kwargs)
        return _dicom_splits(name, subj, sources, target, unpaired, fractions, slice_kw)
    else:
        raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")
    if unpaired:
        if tgt is None:
            raise ValueError(
                f"unpaired=True needs a target modality; {name!r} has {list(subj[0].images)}"
            )
        return unpaired_splits(subj, subj, src[0], tgt, fractions=fractions, **slice_kw)
    return slice_splits(subj, src, tgt, fractions=fractions, **slice_kw)


def _wanted(src: list[str], tgt: str | None) -> list[str]:
    """Modalities to load: sources then target, without repeats."""
    return list(dict.fromkeys([*src, *([tgt] if tgt else [])]))


def _task(
    sources: Sequence[str] | str | None,
    target: str | None,
    default_src: list[str],
    default_tgt: str | None,
) -> tuple[list[str], str | None]:
    src = [sources] if isinstance(sources, str) else list(sources or default_src)
    return src, default_tgt if target == "default" else target


def _dicom_splits(
    name: str,
    subj: list[Subject],
    sources: Sequence[str] | str | None,
    target: str | None,
    unpaired: bool,
    fractions: tuple[float, float, float],
    slice_kw: dict,
) -> dict[str, Dataset]:
    """Splits of one-series subjects: one modality alone, or unpaired between two (no pairs)."""
    by_modality: dict[str, list[Subject]] = {}
    for s in subj:
        by_modality.setdefault(next(iter(s.images)), []).append(s)
    found = {m: len(v) for m, v in by_modality.items()}
    src, tgt = _task(sources, target, [next(iter(found))], None)
    if unpaired:
        if tgt is None or tgt not in found or src[0] not in found:
            raise ValueError(
                f"unpaired=True on {name!r} needs sources= and target= two of its modalities "
                f"(series per modality: {found}), got sources={src}, target={tgt!r}"
            )
        a, b = by_modality[src[0]], by_modality[tgt]
        return unpaired_splits(a, b, src[0], tgt, fractions=fractions, **slice_kw)
    if (
        tgt is not None
        or len(src) > 1
        or src[0] not in found
        or (sources is None and len(found) > 1)
    ):
        raise ValueError(
            f"{name!r} holds one series per subject, so it gives one modality and no paired "
            f"target: pass sources= one of {found} (series per modality) and target=None, or "
            f"unpaired=True with target=; got sources={sources!r}, target={target!r}"
        )
    return slice_splits(by_modality[src[0]], src, None, fractions=fractions, **slice_kw)
