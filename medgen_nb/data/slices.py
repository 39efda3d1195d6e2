"""Subjects (co-registered 3-D volumes) and the 2-D slice datasets every notebook trains on.

A :class:`Subject` holds one person's volumes, already mapped to [0, 1] by the rules of
:mod:`medgen_nb.data.intensity`, plus label maps. :class:`SliceDataset` cuts them into 2-D slices
along a plane, resamples to a square size, and returns dicts of tensors. Splits are always **by
subject**: :func:`split_subjects` never puts one subject in two splits.

Every item is a dict:

=========  ===================  ==================================================
key        shape                meaning
=========  ===================  ==================================================
image      (C, S, S) float32    the ``sources`` modalities stacked, in [0, 1]
target     (1, S, S) float32    the ``target`` modality, in [0, 1] (if one was asked for)
mask       (1, S, S) float32    foreground (brain/body) mask, {0, 1}
seg        (S, S) int64         label map (if ``seg_key`` was given), 0 = background
label      () int64             class label (if ``label_from`` was given)
subject    () int64             index into ``dataset.subject_ids``
slice      () int64             slice index in the resampled volume
=========  ===================  ==================================================
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from medgen_nb.data.checks import check_fractions, split_sizes
from medgen_nb.data.intensity import IntensityMap, check_unit_range
from medgen_nb.data.modalities import resolve as resolve_modality

Plane = Literal["axial", "coronal", "sagittal"]
PLANES: tuple[str, ...] = ("axial", "coronal", "sagittal")
SIZES: tuple[int, ...] = (32, 64, 128, 256)
SPLITS: tuple[str, ...] = ("train", "val", "test")
# Axis of a (X, Y, Z) RAS-ordered volume that each plane slices along.
_PLANE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}


@dataclass
class Subject:
    """One (real or simulated) subject: co-registered volumes on one voxel grid.

    Attributes:
        subject_id: unique id, e.g. ``"phantom-0007"``.
        images: modality name -> ``(X, Y, Z)`` float32 array in [0, 1] (RAS axis order); other
            dtypes or ranges (raw HU, uint8) raise ``ValueError`` (see
            :func:`~medgen_nb.data.intensity.check_unit_range`).
        intensity: modality name -> the :class:`IntensityMap` that maps it back to physical units.
        spacing_mm: voxel size along X, Y, Z in mm.
        labels: name -> ``(X, Y, Z)`` integer label map (e.g. ``"tissue"``, ``"lesion"``).
        mask: ``(X, Y, Z)`` bool foreground (head/body) mask, or None for all-foreground.
        meta: anything else (simulation parameters, subject class, source files).
    """

    subject_id: str
    images: dict[str, np.ndarray]
    intensity: dict[str, IntensityMap]
    spacing_mm: tuple[float, float, float]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    mask: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.images:
            raise ValueError(f"subject {self.subject_id}: a Subject needs at least one image")
        for name, vol in self.images.items():
            if not isinstance(vol, np.ndarray):
                raise TypeError(
                    f"subject {self.subject_id}: image {name!r} must be a numpy array, got "
                    f"{type(vol).__name__}; pass e.g. tensor.numpy()"
                )
        sp = self.spacing_mm
        if len(sp) != 3 or not all(isinstance(v, numbers.Real) and 0 < v < math.inf for v in sp):
            raise ValueError(
                f"subject {self.subject_id}: spacing_mm must be three positive voxel sizes in mm "
                f"(X, Y, Z), got {sp!r}"
            )
        shapes = {k: v.shape for k, v in {**self.images, **self.labels}.items()}
        if self.mask is not None:
            shapes["mask"] = self.mask.shape
        if len(set(shapes.values())) > 1:
            raise ValueError(f"subject {self.subject_id}: volumes are not on one grid: {shapes}")
        for name, vol in self.images.items():
            if vol.ndim != 3:
                raise ValueError(
                    f"subject {self.subject_id}: image {name!r} must be 3-D, got shape {vol.shape}"
                )
            check_unit_range(vol, f"subject {self.subject_id}: image {name!r}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return next(iter(self.images.values())).shape


def split_subjects(
    subject_ids: Sequence[str], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> dict[str, list[str]]:
    """Assign each subject to train/val/test by a hash of its id (stable as subjects are added).

    At least one subject goes to each split with a positive fraction when there are three or more
    subjects (sizes: :func:`~medgen_nb.data.checks.split_sizes`); no subject is in two splits.
    """
    fractions = check_fractions(fractions)
    if isinstance(subject_ids, str) or not all(isinstance(s, str) for s in subject_ids):
        got = repr(subject_ids)[:120]
        raise TypeError(f"subject_ids must be a list of str ids (Subject.subject_id), got {got}")
    if len(set(subject_ids)) != len(subject_ids):
        raise ValueError("subject ids must be unique")
    ranked = sorted(subject_ids, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    n_train, n_val, _ = split_sizes(len(ranked), fractions)
    return {
        "train": ranked[:n_train],
        "val": ranked[n_train : n_train + n_val],
        "test": ranked[n_train + n_val :],
    }


def check_slice_args(
    plane: str,
    size: int,
    min_foreground: float = 0.05,
    label_from: object = None,
    seg_key: str | None = None,
    sources: Sequence[str] | str = (),
    target: str | None = None,
) -> None:
    """The :class:`SliceDataset` arguments that need no data, checked before any is loaded."""
    if target is not None and target in ([sources] if isinstance(sources, str) else sources):
        raise ValueError(
            f"target {target!r} is also a source: the task would be the identity (a perfect score "
            "for copying the input); pick another target, or target=None for image creation"
        )
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {PLANES}, got {plane!r}")
    if isinstance(size, bool) or size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if (
        isinstance(min_foreground, bool)
        or not isinstance(min_foreground, int | float)
        or not 0 <= min_foreground <= 1
    ):
        raise ValueError(f"min_foreground must be a fraction in [0, 1], got {min_foreground!r}")
    if not (
        label_from is None
        or callable(label_from)
        or label_from == "seg_present"
        or (isinstance(label_from, str) and label_from.startswith("meta:") and label_from[5:])
    ):
        raise ValueError(
            f"label_from must be 'seg_present', 'meta:KEY', a callable or None, got {label_from!r}"
        )
    if label_from == "seg_present" and seg_key is None:
        raise ValueError("label_from='seg_present' needs seg_key")


def _to_slices(volume: np.ndarray, plane: str, size: int, mode: str) -> torch.Tensor:
    """``(X, Y, Z)`` -> ``(N, size, size)`` slices along ``plane``, anterior/superior up, padded square."""
    t = torch.from_numpy(np.ascontiguousarray(volume))
    axis = _PLANE_AXIS[plane]
    t = t.movedim(axis, 0)  # (N, a, b) with a, b the in-plane axes in RAS order
    t = torch.rot90(t, k=1, dims=(1, 2))  # second in-plane axis up, as radiologists view it
    n, a, b = t.shape
    side = max(a, b)
    pad = ((side - b) // 2, side - b - (side - b) // 2, (side - a) // 2, side - a - (side - a) // 2)
    is_label = mode == "nearest"
    t = t.float().unsqueeze(1)
    t = F.pad(t, pad, value=0.0)
    if side != size:
        t = (
            F.interpolate(t, size=(size, size), mode=mode)
            if is_label
            else F.interpolate(
                t, size=(size, size), mode="bilinear", align_corners=False, antialias=size < side
            )
        )
    return t[:, 0]


class SliceBuilder:
    """Cuts subjects into the slices of one :class:`SliceDataset`, one subject at a time.

    :class:`SliceDataset` uses it on a list of subjects. Callers that load subjects one by one
    (the task builder, for populations too large to hold at once) call :meth:`add` per subject with
    its position in the split, drop the subject, and :meth:`finish` a data set identical to
    ``SliceDataset(subjects_in_position_order, ...)``. Only the resampled slices are kept.
    """

    def __init__(
        self,
        sources: Sequence[str] | str,
        target: str | None = None,
        plane: Plane = "axial",
        size: int = 128,
        seg_key: str | None = None,
        label_from: str | Callable[[Subject, torch.Tensor], int] | None = None,
        min_foreground: float = 0.05,
        keep_slices: Callable[[Subject, int], np.ndarray] | None = None,
    ) -> None:
        if isinstance(sources, str):
            sources = [sources]
        if not sources:
            raise ValueError("sources must name at least one modality")
        self._requested = (list(sources), target)
        self.sources: list[str] | None = None  # resolved against the first subject's images
        self.target: str | None = None
        self.plane, self.size, self.seg_key = plane, size, seg_key
        self.label_from, self.min_foreground, self.keep_slices = (
            label_from,
            min_foreground,
            keep_slices,
        )
        self._parts: dict[int, tuple[str, dict, dict[str, torch.Tensor] | None]] = {}

    def check(self, subject: Subject) -> None:
        """Resolve modality aliases against ``subject`` and check the arguments (once)."""
        if self.sources is not None:
            return
        sources, target = self._requested
        # any alias names the subject's own key ("t2" -> "t2w"; see medgen_nb.data.modalities)
        available = list(subject.images)
        sources = [resolve_modality(name, available) for name in sources]
        target = resolve_modality(target, available) if target else None
        check_slice_args(
            self.plane,
            self.size,
            self.min_foreground,
            self.label_from,
            self.seg_key,
            sources,
            target,
        )
        if self.seg_key is not None and self.seg_key not in subject.labels:
            raise ValueError(
                f"unknown label map {self.seg_key!r}; this data set has {sorted(subject.labels)}"
            )
        self.sources, self.target = sources, target

    def check_images(self, subject: Subject) -> None:
        assert self.sources is not None, "check() a subject first"
        for name in dict.fromkeys([*self.sources, *([self.target] if self.target else [])]):
            check_unit_range(subject.images[name], f"subject {subject.subject_id}: image {name!r}")

    def add(self, subject: Subject, position: int, *, checked: bool = False) -> None:
        """Slice ``subject``, the ``position``-th subject of the data set (0-based, unique)."""
        if position in self._parts:
            raise ValueError(f"position {position} was already added")
        self.check(subject)
        if not checked:
            self.check_images(subject)
        self._parts[position] = (subject.subject_id, subject.intensity, self._slice(subject))

    def _slice(self, subject: Subject) -> dict[str, torch.Tensor] | None:
        plane, size, seg_key, target = self.plane, self.size, self.seg_key, self.target
        mask = subject.mask if subject.mask is not None else np.ones(subject.shape, bool)
        m = _to_slices(mask.astype(np.float32), plane, size, "nearest") > 0.5
        keep = m.flatten(1).float().mean(1) >= self.min_foreground
        if self.keep_slices is not None:
            rule = np.asarray(self.keep_slices(subject, _PLANE_AXIS[plane]), dtype=bool)
            if rule.shape != (len(keep),):
                raise ValueError(
                    f"keep_slices must return {len(keep)} booleans for subject "
                    f"{subject.subject_id}, got shape {rule.shape}"
                )
            keep &= torch.from_numpy(rule)
        idx = torch.nonzero(keep)[:, 0]
        if len(idx) == 0:
            return None
        img = torch.stack(
            [_to_slices(subject.images[s], plane, size, "bilinear") for s in self.sources], 1
        )
        out = {"image": img[idx].clamp(0, 1).half(), "mask": m[idx][:, None], "slice": idx}
        if target:
            out["target"] = (
                _to_slices(subject.images[target], plane, size, "bilinear")[idx]
                .clamp(0, 1)
                .half()[:, None]
            )
        seg = (
            _to_slices(subject.labels[seg_key], plane, size, "nearest").long()[idx]
            if seg_key
            else None
        )
        if seg is not None:
            out["seg"] = seg.to(torch.uint8) if seg.max() < 256 else seg
        if self.label_from is not None:
            out["label"] = torch.tensor(
                [
                    SliceDataset._label(self.label_from, subject, None if seg is None else seg[i])
                    for i in range(len(idx))
                ]
            )
        return out

    def finish(self, dataset: SliceDataset | None = None) -> SliceDataset:
        """The data set of every added subject, in position order (positions 0..N-1)."""
        if sorted(self._parts) != list(range(len(self._parts))) or not self._parts:
            raise ValueError(
                f"positions must be 0..N-1, each added once; got {sorted(self._parts)}"
            )
        obj = SliceDataset.__new__(SliceDataset) if dataset is None else dataset
        obj.sources, obj.target = list(self.sources), self.target
        obj.plane, obj.size, obj.seg_key = self.plane, self.size, self.seg_key
        ordered = [self._parts[k] for k in range(len(self._parts))]
        obj.subject_ids = [sid for sid, _, _ in ordered]
        obj.intensity = {sid: maps for sid, maps, _ in ordered}
        filled = [(k, arrays) for k, (_, _, arrays) in enumerate(ordered) if arrays is not None]
        if not filled:
            raise ValueError(
                f"no slice has at least {self.min_foreground:.0%} foreground; lower min_foreground"
            )

        def cat(key: str) -> torch.Tensor | None:
            parts = [a[key] for _, a in filled if key in a]
            return torch.cat(parts) if parts else None

        obj._image, obj._target, obj._mask = cat("image"), cat("target"), cat("mask")
        obj._seg = cat("seg")
        label = cat("label")
        obj._label = label.long() if label is not None else None
        obj._subject = torch.cat([torch.full((len(a["slice"]),), k) for k, a in filled])
        obj._slice = cat("slice")
        return obj


class SliceDataset(Dataset):
    """2-D slices of co-registered subjects, resampled to ``size`` x ``size``.

    Args:
        subjects: the subjects of one split (use :func:`split_subjects` to make splits).
        sources: modality names stacked as ``image`` channels.
        target: modality returned as ``target`` (translation), or None (creation).
        plane: ``"axial"``, ``"coronal"`` or ``"sagittal"``.
        size: output side in pixels, one of :data:`SIZES`.
        seg_key: a ``Subject.labels`` name returned as ``seg``.
        label_from: ``"seg_present"`` (1 if the slice's ``seg`` has any foreground), ``"meta:KEY"``
            (the subject's ``meta[KEY]``), a callable ``(subject, seg_slice) -> int``, or None.
        min_foreground: drop slices whose mask covers less than this fraction of the slice.
        keep_slices: optional rule ``(subject, axis) -> (N,) bool`` over the subject's slices
            along the sliced volume axis (0, 1 or 2); slices it marks False are dropped too (e.g.
            slices with too little brain tissue, :func:`medgen_nb.tasks.base.brain_fraction_filter`).

    All slices are resampled once, at construction, and kept as float16, so indexing is cheap.
    """

    def __init__(
        self,
        subjects: Sequence[Subject],
        sources: Sequence[str],
        target: str | None = None,
        plane: Plane = "axial",
        size: int = 128,
        seg_key: str | None = None,
        label_from: str | Callable[[Subject, torch.Tensor], int] | None = None,
        min_foreground: float = 0.05,
        keep_slices: Callable[[Subject, int], np.ndarray] | None = None,
    ) -> None:
        if not subjects:
            raise ValueError("no subjects given; check the split or the data folder")
        builder = SliceBuilder(
            sources, target, plane, size, seg_key, label_from, min_foreground, keep_slices
        )
        builder.check(subjects[0])
        for subject in subjects:  # again: a Subject's images may have been replaced since
            builder.check_images(subject)
        for k, subject in enumerate(subjects):
            builder.add(subject, k, checked=True)
        builder.finish(self)

    _ARRAYS = ("_image", "_target", "_mask", "_seg", "_label", "_subject", "_slice")

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and JSON-ready metadata that rebuild this data set exactly (:meth:`from_state`)."""
        arrays = {
            name[1:]: getattr(self, name).numpy()
            for name in self._ARRAYS
            if getattr(self, name) is not None
        }
        meta = {
            "sources": self.sources,
            "target": self.target,
            "plane": self.plane,
            "size": self.size,
            "seg_key": self.seg_key,
            "subject_ids": self.subject_ids,
            "intensity": {
                sid: {m: dataclasses.asdict(f) for m, f in maps.items()}
                for sid, maps in self.intensity.items()
            },
        }
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict) -> SliceDataset:
        """The data set :meth:`state` describes, without re-slicing any volume."""
        obj = cls.__new__(cls)
        obj.sources, obj.target = list(meta["sources"]), meta["target"]
        obj.plane, obj.size, obj.seg_key = meta["plane"], int(meta["size"]), meta["seg_key"]
        obj.subject_ids = list(meta["subject_ids"])
        obj.intensity = {
            sid: {m: IntensityMap(**f) for m, f in maps.items()}
            for sid, maps in meta["intensity"].items()
        }
        for name in cls._ARRAYS:
            value = arrays.get(name[1:])
            setattr(obj, name, None if value is None else torch.from_numpy(np.array(value)))
        return obj

    @staticmethod
    def _label(label_from, subject: Subject, seg_slice: torch.Tensor | None) -> int:
        if callable(label_from):
            return int(label_from(subject, seg_slice))
        if label_from == "seg_present":
            return int(bool((seg_slice > 0).any()))
        if isinstance(label_from, str) and label_from.startswith("meta:"):
            key = label_from[5:]
            if key not in subject.meta:
                raise ValueError(
                    f"subject {subject.subject_id} has no meta[{key!r}]; its meta keys are "
                    f"{sorted(subject.meta)}"
                )
            return int(subject.meta[key])
        raise ValueError(
            f"label_from must be 'seg_present', 'meta:KEY', a callable or None, got {label_from!r}"
        )

    def __len__(self) -> int:
        return len(self._image)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {
            "image": self._image[i].float(),
            "mask": self._mask[i].float(),
            "subject": self._subject[i],
            "slice": self._slice[i],
        }
        if self._target is not None:
            item["target"] = self._target[i].float()
        if self._seg is not None:
            item["seg"] = self._seg[i].long()
        if self._label is not None:
            item["label"] = self._label[i]
        return item

    @property
    def num_classes(self) -> int:
        """Number of distinct labels (0 if the dataset has none)."""
        return 0 if self._label is None else int(self._label.max()) + 1

    def tensors(self) -> dict[str, torch.Tensor]:
        """All items at once as float32 tensors (``image``, ``target``...), for metrics and plots."""
        out = {"image": self._image.float(), "mask": self._mask.float(), "subject": self._subject}
        if self._target is not None:
            out["target"] = self._target.float()
        if self._seg is not None:
            out["seg"] = self._seg.long()
        if self._label is not None:
            out["label"] = self._label
        return out


class ModalityMix(Dataset):
    """Slices of several modalities of the same subjects, each labelled with its modality.

    ``ModalityMix([ds_t1w, ds_t2w, ...])`` holds every item of every part; an item's ``label`` is
    the index of its part, so a class-conditional generator can be asked for a contrast and a
    classifier can check it got one. The parts must be :class:`SliceDataset` objects of one
    modality each, cut from the same subjects in the same order at the same size (their
    ``subject`` indices then mean the same person).
    """

    def __init__(self, parts: Sequence[SliceDataset]) -> None:
        if len(parts) < 2:
            raise ValueError(f"a modality mix needs at least 2 parts, got {len(parts)}")
        first = parts[0]
        for part in parts:
            if len(part.sources) != 1 or part.target is not None:
                raise ValueError(
                    f"each part holds one modality and no target, got sources {part.sources} "
                    f"and target {part.target!r}"
                )
            if part.subject_ids != first.subject_ids or part.size != first.size:
                raise ValueError("the parts must be cut from the same subjects at the same size")
        self.modalities = [part.sources[0] for part in parts]
        if len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"each modality may appear once, got {self.modalities}")
        self.subject_ids, self.size = first.subject_ids, first.size
        self.sources, self.target = ["mix"], None
        self.intensity = first.intensity
        self.parts = tuple(parts)  # part k holds the slices of self.modalities[k]
        self._offsets = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        i %= len(self)
        k = int(np.searchsorted(self._offsets, i, side="right")) - 1
        item = self.parts[k][i - int(self._offsets[k])]
        return item | {"label": torch.tensor(k)}

    @property
    def num_classes(self) -> int:
        return len(self.parts)

    def tensors(self) -> dict[str, torch.Tensor]:
        """All items at once; ``label`` is the modality index (``self.modalities[label]``)."""
        parts = [p.tensors() for p in self.parts]
        out = {k: torch.cat([t[k] for t in parts]) for k in parts[0] if k != "label"}
        out["label"] = torch.cat(
            [torch.full((len(t["image"]),), k, dtype=torch.int64) for k, t in enumerate(parts)]
        )
        return out


