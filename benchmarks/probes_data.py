"""Probes of the data side of issue 12: caches, the [0, 1] border, NIfTI kinds, splits, DICOM, counts.

Run through ``python benchmarks/reliability_probes.py --only <item>``; each probe uses the public
API only, so the same probes run against an older checkout. The fake real-data layouts come from
``tests/realdata_fakes.py`` (the test suite's own).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
from reliability_probes import Probe

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import realdata_fakes as fakes  # noqa: E402  (the test suite's fake layouts)


# ---------------------------------------------------------------------------- helpers
def _chest_cfg():
    from medgen_nb.data.chest_ct import ChestCTConfig, NoduleConfig
    from medgen_nb.data.ultrasound import UltrasoundConfig

    return ChestCTConfig(
        in_plane_mm=6.0,
        slice_mm=10.0,
        nodules=NoduleConfig(min_count=1, max_count=1),
        ultrasound=UltrasoundConfig(n_lines=48, n_depth=64),
    )


def _hashes(subject) -> dict[str, str]:
    return {k: hashlib.sha256(v.tobytes()).hexdigest()[:12] for k, v in subject.images.items()}


def _unit_subject(images: dict, sid: str = "s0"):
    from medgen_nb.data.intensity import ct_window
    from medgen_nb.data.slices import Subject

    shape = next(iter(images.values())).shape
    mask = np.ones(shape, bool)
    labels = {"organs": np.full(shape, 7, np.uint8)}  # labels are not images: any integers
    return Subject(sid, images, {k: ct_window() for k in images}, (1.0, 1.0, 1.0), labels, mask)


def _hu_volume(shape=(12, 12, 8)) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(-1000.0, 1500.0, shape).astype(np.float32)


def _nested(root: Path, n: int, names=("t1", "ct")) -> Path:
    for k in range(n):
        for j, name in enumerate(names):
            lo, hi = (-1000.0, 1200.0) if "ct" in name else (0.0, 1000.0)
            vol = fakes.head(seed=k + 10 * j, lo=lo, hi=hi)
            fakes.save_nifti(vol, fakes.AFFINE, root / f"case{k:02d}" / f"{name}.nii.gz")
    return root


def _kind_of(tmp: Path, name: str) -> str:
    from medgen_nb.data.realdata import load_nifti_folder

    _nested(tmp / "d", 1, names=(name,))
    return load_nifti_folder(tmp / "d")[0].intensity[name.lower()].kind


def _dicom(folder: Path, **kw) -> Path:
    return fakes.fake_dicom_series(folder, **kw)


# ---------------------------------------------------------------------------- item 3
def chest_fresh_vs_warm(tmp: Path):
    """Fresh cache, warm cache, and warm base with a fresh subject: the same arrays each time."""
    from medgen_nb.data import chest_base
    from medgen_nb.data.chest_ct import load_chest_subjects

    cfg = _chest_cfg()
    chest_base.load_chest_base.cache_clear()
    fresh = load_chest_subjects(1, seed=5, config=cfg, progress=False)[0]
    chest_base.load_chest_base.cache_clear()
    warm = load_chest_subjects(1, seed=5, config=cfg, progress=False)[0]
    shutil.rmtree(tmp / "cache" / "chest_ct" / "subjects")
    chest_base.load_chest_base.cache_clear()
    warm_base = load_chest_subjects(1, seed=5, config=cfg, progress=False)[0]
    return _hashes(fresh), _hashes(warm), _hashes(warm_base)


# ---------------------------------------------------------------------------- item 6
def hu_subject_into_slices(tmp: Path):
    from medgen_nb.data.slices import SliceDataset

    ds = SliceDataset([_unit_subject({"ct": _hu_volume()})], "ct", size=32, min_foreground=0.0)
    x = ds.tensors()["image"]
    return float(((x == 0) | (x == 1)).float().mean())


def uint8_subject_into_slices(tmp: Path):
    from medgen_nb.data.slices import SliceDataset

    vol = np.random.default_rng(0).integers(0, 256, (12, 12, 8)).astype(np.uint8)
    ds = SliceDataset([_unit_subject({"ct": vol})], "ct", size=32, min_foreground=0.0)
    return float(ds.tensors()["image"].max())


def unpaired_of_hu_items(tmp: Path):
    import torch

    from medgen_nb.data.slices import UnpairedDataset

    class HU(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {"image": torch.full((1, 8, 8), 40.0 + i)}  # HU, not [0, 1]

    return UnpairedDataset(HU(), HU())[0]["image"].max().item()


def unit_subject_with_labels(tmp: Path):
    from medgen_nb.data.slices import SliceDataset

    vol = np.random.default_rng(0).random((12, 12, 8)).astype(np.float32)
    vol[0, 0, 0], vol[1, 1, 1] = 0.0, 1.0
    ds = SliceDataset([_unit_subject({"ct": vol})], "ct", size=32, seg_key="organs")
    return len(ds), int(ds.tensors()["seg"].max())


# ---------------------------------------------------------------------------- item 8
def unpaired_three_subjects(tmp: Path):
    from medgen_nb.data.realdata import load_dataset

    return load_dataset(f"nifti:{_nested(tmp / 'd', 3)}", unpaired=True, size=32)


def unpaired_train_only(tmp: Path):
    from medgen_nb.data.realdata import load_dataset

    root = _nested(tmp / "d", 3)
    return load_dataset(f"nifti:{root}", unpaired=True, size=32, fractions=(1.0, 0.0, 0.0))


def all_subjects_skipped(tmp: Path):
    from medgen_nb.data.realdata import load_dataset

    root = _nested(tmp / "d", 2)
    for k in range(2):  # every subject's t1 on another grid: all are left out
        fakes.save_nifti(fakes.head((16, 16, 8)), fakes.AFFINE, root / f"case{k:02d}" / "t1.nii.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_dataset(f"nifti:{root}", size=32, missing="skip")


def split_without_train_fraction(tmp: Path):
    from medgen_nb.data.slices import split_subjects

    return split_subjects(["a", "b", "c"], (0.0, 0.5, 0.5))


def _disjoint(splits) -> bool:
    sets = [set(v) for v in splits.values()]
    return all(not (a & b) for i, a in enumerate(sets) for b in sets[i + 1 :])


# ---------------------------------------------------------------------------- item 9 / 10
def dicom_without_pixel_spacing_skip(tmp: Path):
    from medgen_nb.data.realdata import load_dicom_folder

    _dicom(tmp / "r" / "good")
    _dicom(tmp / "r" / "bad", without=("PixelSpacing",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [s.subject_id for s in load_dicom_folder(tmp / "r", missing="skip")]


def dicom_without_pixel_spacing_error(tmp: Path):
    from medgen_nb.data.realdata import load_dicom_series

    return load_dicom_series(_dicom(tmp / "bad", without=("PixelSpacing",)))


def dicom_decode_error(tmp: Path):
    import pydicom

    from medgen_nb.data.realdata import load_dicom_series

    folder = _dicom(tmp / "s")
    path = sorted(folder.glob("*.dcm"))[2]
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.PixelData[:10]  # truncated pixel data
    ds.save_as(path)
    return load_dicom_series(folder)


# ---------------------------------------------------------------------------- item 11
def _late(tmp: Path, call) -> None:
    """Raise what ``call`` raises, but as an unclear error if it simulated or read data first."""
    try:
        call()
    except ValueError:
        cached = list((tmp / "cache").rglob("*.npz"))
        if cached:
            raise RuntimeError(
                f"validated only after simulating: {len(cached)} cache files"
            ) from None
        raise


def brain_bad_fractions(tmp: Path):
    from medgen_nb.data.brain_phantom import BrainPhantomConfig, brain_slice_datasets

    cfg = BrainPhantomConfig(modalities=("t1w",))
    _late(
        tmp,
        lambda: brain_slice_datasets(
            ["t1w"], n_subjects=3, size=32, config=cfg, fractions=(0.5, 0.5, 0.5), progress=False
        ),
    )


def chest_bad_fractions(tmp: Path):
    from medgen_nb.data.chest_ct import chest_slice_datasets

    _late(
        tmp,
        lambda: chest_slice_datasets(
            "ct", n_subjects=3, size=32, config=_chest_cfg(), fractions=(1, 1, 1), progress=False
        ),
    )


def drr_bad_fractions(tmp: Path):
    from medgen_nb.data.chest_ct import drr_pairs

    _late(
        tmp,
        lambda: drr_pairs(3, size=32, volume_size=16, config=_chest_cfg(), fractions=(0.9, 0.1)),
    )


def realdata_bad_fractions(tmp: Path):
    """A corrupt file: validating fractions first gives the fractions error, not the file's."""
    from medgen_nb.data.realdata import load_dataset

    root = _nested(tmp / "d", 3)
    (root / "case01" / "t1.nii.gz").write_bytes(b"not a nifti file")
    return load_dataset(f"nifti:{root}", size=32, fractions=(0.5, 0.5, 0.5))


