"""Score a model on a task's held-out split: the protocol of notebook 01, in one place.

Translation: every metric of the task per test slice (3-D tasks: per whole test volume, SSIM with
3-D windows), inside the task's mask (head or body), then averaged per subject; the table reports the mean over subjects with a cluster-bootstrap interval
(subjects resampled, never slices: slices of one person are correlated). CT targets add MAE in
HU overall, in bone and in soft tissue; PET targets add MAE in SUV.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from medgen_nb.evaluation.creation import evaluate_creation
from medgen_nb.evaluation.downstream import evaluate_downstream
from medgen_nb.evaluation.fitting import predict
from medgen_nb.evaluation.results import Results, Row
from medgen_nb.metrics import ct_mae_hu, mae, psnr, ssim, ssim_map
from medgen_nb.metrics.bootstrap import cluster_mean_ci, cluster_means
from medgen_nb.metrics.translation import SSIM_CHUNK
from medgen_nb.tasks.base import CreationTask, DownstreamTask, TaskData, TranslationTask
from medgen_nb.utils import trim_memory

# PSNR of an image identical to its target is +inf; capped so that a subject's mean stays finite.
PSNR_CAP_DB = 100.0
METRIC_CHUNK = 256  # images per step of per_image_metrics
METRIC_VOLUME_CHUNK = 4  # volumes per step: four 64³ volumes hold as many voxels as 256 64² slices


def _target_map(dataset: Any, target: str):
    """The one intensity map of the target modality (CT and PET maps are fixed, not per subject)."""
    maps = {repr(m[target]) for m in dataset.intensity.values()}
    if len(maps) != 1:
        raise ValueError(
            f"the test subjects' {target} images use different intensity maps ({sorted(maps)}); "
            "physical-unit metrics need one"
        )
    return next(iter(dataset.intensity.values()))[target]


def _ssim_over_mask(pred, target, data_range: float, mask) -> torch.Tensor:
    """The SSIM map averaged over the mask's pixels (windows may reach outside the mask).

    Requiring whole windows inside the mask (what :func:`medgen_nb.metrics.ssim` does with a mask)
    leaves no pixel on the small brain sections at the top of the head at 32-64 px; averaging the
    map over the mask, as most translation studies do, scores every slice.
    """
    if mask is None:
        return ssim(pred, target, data_range=data_range, reduction="none")
    out = []
    # In chunks of images, as ssim() does: the map and its filtered moments for a thousand
    # 64 px slices at once take several hundred MB.
    for i in range(0, len(pred), SSIM_CHUNK):
        part = slice(i, i + SSIM_CHUNK)
        full = ssim_map(pred[part], target[part], data_range=data_range)  # (n, 1, S, S)
        m = mask[part].to(full.dtype)
        out.append((full * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1.0))
    return torch.cat(out)


def per_image_metrics(
    task: TranslationTask,
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None,
    intensity=None,
) -> dict[str, torch.Tensor]:
    """Each of ``task.metrics`` per image ``(N,)``, for ``(N, 1, S, S)`` images (or
    ``(N, 1, S, S, S)`` volumes, one value per volume) in [0, 1].

    Computed ``METRIC_CHUNK`` images at a time (every value is per image, so the result is the
    same): the metrics work in float64 with a few batch-sized temporaries each, which for a
    twenty-subject test split at 64 px came to about 250 MB per metric.
    """
    chunk = METRIC_CHUNK if pred.ndim == 4 else METRIC_VOLUME_CHUNK
    if len(pred) > chunk:
        parts = [
            per_image_metrics(
                task,
                pred[i : i + chunk],
                target[i : i + chunk],
                None if mask is None else mask[i : i + chunk],
                intensity,
            )
            for i in range(0, len(pred), chunk)
        ]
        return {k: torch.cat([part[k] for part in parts]) for k in parts[0]}
    dr = task.data_range
    out = {
        "mae": mae(pred, target, mask=mask, reduction="none"),
        "psnr": psnr(pred, target, data_range=dr, mask=mask, reduction="none").clamp(
            max=PSNR_CAP_DB
        ),
        "ssim": _ssim_over_mask(pred, target, dr, mask),
    }
    names = {m.name for m in task.metrics}
    if "mae_hu" in names:
        hu = ct_mae_hu(pred, target, intensity=intensity, mask=mask, reduction="none")
        out |= {
            "mae_hu": hu["all"],
            "mae_hu_bone": hu["bone"],
            "mae_hu_soft_tissue": hu["soft_tissue"],
        }
    if "mae_suv" in names:
        suv_p, suv_t = intensity.inverse(pred.double()), intensity.inverse(target.double())
        out["mae_suv"] = mae(suv_p, suv_t, mask=mask, reduction="none")
    return {k: v.double().cpu() for k, v in out.items()}


def evaluate(
    model: Any,
    task_data: TaskData,
    split: str = "test",
    *,
    name: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 64,
    **predict_kwargs: Any,
) -> Results:
    """Score ``model`` on ``task_data[split]``; returns tidy :class:`Results` rows, one per metric.

    Args:
        model: a :class:`~medgen_nb.models.base.Translator` (translation tasks) or a
            :class:`~medgen_nb.models.base.Sampler` (creation tasks: see
            :func:`medgen_nb.evaluation.creation.evaluate_creation`), or a downstream model
            (:mod:`medgen_nb.downstream`; see :func:`~.downstream.evaluate_downstream`).
        name: the model's name in the table (default: its class name).
        n_boot, seed: of the cluster bootstrap over subjects.
        predict_kwargs: passed to :func:`predict` (e.g. ``steps=50`` for diffusion).
    """
    task = task_data.task
    if isinstance(task, CreationTask):
        return evaluate_creation(model, task_data, split, name=name, seed=seed, **predict_kwargs)
    if isinstance(task, DownstreamTask):
        return evaluate_downstream(
            model, task_data, split, name=name, n_boot=n_boot, seed=seed, **predict_kwargs
        )
    if not isinstance(task, TranslationTask):
        raise ValueError(f"evaluate() needs a built task, got a {type(task).__name__}")
    data = task_data[split]
    t = data.tensors()
    pred = predict(model, t["image"], batch_size=batch_size, seed=seed, **predict_kwargs)
    if pred.shape != t["target"].shape:
        raise ValueError(
            f"the model's predictions have shape {tuple(pred.shape)} but the task's targets "
            f"{tuple(t['target'].shape)}; was it built for this task's size and channels?"
        )
    mask = t["mask"] if task.mask == "foreground" else None
    needs_map = any(m.unit in ("HU", "SUV") for m in task.metrics)
    intensity = _target_map(data, task.target) if needs_map else None
    values = per_image_metrics(task, pred, t["target"], mask, intensity)
    subject = t["subject"]
    ids = list(data.subject_ids)
    label = name or type(model).__name__
    rows = []
    for spec in task.metrics:
        v = values[spec.name]
        clusters, means = cluster_means(v, subject)
        if len(means) >= 2:
            iv = cluster_mean_ci(v, subject, n_boot=n_boot, seed=seed)
            value, low, high = iv.value, iv.low, iv.high
        else:  # one subject: no between-subject interval exists
            value, low, high = (float(means.mean()) if len(means) else float("nan")), np.nan, np.nan
        rows.append(
            Row.of(
                task, spec, label, value, low, high, images=int((~torch.isnan(v)).sum()),
                subjects=len(means),
                per_subject={ids[int(c)]: float(m) for c, m in zip(clusters, means, strict=True)},
            )
        )  # fmt: skip
    del pred, values, t
    trim_memory()  # the predictions and the metrics' float64 temporaries are freed
    return Results(rows)