class UnpairedDataset(Dataset):
    """Unpaired translation data: ``image`` from domain A and ``target`` from an unrelated item of B.

    Each index ``i`` pairs A's item ``i`` with B's item ``perm[i % len(B)]``, where ``perm`` is a fixed
    random permutation, so no pair comes from the same slice unless by chance. Each domain's first
    item must be a dict whose ``image`` is a float tensor in [0, 1] (``ValueError`` otherwise).
    """

    def __init__(self, domain_a: Dataset, domain_b: Dataset, seed: int = 0) -> None:
        if len(domain_a) == 0 or len(domain_b) == 0:
            raise ValueError("both domains need at least one item")
        for what, domain in (("domain_a", domain_a), ("domain_b", domain_b)):
            item = domain[0]  # a spot check of the first item: every item would cost a pass
            if not isinstance(item, dict) or not isinstance(item.get("image"), torch.Tensor):
                raise ValueError(
                    f"{what} items must be a dict with an 'image' tensor (as SliceDataset gives), "
                    f"got {type(item).__name__}"
                    + (f" with keys {sorted(item)}" if isinstance(item, dict) else "")
                )
            check_unit_range(item["image"], f"{what}[0]['image']")
        self.a, self.b = domain_a, domain_b
        self.perm = torch.randperm(len(domain_b), generator=torch.Generator().manual_seed(seed))

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item_a = self.a[i]
        item_b = self.b[int(self.perm[i % len(self.b)])]
        return {"image": item_a["image"], "target": item_b["image"]}
