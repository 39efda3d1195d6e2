"""Task declarations: everything a fair comparison needs, and nothing that trains.

A task says which data, which modalities go in and come out, at what size, how subjects are split,
which slices count, which pixels the metrics look at, and which metrics (with units and direction)
are reported. :meth:`TranslationTask.build` turns the declaration into datasets by calling the
data layer; models, training and scoring live in :mod:`medgen_nb.evaluation`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from torch.utils.data import Dataset

from medgen_nb.data import modalities as vocab
from medgen_nb.data.alignment import check_alignment

TaskKind = Literal["translation", "creation", "downstream"]
# Brain tissue labels of the phantom (CSF, grey and white matter): see medgen_nb.data.brain_phantom.
BRAIN_TISSUE_LABELS: tuple[int, ...] = (1, 2, 3)


@dataclass(frozen=True)
class MetricSpec:
    """One reported metric: its name in results tables, unit and which direction is better."""

    name: str
    unit: str
    higher_is_better: bool
    description: str = ""


MAE = MetricSpec("mae", "[0, 1]", False, "mean absolute error of the [0, 1] images")
PSNR = MetricSpec("psnr", "dB", True, "peak signal-to-noise ratio, data range 1")
SSIM = MetricSpec("ssim", "", True, "structural similarity (11-px Gaussian windows), over the mask")
MAE_HU = MetricSpec("mae_hu", "HU", False, "MAE in Hounsfield units over the mask")
MAE_HU_BONE = MetricSpec("mae_hu_bone", "HU", False, "MAE in HU where the target is >= 250 HU")
MAE_HU_SOFT = MetricSpec(
    "mae_hu_soft_tissue", "HU", False, "MAE in HU where the target lies in [-100, 100] HU"
)
MAE_SUV = MetricSpec("mae_suv", "SUV", False, "MAE in standardised uptake values over the mask")
TRANSLATION_METRICS: tuple[MetricSpec, ...] = (MAE, PSNR, SSIM)
CT_METRICS: tuple[MetricSpec, ...] = (MAE_HU, MAE_HU_BONE, MAE_HU_SOFT)
PET_METRICS: tuple[MetricSpec, ...] = (MAE_SUV,)

FID = MetricSpec("fid", "", False, "Frechet distance of medical features (N >= 640 for 128-D)")
KID = MetricSpec("kid", "", False, "kernel inception distance of medical features (unbiased)")
PRECISION = MetricSpec("precision", "", True, "k-NN precision (fidelity)")
RECALL = MetricSpec("recall", "", True, "k-NN recall (coverage of the real modes)")
DENSITY = MetricSpec("density", "", True, "k-NN density (Naeem et al. 2020)")
COVERAGE = MetricSpec("coverage", "", True, "k-NN coverage (Naeem et al. 2020)")
CREATION_METRICS: tuple[MetricSpec, ...] = (FID, KID, PRECISION, RECALL, DENSITY, COVERAGE)

BALANCED_ACCURACY = MetricSpec("balanced_accuracy", "", True, "mean per-class recall")
AUC = MetricSpec("auc", "", True, "area under the ROC curve (macro over classes)")
DICE = MetricSpec("dice", "", True, "Dice overlap of the foreground classes")
DETECTION_RECALL = MetricSpec(
    "recall_iou50", "", True, "share of true objects found with IoU >= 0.5"
)
DETECTION_PRECISION = MetricSpec(
    "precision_iou50", "", True, "share of detections that match an object with IoU >= 0.5"
)


def metric_set(target: str) -> tuple[MetricSpec, ...]:
    """The translation metrics for a target modality: Table 5's three, plus HU or SUV errors."""
    kind = vocab.kind(target)
    extra = CT_METRICS if kind == "ct" else PET_METRICS if kind == "pet" else ()
    return TRANSLATION_METRICS + extra


