"""Score a generator on a creation task: feature-based metrics with a real-vs-real floor.

Protocol (notebook 01): generated and held-out real slices are embedded by the medical feature
network; FID, KID, precision/recall and density/coverage compare the two sets. Conditional
generators draw one sample per real slice with that slice's label, so the class mix matches.
The same metrics between two halves of the real slices (split by subject) give the floor a
perfect generator would reach at that sample size.

Intervals come from subsampling *subjects* without replacement (half of them, with as many
generated samples as their slices; Politis & Romano 1994): resampling with replacement repeats
rows, which biases FID upwards and shrinks k-NN radii. The spread of ``theta_m - theta_n`` over
subsamples of size m, scaled by sqrt(m / n), estimates the spread of the full-size estimate
``theta_n``, so each interval is centred on the reported value. The median of
``theta_m - theta_n`` is removed first: it is the bias of the smaller sample (FID at half the
subjects is larger), not uncertainty.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from medgen_nb.evaluation.fitting import predict
from medgen_nb.evaluation.results import Results, Row
from medgen_nb.metrics import (
    SmallSampleWarning,
    density_coverage,
    extract_features,
    fid,
    kid,
    precision_recall,
)
from medgen_nb.tasks.base import CreationTask, TaskData

Statistic = Callable[[torch.Tensor, torch.Tensor], dict[str, float]]


def feature_metrics(real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """FID, KID, precision, recall, density and coverage of ``(N, D)`` and ``(M, D)`` features."""
    with warnings.catch_warnings():  # the caller reports N once; subsamples would repeat it
        warnings.simplefilter("ignore", SmallSampleWarning)
        out = {"fid": fid(real, fake), "kid": kid(real, fake)}
    out |= precision_recall(real, fake, k=3)
    out |= density_coverage(real, fake, k=5)
    return out


def subsample_intervals(
    statistic: Statistic,
    real: torch.Tensor,
    subjects: torch.Tensor,
    fake: torch.Tensor,
    *,
    n_draws: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """``{name: (value, low, high)}``: ``statistic`` on all rows, and subject-subsampling intervals.

    Each draw keeps half of the real subjects (without replacement) and as many generated rows as
    their slices (without replacement). Needs at least 2 real subjects; with fewer, the interval is
    NaN.
    """
    full = statistic(real, fake)
    ids = torch.unique(subjects)
    if len(ids) < 2:
        return {k: (v, math.nan, math.nan) for k, v in full.items()}
    rng = np.random.default_rng(seed)
    half = len(ids) // 2
    draws: dict[str, list[float]] = {k: [] for k in full}
    sizes = []
    for _ in range(n_draws):
        keep = torch.as_tensor(rng.choice(ids.numpy(), half, replace=False))
        rows = torch.nonzero(torch.isin(subjects, keep)).flatten()
        m = min(len(rows), len(fake))
        if m < 7:  # k-NN metrics need k + 1 rows, FID two
            continue
        chosen = torch.as_tensor(rng.choice(len(fake), m, replace=False))
        for k, v in statistic(real[rows[:m]], fake[chosen]).items():
            draws[k].append(v)
        sizes.append(m)
    if not sizes:
        return {k: (v, math.nan, math.nan) for k, v in full.items()}
    scale = math.sqrt(float(np.mean(sizes)) / len(real))
    tail = (1 - confidence) / 2 * 100
    out = {}
    for k, value in full.items():
        dev = np.asarray(draws[k]) - value  # theta_m - theta_n
        # FID and the k-NN metrics depend on the sample size, so theta_m is biased against
        # theta_n (FID upwards): without that shift the reflected interval can miss the value
        # altogether. The median deviation estimates it; what is left is the spread.
        dev = dev - np.median(dev)
        lo_q, hi_q = np.percentile(dev, [tail, 100 - tail])
        # theta - theta_n ~ -(theta_m - theta_n) * sqrt(m / n): reflect and scale
        out[k] = (value, value - hi_q * scale, value - lo_q * scale)
    return out


def is_class_conditional(model: Any) -> bool:
    """Whether ``model`` samples given class labels.

    A model's own ``conditional`` flag decides (the GANs have one); else a ``config`` with
    ``num_classes`` > 0 (VAEs, diffusion); a sampler that declares neither is given the labels.
    """
    if hasattr(model, "conditional"):
        return bool(model.conditional)
    config = getattr(model, "config", None)
    if config is None:
        return True
    return int(config.get("num_classes", 0) or 0) > 0


def _generate(model: Any, task: CreationTask, tensors: dict, seed: int, **kwargs) -> torch.Tensor:
    # An unconditional model on a labelled task draws as many images without labels: the class
    # mix is then its own, which the metrics judge.
    if task.conditioning == "label" and is_class_conditional(model):
        return predict(model, labels=tensors["label"], seed=seed, **kwargs)
    if task.conditioning == "mask":  # the label map, scaled to [0, 1], is the source image
        seg = tensors["seg"].float()
        cond = (seg / seg.max().clamp_min(1.0))[:, None]
        return predict(model, cond, seed=seed, **kwargs)
    return predict(model, n=len(tensors["image"]), seed=seed, **kwargs)


def evaluate_creation(
    model: Any,
    task_data: TaskData,
    split: str = "test",
    *,
    name: str | None = None,
    n_draws: int = 100,
    seed: int = 0,
    feature_net=None,
    floor: bool = True,
    **sample_kwargs: Any,
) -> Results:
    """Score ``model`` (a Sampler; for mask conditioning a Translator) against ``task_data[split]``.

    On a label-conditioned task a class-conditional model draws one sample per real slice with
    that slice's label; an unconditional one draws as many samples without labels.

    Returns one row per metric for the model and, with ``floor``, the same metrics of the split's
    two subject halves as model ``"real vs real"``.
    """
    task = task_data.task
    if not isinstance(task, CreationTask):
        raise ValueError(f"evaluate_creation() scores creation tasks; {task.name!r} is {task.kind}")
    data = task_data[split]
    t = data.tensors()
    real_images, subjects = t["image"], t["subject"]
    fake_images = _generate(model, task, t, seed, **sample_kwargs)
    if fake_images.shape[1:] != real_images.shape[1:]:
        raise ValueError(
            f"generated images have shape {tuple(fake_images.shape[1:])}, the task's real slices "
            f"{tuple(real_images.shape[1:])}"
        )
    real = extract_features(real_images, feature_net)
    fake = extract_features(fake_images, feature_net)
    if len(real) < task.min_samples:
        warnings.warn(
            f"{task.name}: {len(real)} real and {len(fake)} generated samples, fewer than the "
            f"task's {task.min_samples}; FID is biased upwards at this N: compare only rows of the "
            "same N (the real-vs-real floor is computed at it)",
            SmallSampleWarning,
            stacklevel=2,
        )
    label = name or type(model).__name__
    scored = subsample_intervals(feature_metrics, real, subjects, fake, n_draws=n_draws, seed=seed)
    results = {label: (scored, len(real))}
    if floor and (real_floor := _floor(real, subjects)) is not None:
        results["real vs real"] = real_floor
    n_subjects = len(torch.unique(subjects))
    rows = []
    for model_name, (values, n_images) in results.items():
        for spec in task.metrics:
            value, low, high = values[spec.name]
            rows.append(
                Row.of(
                    task, spec, model_name, value, low, high, images=n_images, subjects=n_subjects
                )
            )
    return Results(rows)


def _floor(real: torch.Tensor, subjects: torch.Tensor):
    """The metrics between the real slices of half the subjects and those of the other half.

    Computed at the half size ``m`` (the row's ``images``): FID's bias grows as N shrinks, so the
    floor is an upper bound on what a perfect generator would score at the full N.
    """
    ids = torch.unique(subjects)
    if len(ids) < 2:
        return None
    first = torch.isin(subjects, ids[: len(ids) // 2])
    a, b = real[first], real[~first]
    m = min(len(a), len(b))
    if m < 7:
        return None
    values = {k: (v, math.nan, math.nan) for k, v in feature_metrics(a[:m], b[:m]).items()}
    return values, m
