"""Fit or load, and predict: the glue every notebook used to write by hand.

:func:`fit_or_load` keys a run by its complete record (model name and config, the task and how
its data were built, steps, batch, seed, simulator and package versions). It loads a pretrained
checkpoint whose record matches, else the cached one, else trains with :func:`medgen_nb.train.fit`
and caches the result with its record. :func:`predict` runs any :class:`Translator` or
:class:`Sampler` in batches, in eval mode, without gradients, on one device.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from medgen_nb.checkpoint import latest_checkpoint, load_training_state, model_name, restore_rng
from medgen_nb.data.slices import UnpairedDataset
from medgen_nb.data.volumes import PatchDataset, VolumeDataset, sliding_window
from medgen_nb.models.base import GenerativeModel, Sampler, Translator
from medgen_nb.tasks.base import TaskData
from medgen_nb.train import History, fit
from medgen_nb.utils import atomic_write, cache_dir, pick_device
from medgen_nb.version import __version__

# Unpaired translators train on two domains of *different* subjects (never one head in both).
UNPAIRED_MODELS: frozenset[str] = frozenset({"cyclegan", "unit", "cyclegan3d"})
RUN_RECORD = "run.json"


@dataclass
class FitResult:
    """What :func:`fit_or_load` did.

    Attributes:
        model: the trained model, in eval mode.
        history: training logs (empty for a fitted baseline).
        source: ``"pretrained"``, ``"cache"`` or ``"trained"``.
        record: the run record that keyed it.
        key: the record's hash (the checkpoint folder's suffix).
        checkpoint_dir: where the checkpoint lives (None for a baseline).
        seconds: wall time of this call.
    """

    model: Any
    history: History
    source: str
    record: dict[str, Any]
    key: str
    checkpoint_dir: Path | None
    seconds: float


class _TargetAsImage(Dataset):
    """A paired slice dataset seen as domain B of an unpaired set: its ``target`` as ``image``."""

    def __init__(self, data: Dataset) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.data[i]["target"]}


def unpaired_training_set(
    train: Dataset, seed: int = 0, *, lesion_free_b: bool = False
) -> UnpairedDataset:
    """Domain A = sources of half the training subjects, domain B = targets of the other half.

    Subjects alternate between the domains (by their index in the split), so no subject is in
    both: a model never sees the true partner of a source slice. ``lesion_free_b`` keeps in
    domain B only the slices whose ``label`` is 0 (no lesion), the setting in which a target
    domain without findings teaches a translator to erase them (Cohen et al. 2018).
    """
    tensors = train.tensors() if hasattr(train, "tensors") else None
    if tensors is None or "subject" not in tensors or "target" not in tensors:
        raise ValueError("unpaired training needs a paired slice dataset with subjects and targets")
    subject = tensors["subject"]
    ids = sorted(set(subject.tolist()))
    if len(ids) < 2:
        raise ValueError(
            f"unpaired training needs at least 2 training subjects (one per domain), got {len(ids)}"
        )
    in_a = torch.isin(subject, torch.tensor(ids[0::2]))
    in_b = ~in_a
    if lesion_free_b:
        if "label" not in tensors:
            raise ValueError(
                "lesion_free_b needs slice labels (label = 1 where a lesion is present)"
            )
        in_b &= tensors["label"].reshape(len(subject)) == 0
        if not in_b.any():
            raise ValueError("lesion_free_b: every domain-B slice has a lesion")
    a = Subset(train, torch.nonzero(in_a).flatten().tolist())
    b = Subset(train, torch.nonzero(in_b).flatten().tolist())
    return UnpairedDataset(a, _TargetAsImage(b), seed=seed)


PATCHES_PER_VOLUME = 64  # training patches cut from each volume of a 3-D task
PATCH_MIN_FOREGROUND = 0.1


def training_set(model: Any, data: Dataset, seed: int = 0) -> Dataset:
    """What ``model`` trains on from a split ``data``: the split itself, two subject-disjoint
    domains for an unpaired model, or seeded patches of the model's size for volumes."""
    name = _model_name(model)
    if isinstance(data, VolumeDataset):
        size = getattr(model, "config", {}).get("size")
        if getattr(model, "spatial_dims", 2) != 3 or size is None:
            raise ValueError(
                f"{type(model).__name__} is a 2-D model but this split holds 3-D volumes; use a "
                "3-D model (e.g. create('pix2pix3d')) or the task's 2-D variant"
            )

        def patches(volumes: VolumeDataset) -> PatchDataset:
            return PatchDataset(
                volumes, size, PATCHES_PER_VOLUME, min_foreground=PATCH_MIN_FOREGROUND, seed=seed
            )

        if name in UNPAIRED_MODELS:  # domain A: half the subjects' sources, B: the others' targets
            if len(data) < 2:
                raise ValueError("unpaired training needs at least 2 training subjects")
            a, b = data.subset(range(0, len(data), 2)), data.subset(range(1, len(data), 2))
            return UnpairedDataset(patches(a), _TargetAsImage(patches(b)), seed=seed)
        return patches(data)
    if name in UNPAIRED_MODELS and not isinstance(data, UnpairedDataset):
        return unpaired_training_set(data, seed)
    return data