@dataclass(frozen=True)
class TaskBase:
    """Fields every task has. ``data`` is ``"phantom"`` or a real data set's name."""

    name: str
    description: str
    region: Literal["brain", "chest", "pelvis", "any"]
    data: str = "phantom"
    size: int = 64
    n_subjects: int = 20
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    review: str = ""
    loader_kwargs: tuple[tuple[str, Any], ...] = ()

    kind: TaskKind = field(default="translation", init=False)

    def record(self) -> dict[str, Any]:
        """The declaration as plain JSON values (part of every run record and checkpoint key)."""
        out = dataclasses.asdict(self)
        return json.loads(json.dumps(out, default=str))

    def key(self) -> str:
        """A short hash of :meth:`record`: two tasks with the same key make the same data."""
        blob = json.dumps(self.record(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def metrics(self) -> tuple[MetricSpec, ...]:  # pragma: no cover - overridden
        return ()


@dataclass(frozen=True)
class TranslationTask(TaskBase):
    """Source modalities -> one target modality, on co-registered slices.

    Attributes:
        sources: canonical source modalities (stacked as image channels).
        target: canonical target modality.
        mask: ``"foreground"`` scores inside the head or body mask (the main tables), ``None`` the
            whole slice.
        min_foreground: a slice counts if its mask covers at least this fraction of it.
        min_brain: brain phantom only: a slice counts if brain tissue (CSF, GM, WM) fills at least
            this fraction of its head mask, which drops skull-base and neck slices that hold no
            brain.
        data_range: of the [0, 1] images (PSNR, SSIM).
        spatial_dims: 2 (slices, ``size`` x ``size`` px) or 3 (whole volumes of ``size``³
            voxels, :class:`medgen_nb.data.volumes.VolumeDataset`; 3-D models train on patches
            of them and predict whole volumes tile by tile). The slice rules ``min_foreground``
            and ``min_brain`` apply to slices only.
        alignment: phantom slice tasks: how well the sources are registered to the target, one of
            :data:`~medgen_nb.data.alignment.ALIGNMENTS` (``"perfect"`` is the aligned ground
            truth; ``"registered"`` leaves the residuals of clinical registration; the target never
            moves). The DRR task (target ``"xray"``) and real data ignore it: real pairs are as
            registered as their data set made them.
    """

    sources: tuple[str, ...] = ("t1w",)
    target: str = "t2w"
    mask: Literal["foreground"] | None = "foreground"
    min_foreground: float = 0.05
    min_brain: float = 0.0
    data_range: float = 1.0
    alignment: str = "registered"
    spatial_dims: int = 2

    kind: TaskKind = field(default="translation", init=False)

    def __post_init__(self) -> None:
        check_alignment(self.alignment)
        if isinstance(self.spatial_dims, bool) or self.spatial_dims not in (2, 3):
            raise ValueError(
                f"task {self.name!r}: spatial_dims must be 2 (slices) or 3 (volumes), got "
                f"{self.spatial_dims!r}"
            )
        object.__setattr__(self, "sources", tuple(vocab.canonical_all(self.sources)))
        object.__setattr__(self, "target", vocab.canonical(self.target))
        if self.target in self.sources:
            raise ValueError(f"task {self.name!r}: the target {self.target!r} is also a source")

    def record(self) -> dict[str, Any]:
        out = super().record()
        if self.spatial_dims == 2:  # records (and cached runs) of slice tasks stay as they were
            del out["spatial_dims"]
        return out

    @property
    def metrics(self) -> tuple[MetricSpec, ...]:
        return metric_set(self.target)


@dataclass(frozen=True)
class CreationTask(TaskBase):
    """New images of one modality, unconditional or conditioned on a class label or a mask.

    Attributes:
        modality: the canonical modality generated.
        modalities: phantom tasks: several modalities of the same subjects instead of one; every
            slice of each is an item and, with ``label_from="modality"``, its class is the
            modality's index here (``modality`` is then the first of them).
        conditioning: ``None``, ``"label"`` (``label_from`` gives each slice its class) or
            ``"mask"`` (the ``seg_key`` label map is the condition).
        label_from, seg_key: as in :class:`medgen_nb.data.slices.SliceDataset`, or
            ``"modality"`` with ``modalities``.
        min_samples: samples to score (FID needs several times the feature dimension).
    """

    modality: str = "t1w"
    conditioning: Literal["label", "mask"] | None = None
    label_from: str | None = None
    seg_key: str | None = None
    min_foreground: float = 0.05
    min_brain: float = 0.0
    min_samples: int = 640
    modalities: tuple[str, ...] = ()

    kind: TaskKind = field(default="creation", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "modality", vocab.canonical(self.modality))
        if self.modalities:
            mods = tuple(vocab.canonical(m) for m in self.modalities)
            if len(mods) < 2 or len(set(mods)) != len(mods):
                raise ValueError(
                    f"task {self.name!r}: modalities must name 2 or more distinct modalities, "
                    f"got {self.modalities}"
                )
            if self.data != "phantom":
                raise ValueError(f"task {self.name!r}: modalities= is for phantom tasks")
            object.__setattr__(self, "modalities", mods)
            object.__setattr__(self, "modality", mods[0])
        if (self.label_from == "modality") != bool(self.modalities):
            raise ValueError(
                f"task {self.name!r}: label_from='modality' and modalities= go together"
            )
        if self.conditioning == "label" and self.label_from is None:
            raise ValueError(f"task {self.name!r}: conditioning='label' needs label_from")
        if self.conditioning == "mask" and self.seg_key is None:
            raise ValueError(f"task {self.name!r}: conditioning='mask' needs seg_key")

    def record(self) -> dict[str, Any]:
        out = super().record()
        if not self.modalities:  # records (and cached runs) of one-modality tasks stay as they were
            del out["modalities"]
        return out

    @property
    def metrics(self) -> tuple[MetricSpec, ...]:
        return CREATION_METRICS


@dataclass(frozen=True)
class DownstreamTask(TaskBase):
    """A classifier, segmenter or detector trained on real, synthetic or mixed images.

    Attributes:
        problem: ``"classification"``, ``"segmentation"`` or ``"detection"``.
        modality: the canonical input modality.
        label_from: classification: how a slice gets its class.
        seg_key: segmentation and detection: the label map (detection: one instance id per object).
        num_classes: classes (classification) or label values (segmentation, incl. background).
    """

    problem: Literal["classification", "segmentation", "detection"] = "classification"
    modality: str = "t1w"
    label_from: str | None = None
    seg_key: str | None = None
    num_classes: int = 2
    min_foreground: float = 0.05
    min_brain: float = 0.0

    kind: TaskKind = field(default="downstream", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "modality", vocab.canonical(self.modality))
        if self.problem == "classification" and self.label_from is None:
            raise ValueError(f"task {self.name!r}: classification needs label_from")
        if self.problem in ("segmentation", "detection") and self.seg_key is None:
            raise ValueError(f"task {self.name!r}: {self.problem} needs seg_key")

    @property
    def metrics(self) -> tuple[MetricSpec, ...]:
        if self.problem == "classification":
            return (BALANCED_ACCURACY, AUC)
        if self.problem == "segmentation":
            return (DICE,)
        return (DETECTION_RECALL, DETECTION_PRECISION)


Task = TranslationTask | CreationTask | DownstreamTask


@dataclass
class TaskData:
    """A built task: its datasets by split, and the sizes they were built at.

    Attributes:
        task: the declaration.
        splits: ``"train"``/``"val"``/``"test"`` -> dataset (items as in
            :class:`medgen_nb.data.slices.SliceDataset`).
        size, n_subjects, seed: what :meth:`build` was called with (part of run records).
        site, test_site: the simulated scanner sites of the training/validation and the test
            subjects (:mod:`medgen_nb.data.sites`; None: the phantom's default scanners).
    """

    task: Task
    splits: dict[str, Dataset]
    size: int
    n_subjects: int
    seed: int
    site: str | None = None
    test_site: str | None = None

    def __getitem__(self, split: str) -> Dataset:
        if split not in self.splits:
            raise ValueError(
                f"task {self.task.name!r} has no {split!r} split; it has {sorted(self.splits)} "
                "(too few subjects give empty splits: raise n_subjects)"
            )
        return self.splits[split]

    def record(self) -> dict[str, Any]:
        """What identifies these data: the task declaration plus the build arguments."""
        return {
            "task": self.task.record(),
            "size": self.size,
            "n_subjects": self.n_subjects,
            "seed": self.seed,
            "simulator": simulator_versions(self.task),
            # Only when set, so records (and cached fits) of default-scanner data stay as they were.
            **({"site": self.site} if self.site is not None else {}),
            **({"test_site": self.test_site} if self.test_site is not None else {}),
        }


def simulator_versions(task: TaskBase) -> dict[str, str]:
    """Versions of the simulators behind a phantom task (empty for real data)."""
    if task.data != "phantom":
        return {}
    if task.region == "brain":
        from medgen_nb.data.brain_phantom import SIMULATOR_VERSION

        return {"brain_phantom": SIMULATOR_VERSION}
    from medgen_nb.data.chest_ct import SUBJECT_VERSION

    return {"chest_ct": str(SUBJECT_VERSION)}


def brain_fraction_filter(min_brain: float):
    """A ``keep_slices`` rule: brain tissue fills at least ``min_brain`` of the slice's head mask."""

    def keep(subject, axis: int) -> np.ndarray:
        tissue = subject.labels["tissue"]
        brain = np.isin(tissue, BRAIN_TISSUE_LABELS)
        head = subject.mask if subject.mask is not None else tissue > 0
        other = tuple(a for a in range(3) if a != axis)
        n_head = head.sum(axis=other)
        return brain.sum(axis=other) >= min_brain * np.maximum(n_head, 1)

    return keep
