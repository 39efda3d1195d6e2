"""The creation baseline: notebook 02's VAE, trained with the budget of the model it is compared with.

:func:`train_vae_baseline` trains notebook 02's convolutional VAE (review §4.1) on the same
slices, at the same image size and with the same number of updates and batch size as the
generator it is compared with, so an FID comparison between families is like for like. It lives
in the evaluation layer (not in ``models``) because it drives the training loop, and it is cached
like every other run, by :func:`medgen_nb.evaluation.fit_or_load`: the key is the run record
(model config, data, steps, batch, seed), so a changed setting trains afresh and nothing else does.

The translation baseline, :class:`medgen_nb.models.baselines.IntensityMappingBaseline`, trains
nothing and stays with the models.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

from medgen_nb.evaluation.fitting import fit_or_load
from medgen_nb.models import create
from medgen_nb.models.vae import ConvVAE
from medgen_nb.tasks.base import CreationTask, TaskData
from medgen_nb.train import as_batch
from medgen_nb.utils import seed_everything

# Notebook 02's VAE design: 32-D latent, 16 base channels, beta 1, Bernoulli (BCE) decoder.
VAE_BASELINE_CONFIG: dict[str, object] = dict(
    latent_dim=32, base_channels=16, beta=1.0, recon="bce"
)


FINGERPRINT_KEYS: tuple[str, ...] = ("image", "target", "label", "seg")


def dataset_fingerprint(data: Dataset) -> dict[str, Any]:
    """What identifies a training set that is not a registered task: its images' SHA-256.

    Returns ``{"sha256", "n", "shape"}``: the hash covers the ``"image"`` tensors ``(N, C, S, S)``
    and, where items have them, ``"target"``, ``"label"`` and ``"seg"`` (as float32), so a
    conditional model trained on other labels of the same images gets another run.
    A data set with ``tensors()`` (:class:`medgen_nb.data.slices.SliceDataset`) or a
    ``TensorDataset`` is read at once; any other is read item by item.
    """
    if hasattr(data, "tensors") and callable(data.tensors):
        parts = dict(data.tensors())
    elif isinstance(getattr(data, "tensors", None), tuple):  # torch's TensorDataset
        parts = dict(zip(("image", "label"), data.tensors, strict=False))
    else:
        items = [as_batch(data[i]) for i in range(len(data))]
        parts = {
            key: torch.stack([torch.as_tensor(item[key]) for item in items])
            for key in FINGERPRINT_KEYS
            if all(key in item for item in items)
        }
    digest = hashlib.sha256()
    for key in FINGERPRINT_KEYS:  # what a model trains on: images, targets, labels, label maps
        if key in parts:
            digest.update(key.encode())
            digest.update(
                parts[key].detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
            )
    images = parts["image"]
    return {"sha256": digest.hexdigest(), "n": len(images), "shape": list(images.shape[1:])}


@dataclass
class DatasetTaskData(TaskData):
    """A training set passed directly, seen as a task's data: its run record is its fingerprint."""

    fingerprint: dict[str, Any] | None = None

    def record(self) -> dict[str, Any]:
        return {"dataset": self.fingerprint, "size": self.size}


def as_task_data(data: TaskData | Dataset, size: int) -> TaskData:
    """``data`` itself if it is a built task, else a :class:`DatasetTaskData` (split ``"train"``)."""
    if isinstance(data, TaskData):
        return data
    if not isinstance(data, Dataset):
        raise ValueError(
            f"train_set must be a torch Dataset or built task data (medgen_nb.tasks.build), got "
            f"{type(data).__name__}"
        )
    if len(data) < 1:
        raise ValueError("train_set is empty")
    task = CreationTask("dataset", "a training set passed directly", region="any", size=size)
    return DatasetTaskData(task, {"train": data}, size, 0, 0, fingerprint=dataset_fingerprint(data))


def train_vae_baseline(
    train_set: TaskData | Dataset,
    *,
    size: int,
    steps: int,
    batch_size: int,
    seed: int = 0,
    device: str | torch.device = "auto",
    cache: str | os.PathLike | None = None,
    in_channels: int = 1,
) -> ConvVAE:
    """Train the creation baseline: notebook 02's VAE on ``train_set`` with a matched budget.

    Give it the ``size``, ``steps`` and ``batch_size`` of the generator it is compared with, so
    both have seen the same number of training images at the same resolution. A finished run with
    the same record (config, data, steps, batch, seed) is loaded instead of retrained.

    Args:
        train_set: items with ``"image"`` ``(in_channels, size, size)`` in [0, 1], or task data
            from :func:`medgen_nb.tasks.build` (its ``"train"`` split is used).
        size: image side in px (a power of two >= 8).
        steps: optimisation steps (one batch each).
        batch_size: images per step.
        seed: seeds the initial weights and the batch order.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        cache: folder of cached runs (default ``cache_dir("runs")``, as :func:`fit_or_load`).
        in_channels: image channels.

    Returns:
        The trained VAE in eval mode; ``model.sample(n, generator=g)`` gives ``(n, C, size, size)``
        images in [0, 1].
    """
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    task_data = as_task_data(train_set, size)
    seed_everything(seed)  # the initial weights follow the seed
    model = create("vae", in_channels=in_channels, size=size, **VAE_BASELINE_CONFIG)
    run = fit_or_load(
        model, task_data, steps, batch_size=batch_size, seed=seed, device=device, cache=cache
    )
    return run.model