def run_record(
    model: Any, task_data: TaskData, *, steps: int, batch_size: int, seed: int, split: str
) -> dict[str, Any]:
    """Everything that changes the trained weights, as plain JSON values.

    That includes the initial weights (``init_sha256``): ``fit(seed=)`` seeds the batch order, not
    a model created earlier, so two models of one config start from different weights unless the
    caller seeded before ``create``, and they must not share a cached run.
    """
    name = _model_name(model)
    record = {
        "model": name,
        "config": _plain(getattr(model, "config", {})),
        "init_sha256": weights_sha256(model) if isinstance(model, torch.nn.Module) else None,
        "data": task_data.record(),
        "train": {
            "split": split,
            "steps": steps,
            "batch_size": batch_size,
            "seed": seed,
            "pairing": "unpaired" if name in UNPAIRED_MODELS else "paired",
        },
        "medgen_nb": __version__,
    }
    if getattr(task_data.task, "spatial_dims", 2) == 3:  # how the volumes were cut into patches
        record["train"]["patches"] = {
            "per_volume": PATCHES_PER_VOLUME,
            "min_foreground": PATCH_MIN_FOREGROUND,
        }
    return record


def weights_sha256(model: torch.nn.Module) -> str:
    """SHA-256 over the names and float32 values of ``model.state_dict()`` (CPU copies)."""
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """``value`` as JSON values (tensors and numpy scalars become lists and numbers)."""

    def default(obj: Any) -> Any:
        if hasattr(obj, "tolist"):
            return obj.tolist()
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable")

    return json.loads(json.dumps(value, default=default))