def brain_n_subjects_true(tmp: Path):
    from medgen_nb.data.brain_phantom import load_brain_subjects

    return load_brain_subjects(True, progress=False)


def chest_n_subjects_true(tmp: Path):
    from medgen_nb.data.chest_ct import load_chest_subjects

    return load_chest_subjects(True, config=_chest_cfg(), progress=False)


def realdata_subjects_true(tmp: Path):
    from medgen_nb.data.realdata import load_dataset

    return load_dataset(f"nifti:{_nested(tmp / 'd', 3)}", size=32, subjects=True)


def realdata_size_true(tmp: Path):
    from medgen_nb.data.realdata import load_dataset

    return load_dataset(f"nifti:{_nested(tmp / 'd', 3)}", size=True)


def realdata_downsample_true(tmp: Path):
    from medgen_nb.data.realdata import load_dataset

    return load_dataset(f"nifti:{_nested(tmp / 'd', 3)}", size=32, downsample=True)


def chest_size_true(tmp: Path):
    from medgen_nb.data.chest_ct import chest_slice_datasets

    return chest_slice_datasets("ct", n_subjects=3, size=True, config=_chest_cfg(), progress=False)


def medmnist_limit_true(tmp: Path):
    from medgen_nb.data.realdata import load_medmnist

    fakes.fake_medmnist_npz(tmp / "m" / "pneumoniamnist.npz")
    return len(load_medmnist("pneumoniamnist", tmp / "m", limit=True)["train"])


