"""Score a downstream model (classifier, segmenter, detector) on a downstream task's test split.

Classification and detection metrics are pooled over slices (balanced accuracy and AUC need both
classes; precision and recall count objects), so their intervals resample whole subjects with
replacement and recompute the pooled metric: the cluster bootstrap, as for translation. Dice is
a per-slice value, averaged per subject first, like the translation metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from medgen_nb.data.chest_ct import boxes_from_seg
from medgen_nb.evaluation.results import Results, Row
from medgen_nb.metrics import balanced_accuracy, dice, macro_auc
from medgen_nb.metrics.bootstrap import cluster_mean_ci, cluster_means
from medgen_nb.metrics.detection import detection_scores
from medgen_nb.tasks.base import DownstreamTask, MetricSpec, TaskData

Pooled = Callable[[np.ndarray], dict[str, float]]  # slice indices -> metric values


def cluster_pooled_ci(
    statistic: Pooled,
    subjects: torch.Tensor,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """``{name: (value, low, high)}`` of a statistic pooled over slices, resampling subjects.

    Each draw picks subjects with replacement and pools the slices of every pick (a subject drawn
    twice counts twice); draws where the statistic is undefined (NaN, e.g. one class only) are
    left out of the percentiles.
    """
    subjects = torch.as_tensor(subjects)
    ids = torch.unique(subjects).numpy()
    rows_of = {int(i): torch.nonzero(subjects == i).flatten().numpy() for i in ids}
    full = statistic(np.arange(len(subjects)))
    if len(ids) < 2:
        return {k: (v, math.nan, math.nan) for k, v in full.items()}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in full}
    for _ in range(n_boot):
        picked = rng.choice(ids, len(ids), replace=True)
        rows = np.concatenate([rows_of[int(i)] for i in picked])
        for k, v in statistic(rows).items():
            if not math.isnan(v):
                draws[k].append(v)
    tail = (1 - confidence) / 2 * 100
    out = {}
    for k, v in full.items():
        if len(draws[k]) < 10:
            out[k] = (v, math.nan, math.nan)
        else:
            low, high = np.percentile(draws[k], [tail, 100 - tail])
            out[k] = (v, float(low), float(high))
    return out


def _classification(probs: torch.Tensor, labels: torch.Tensor) -> Pooled:
    probs = probs.double()
    k = probs.shape[1]

    def stat(rows: np.ndarray) -> dict[str, float]:
        y, p = labels[rows], probs[rows]
        if len(torch.unique(y)) < 2:  # AUC needs both classes
            return {"balanced_accuracy": math.nan, "auc": math.nan}
        ba = balanced_accuracy(preds=p.argmax(1), target=y, n_classes=k)
        auc = macro_auc(preds=p, target=y)
        return {"balanced_accuracy": float(ba), "auc": float(auc)}

    return stat


def _detection(found: list[torch.Tensor], seg: torch.Tensor) -> Pooled:
    truth = [boxes_from_seg(s) for s in seg]

    def stat(rows: np.ndarray) -> dict[str, float]:
        scores = detection_scores([found[i] for i in rows], [truth[i] for i in rows])
        return {
            "recall_iou50": float(scores["recall"]),
            "precision_iou50": float(scores["precision"]),
        }

    return stat


@torch.no_grad()
def evaluate_downstream(
    model: Any,
    task_data: TaskData,
    split: str = "test",
    *,
    name: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 64,
    **detect_kwargs: Any,
) -> Results:
    """Score a trained downstream ``model`` on ``task_data[split]``; one row per metric."""
    task = task_data.task
    if not isinstance(task, DownstreamTask):
        raise ValueError(
            f"evaluate_downstream() scores downstream tasks; {task.name!r} is {task.kind}"
        )
    t = task_data[split].tensors()
    images, subjects = t["image"], t["subject"]
    model.eval()
    device = next(model.parameters()).device
    batches = [images[i : i + batch_size].to(device) for i in range(0, len(images), batch_size)]
    ids = list(task_data[split].subject_ids)
    label = name or type(model).__name__
    specs: dict[str, MetricSpec] = {m.name: m for m in task.metrics}
    rows = []

    def row(metric: str, value: float, low: float, high: float, per_subject: dict) -> Row:
        return Row.of(
            task, specs[metric], label, value, low, high, images=len(images),
            subjects=len(torch.unique(subjects)), per_subject=per_subject,
        )  # fmt: skip

    if task.problem == "segmentation":
        pred = torch.cat([model.segment(b).cpu() for b in batches])
        labels = list(range(1, task.num_classes))
        per_slice = torch.nanmean(
            dice(pred, t["seg"], labels=labels, reduction="none"), dim=1
        )  # NaN: no label anywhere
        clusters, means = cluster_means(per_slice, subjects)
        iv = (
            cluster_mean_ci(per_slice, subjects, n_boot=n_boot, seed=seed)
            if len(means) >= 2
            else None
        )
        per = {ids[int(c)]: float(m) for c, m in zip(clusters, means, strict=True)}
        value = iv.value if iv else float(means.mean()) if len(means) else math.nan
        rows.append(
            row("dice", value, iv.low if iv else math.nan, iv.high if iv else math.nan, per)
        )
        return Results(rows)
    if task.problem == "classification":
        probs = torch.cat([model.predict_proba(b).cpu() for b in batches])
        stat = _classification(probs, t["label"])
    else:
        found = [box for b in batches for box in model.detect(b, **detect_kwargs)]
        stat = _detection(found, t["seg"])
    for metric, (value, low, high) in cluster_pooled_ci(
        stat, subjects, n_boot=n_boot, seed=seed
    ).items():
        rows.append(row(metric, value, low, high, {}))
    return Results(rows)