def record_key(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def _model_name(model: Any) -> str:
    if isinstance(model, GenerativeModel):
        return model_name(model)
    return type(model).__name__


def _load_complete(
    model: GenerativeModel, folder: Path, record: dict, steps: int
) -> History | None:
    """Weights from ``folder`` if it holds this record's finished run, else None."""
    stored = folder / RUN_RECORD
    if not stored.is_file():
        return None
    try:
        if json.loads(stored.read_text()) != record:
            return None
    except (OSError, json.JSONDecodeError):
        return None
    found = latest_checkpoint(folder)
    if found is None:
        return None
    state = load_training_state(found, model, model.configure_optimizers())
    if state.step != steps:
        return None
    if state.rng is not None:  # as fit() does on resuming: what follows draws the same numbers
        restore_rng(state.rng)
    model.eval()
    return History.from_dict(state.history)


def fit_or_load(
    model: Any,
    task_data: TaskData,
    steps: int,
    *,
    batch_size: int = 16,
    seed: int = 0,
    split: str = "train",
    device: str | torch.device = "auto",
    pretrained: Sequence[str | os.PathLike] = (),
    cache: str | os.PathLike | None = None,
    progress: bool = False,
    **fit_kwargs: Any,
) -> FitResult:
    """Train ``model`` on ``task_data[split]`` for ``steps``, or load the run if it was done.

    Args:
        model: a freshly created model (``medgen_nb.models.create``), or a baseline with
            ``fit(source, target)`` (fitted on the split's tensors; nothing is cached).
        task_data: from :func:`medgen_nb.tasks.build`.
        steps, batch_size, seed: as in :func:`medgen_nb.train.fit` (all part of the run record).
        pretrained: folders searched first for ``<key>/run.json`` + checkpoint.
        cache: where trained runs are kept (default ``cache_dir("runs")``).
        fit_kwargs: other :func:`~medgen_nb.train.fit` options that do not change the weights'
            meaning (``precision``, ``checkpoint_every``, ``callbacks``, ``grad_clip`` is part of
            the record if given).

    Returns:
        :class:`FitResult`; ``result.model`` is ``model``, trained or loaded, in eval mode.
    """
    start = time.perf_counter()
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    data = task_data[split]
    record = run_record(
        model, task_data, steps=steps, batch_size=batch_size, seed=seed, split=split
    )
    if "grad_clip" in fit_kwargs:
        record["train"]["grad_clip"] = fit_kwargs["grad_clip"]
    key = record_key(record)
    if not isinstance(model, GenerativeModel):
        if not hasattr(model, "fit"):
            raise ValueError(
                f"{type(model).__name__} is neither a trainable model nor a baseline with fit()"
            )
        t = data.tensors()
        model.fit(t["image"], t["target"])
        return FitResult(
            model, History(), "trained", record, key, None, time.perf_counter() - start
        )

    folder_name = f"{task_data.task.name}-{record['model']}-{key}"
    for root in pretrained:
        history = _load_complete(model, Path(root) / key, record, steps)
        if history is not None:
            model.to(pick_device(device))
            return FitResult(
                model, history, "pretrained", record, key, Path(root) / key,
                time.perf_counter() - start,
            )  # fmt: skip
    folder = (Path(cache) if cache is not None else cache_dir("runs")) / folder_name
    history = _load_complete(model, folder, record, steps)
    if history is not None:
        model.to(pick_device(device))
        return FitResult(model, history, "cache", record, key, folder, time.perf_counter() - start)

    # unpaired models get two subject-disjoint domains, unless the data are unpaired already;
    # 3-D models get patches of the volumes
    train_data = training_set(model, data, seed)
    stored = folder / RUN_RECORD
    if (
        stored.exists() and json.loads(stored.read_text()) != record
    ):  # pragma: no cover - hash clash
        raise ValueError(f"{folder} holds another run; delete it or pass another cache folder")
    with atomic_write(stored, "w") as fh:  # written first: a resumed run checks it matches
        json.dump(record, fh, sort_keys=True)
    history = fit(
        model, train_data, steps, device=device, batch_size=batch_size, seed=seed,
        checkpoint_dir=folder, progress=progress, **fit_kwargs,
    )  # fmt: skip
    return FitResult(model, history, "trained", record, key, folder, time.perf_counter() - start)


def _device_of(model: Any) -> torch.device:
    params = getattr(model, "parameters", None)
    if callable(params):
        first = next(iter(params()), None)
        if first is not None:
            return first.device
    return torch.device("cpu")


@torch.no_grad()
def predict(
    model: Any,
    images: torch.Tensor | None = None,
    *,
    n: int | None = None,
    labels: torch.Tensor | None = None,
    batch_size: int = 64,
    seed: int = 0,
    overlap: float = 0.5,
    **kwargs: Any,
) -> torch.Tensor:
    """Run ``model`` in batches, in eval mode, without gradients; returns CPU float32 in [0, 1].

    * a :class:`Translator`: ``predict(model, images)`` with ``images`` ``(N, C, S, S)``, or
      volumes ``(N, C, S, S, S)``: a 3-D model of patch size ``P = model.config["size"]``
      translates them on overlapping ``P``³ tiles (``overlap``, ``batch_size`` tiles per call)
      blended by :func:`~medgen_nb.data.volumes.sliding_window`;
    * a :class:`Sampler`: ``predict(model, n=N)`` or ``predict(model, labels=labels)`` (one image
      per label), seeded by ``seed`` so the same call gives the same images. A stochastic
      translator (one whose ``translate`` takes a ``generator``, e.g. diffusion) is seeded
      the same way.

    ``kwargs`` go to ``translate``/``sample`` (e.g. ``steps=50, sampler="ddim"`` for diffusion).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    was_training = getattr(model, "training", False)
    model.eval()
    device = _device_of(model)
    try:
        if images is not None:
            if not isinstance(model, Translator):
                raise ValueError(f"{type(model).__name__} cannot translate images (no translate())")
            if not isinstance(images, torch.Tensor) or images.ndim not in (4, 5) or not len(images):
                got = (
                    tuple(images.shape)
                    if isinstance(images, torch.Tensor)
                    else type(images).__name__
                )
                raise ValueError(
                    f"images must be a non-empty (N, C, S, S) or (N, C, S, S, S) tensor, got {got}"
                )
            if "generator" in inspect.signature(model.translate).parameters:
                # a stochastic translator (diffusion): one seeded stream over all batches/tiles
                kwargs.setdefault("generator", torch.Generator(device=device).manual_seed(seed))
            size = getattr(model, "config", {}).get("size")
            if images.ndim == 5 and isinstance(model, GenerativeModel) and size is not None:
                # a patch model: whole volumes tile by tile (a voxelwise baseline takes them whole)
                return sliding_window(
                    lambda tiles: model.translate(tiles.to(device), **kwargs),
                    images, size, overlap=overlap, batch_size=batch_size,
                )  # fmt: skip
            out = [
                model.translate(images[i : i + batch_size].to(device), **kwargs).float().cpu()
                for i in range(0, len(images), batch_size)
            ]
            return torch.cat(out)
        if not isinstance(model, Sampler):
            raise ValueError(f"{type(model).__name__} cannot sample (no sample()); pass images")
        if labels is not None:
            labels = torch.as_tensor(labels).long().flatten()
            n = len(labels)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"pass images, n (an int >= 1) or labels; got n={n!r}")
        gen = torch.Generator(device=device).manual_seed(seed)
        out = []
        for i in range(0, n, batch_size):
            m = min(batch_size, n - i)
            lab = None if labels is None else labels[i : i + m].to(device)
            out.append(model.sample(m, labels=lab, generator=gen, **kwargs).float().cpu())
        return torch.cat(out)
    finally:
        if was_training:
            model.train()