def brain_seed_true(tmp: Path):
    from medgen_nb.data.brain_phantom import load_brain_subjects

    return load_brain_subjects(1, seed=True, progress=False)


# ---------------------------------------------------------------------------- nearby defects
def brain_identity_task(tmp: Path):
    from medgen_nb.data.slices import SliceDataset

    vol = np.random.default_rng(0).random((12, 12, 8)).astype(np.float32)
    ds = SliceDataset([_unit_subject({"t1": vol})], ["t1"], "t1", size=32, min_foreground=0.0)
    return float((ds.tensors()["image"] - ds.tensors()["target"]).abs().max())


def nifti_unknown_modality(tmp: Path):
    from medgen_nb.data.realdata import load_nifti_folder

    return load_nifti_folder(_nested(tmp / "d", 2), ["t1", "t2"], missing="skip")


def chest_nan_noise(tmp: Path):
    from medgen_nb.data.chest_ct import ChestCTConfig

    return ChestCTConfig(noise_hu=float("nan"))


def ultrasound_one_line(tmp: Path):
    from medgen_nb.data.ultrasound import UltrasoundConfig

    return UltrasoundConfig(n_lines=True)


def cbct_bool_streaks(tmp: Path):
    from medgen_nb.data.ct_physics import CBCTArtefacts

    return CBCTArtefacts(n_streaks=True)


def split_int_ids(tmp: Path):
    from medgen_nb.data.slices import split_subjects

    return split_subjects([1, 2, 3])


PROBES: list[Probe] = [
    Probe(
        "3",
        "chest CT: fresh cache, warm cache, warm base give identical arrays",
        chest_fresh_vs_warm,
        expect="result",
        check=lambda v, _: v[0] == v[1] == v[2],
    ),
    Probe("6a", "Subject of raw HU into SliceDataset", hu_subject_into_slices, hint="ct_window"),
    Probe("6a", "Subject of uint8 into SliceDataset", uint8_subject_into_slices, hint="[0, 1]"),
    Probe("6a", "UnpairedDataset of HU items", unpaired_of_hu_items, hint="[0, 1]"),
    Probe(
        "6a",
        "control: [0, 1] Subject with integer labels",
        unit_subject_with_labels,
        expect="result",
        check=lambda v, _: v[0] > 0 and v[1] == 7,
    ),
    Probe(
        "7",
        "kind of t1_corrected",
        lambda t: _kind_of(t, "t1_corrected"),
        "result",
        lambda v, _: v == "mr",
    ),  # fmt: skip
    Probe(
        "7", "kind of octopus", lambda t: _kind_of(t, "octopus"), "result", lambda v, _: v == "mr"
    ),  # fmt: skip
    Probe(
        "7", "kind of pct_x", lambda t: _kind_of(t, "pct_x"), "result", lambda v, _: v == "mr"
    ),  # fmt: skip
    Probe(
        "7", "control: kind of sCT", lambda t: _kind_of(t, "sCT"), "result", lambda v, _: v == "ct"
    ),  # fmt: skip
    Probe(
        "7",
        "control: kind of CBCT_fx1",
        lambda t: _kind_of(t, "CBCT_fx1"),
        "result",
        lambda v, _: v == "ct",
    ),  # fmt: skip
    Probe("8", "unpaired nifti with 3 subjects", unpaired_three_subjects, hint="subjects"),
    Probe("8", "every subject skipped", all_subjects_skipped, hint="subject"),
    Probe(
        "8",
        "split_subjects with no train fraction, 3 ids",
        split_without_train_fraction,
        expect="result",
        check=lambda v, _: _disjoint(v) and sum(map(len, v.values())) == 3 and not v["train"],
    ),
    Probe(
        "8",
        "control: unpaired, all subjects in train",
        unpaired_train_only,
        expect="result",
        check=lambda v, _: set(v) == {"train"} and len(v["train"]) > 0,
    ),
    Probe(
        "9b",
        "DICOM without PixelSpacing, missing='skip'",
        dicom_without_pixel_spacing_skip,
        expect="result",
        check=lambda v, _: v == ["good"],
    ),
    Probe(
        "9b", "DICOM without PixelSpacing", dicom_without_pixel_spacing_error, hint="PixelSpacing"
    ),
    Probe("10f", "DICOM with truncated pixel data", dicom_decode_error, hint="f2.dcm"),
    Probe("11e", "brain: bad fractions, before simulating", brain_bad_fractions, hint="fractions"),
    Probe("11e", "chest: bad fractions, before simulating", chest_bad_fractions, hint="fractions"),
    Probe(
        "11e", "drr_pairs: two fractions, before simulating", drr_bad_fractions, hint="fractions"
    ),
    Probe("11e", "nifti: bad fractions, before reading", realdata_bad_fractions, hint="fractions"),
    Probe("11f", "load_brain_subjects(True)", brain_n_subjects_true, hint="n_subjects"),
    Probe("11f", "load_chest_subjects(True)", chest_n_subjects_true, hint="n_subjects"),
    Probe("11f", "load_dataset(subjects=True)", realdata_subjects_true, hint="subjects"),
    Probe("11f", "load_dataset(size=True)", realdata_size_true, hint="size"),
    Probe("11f", "load_dataset(downsample=True)", realdata_downsample_true, hint="downsample"),
    Probe("11f", "chest_slice_datasets(size=True)", chest_size_true, hint="size"),
    Probe("11f", "load_medmnist(limit=True)", medmnist_limit_true, hint="limit"),
    Probe("11f", "load_brain_subjects(seed=True)", brain_seed_true, hint="seed"),
    Probe(
        "near",
        "SliceDataset target == source (identity task)",
        brain_identity_task,
        hint="also a source",
    ),  # fmt: skip
    Probe("near", "NIfTI modality that no subject has", nifti_unknown_modality, hint="found"),
    Probe("near", "ChestCTConfig(noise_hu=nan)", chest_nan_noise, hint="noise_hu"),
    Probe("near", "UltrasoundConfig(n_lines=True)", ultrasound_one_line, hint="n_lines"),
    Probe("near", "CBCTArtefacts(n_streaks=True)", cbct_bool_streaks, hint="n_streaks"),
    Probe("near", "split_subjects of int ids", split_int_ids, hint="str"),
]
