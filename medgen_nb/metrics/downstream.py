"""Downstream-task metrics: does a synthetic image help (or fool) a classifier or segmenter?

Classification: accuracy, balanced accuracy, ROC AUC (binary, and macro one-vs-rest).
Segmentation: Dice and IoU per case (and per label), so CIs can be taken over cases with
:func:`medgen_nb.metrics.bootstrap.mean_ci`.

Paired metrics, like the translation ones: ``preds`` (the model's output) then ``target`` (the
reference), float64 tensors back, ``reduction="mean"`` (0-d, or ``(L,)`` per label for Dice/IoU)
or ``"none"`` (one value per case) where a metric has per-case values. Balanced accuracy and AUC
are properties of the whole set (no per-case value) and return a 0-d tensor. The classification
metrics take ``preds=`` and ``target=`` **by keyword only**: their order used to be
``(y_true, y_pred)``, and labels in either order have the same shape, so a positional call would
silently score the wrong way round (balanced accuracy and AUC are not symmetric).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.stats import rankdata

from medgen_nb.metrics._checks import (
    ArrayLike,
    Reduction,
    as_tensor,
    check_finite,
    check_reduction,
)

_INDEX_HINT = "pass class indices, e.g. probs.argmax(1), not probabilities or scores"


def _class_indices(x: np.ndarray, name: str, n_classes: int | None) -> np.ndarray:
    """Float64 labels -> int64, refusing NaN/inf, non-whole numbers and labels outside the classes."""
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must not contain NaN or infinite values")
    fractional = x[x != np.round(x)]
    if fractional.size:
        raise ValueError(
            f"{name} must hold integer class labels, got {fractional.size} non-integer value(s) "
            f"such as {[float(f'{v:.4g}') for v in fractional[:3]]}; {_INDEX_HINT}"
        )
    labels = x.astype(np.int64)
    if n_classes is not None:
        outside = np.unique(labels[(labels < 0) | (labels >= n_classes)])
        if outside.size:
            raise ValueError(
                f"{name} holds label(s) {outside[:5].tolist()} outside the {n_classes} classes "
                f"0..{n_classes - 1}"
            )
    return labels


def _labels(
    preds: ArrayLike, target: ArrayLike, n_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(preds, target)`` as int64 class labels ``(N,)``, checked."""
    if n_classes is not None and (
        isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1
    ):
        raise ValueError(f"n_classes must be a positive int or None, got {n_classes!r}")
    p = as_tensor(preds, "preds").numpy()
    t = as_tensor(target, "target").numpy()
    if p.ndim == 2 and t.ndim == 1 and p.shape[0] == t.shape[0]:
        raise ValueError(
            f"preds has shape {p.shape}, which looks like (N, K) probabilities; {_INDEX_HINT}"
        )
    if t.ndim != 1 or p.shape != t.shape or t.size == 0:
        raise ValueError(
            f"preds and target must be non-empty 1-D integer labels of one length, "
            f"got shapes {p.shape} and {t.shape}"
        )
    return _class_indices(p, "preds", n_classes), _class_indices(t, "target", n_classes)


def _reduce(per_case: torch.Tensor, reduction: str) -> torch.Tensor:
    return torch.nanmean(per_case, 0) if check_reduction(reduction) == "mean" else per_case


def accuracy(
    *,
    preds: ArrayLike,
    target: ArrayLike,
    n_classes: int | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Share of correct labels: 0-d (``"mean"``), or per-case correctness ``(N,)`` as 0/1 (``"none"``).

    Args:
        preds: ``(N,)`` predicted class labels (whole-number floats are accepted; probabilities
            are refused: pass ``probs.argmax(1)``).
        target: ``(N,)`` true class labels.
        n_classes: if given, every label must lie in ``0 .. n_classes - 1``.
    """
    p, t = _labels(preds, target, n_classes)
    return _reduce(torch.from_numpy((p == t).astype(np.float64)), reduction)


def balanced_accuracy(
    *, preds: ArrayLike, target: ArrayLike, n_classes: int | None = None
) -> torch.Tensor:
    """Mean recall over the classes present in ``target`` (robust to class imbalance), 0-d.

    Labels as in :func:`accuracy`.
    """
    p, t = _labels(preds, target, n_classes)
    return torch.tensor(
        np.mean([(p[t == c] == c).mean() for c in np.unique(t)]), dtype=torch.float64
    )


def balanced_accuracy_ci(
    *, preds: torch.Tensor, target: torch.Tensor, n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """:func:`balanced_accuracy` with a 95 % percentile bootstrap interval.

    The bootstrap resamples the items within each class of ``target``, so every draw keeps the
    class sizes; right for independent draws (e.g. generated samples), not for slices of a few
    subjects. Returns ``{"value", "ci_low", "ci_high"}``.
    """
    value = float(balanced_accuracy(preds=preds, target=target))
    rng = np.random.default_rng(seed)
    rows = [torch.nonzero(target == k).flatten().numpy() for k in torch.unique(target)]
    draws = []
    for _ in range(n_boot):
        pick = torch.as_tensor(np.concatenate([rng.choice(r, len(r)) for r in rows]))
        draws.append(float(balanced_accuracy(preds=preds[pick], target=target[pick])))
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"value": value, "ci_low": float(low), "ci_high": float(high)}


def binary_auc(*, preds: ArrayLike, target: ArrayLike) -> torch.Tensor:
    """ROC AUC = P(score of a random positive > score of a random negative), ties counting 1/2; 0-d.

    Computed from ranks (Mann-Whitney U / (n_pos n_neg)).

    Args:
        preds: ``(N,)`` scores (any real numbers, e.g. P(class 1)).
        target: ``(N,)`` true labels in {0, 1}.
    """
    s = as_tensor(preds, "preds").numpy()
    t = as_tensor(target, "target").numpy()
    if t.ndim != 1 or s.shape != t.shape:
        raise ValueError(f"preds and target must be 1-D of one length, got {s.shape} and {t.shape}")
    if not np.isin(t, (0, 1)).all():
        raise ValueError(f"target must be 0/1 for a binary AUC, got values {np.unique(t)[:5]}")
    if not np.isfinite(s).all():
        raise ValueError("preds (scores) contain NaN or infinite values")
    n_pos, n_neg = int(t.sum()), int((1 - t).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUC needs both classes, got {n_pos} positives and {n_neg} negatives")
    ranks = rankdata(s)  # average ranks for ties
    u = ranks[t == 1].sum() - n_pos * (n_pos + 1) / 2
    return torch.tensor(u / (n_pos * n_neg), dtype=torch.float64)


def macro_auc(*, preds: ArrayLike, target: ArrayLike) -> torch.Tensor:
    """Macro one-vs-rest AUC: the mean of each class's binary AUC, 0-d.

    Args:
        preds: ``(N, K)`` scores or probabilities.
        target: ``(N,)`` integer labels in ``0 .. K - 1``.
    """
    p = as_tensor(preds, "preds").numpy()
    t = as_tensor(target, "target").numpy()
    if t.ndim != 1:
        raise ValueError(f"target must be 1-D integer labels (N,), got shape {t.shape}")
    if p.ndim != 2 or p.shape[0] != t.shape[0]:
        raise ValueError(
            f"preds must be (N, K) scores with N = len(target), got {p.shape} for N={t.shape}"
        )
    t = _class_indices(t, "target", p.shape[1])
    missing = [c for c in range(p.shape[1]) if not (t == c).any()]
    if missing:
        raise ValueError(
            f"every class needs a positive case for one-vs-rest AUC; absent: {missing}"
        )
    aucs = [binary_auc(preds=p[:, c], target=t == c) for c in range(p.shape[1])]
    return torch.stack(aucs).mean()


def _overlap(
    preds: ArrayLike, target: ArrayLike, labels: Sequence[int] | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-case, per-label |P ∩ T|, |P| and |T|: each (B, L)."""
    p, t = as_tensor(preds, "preds"), as_tensor(target, "target")
    if p.shape != t.shape or p.ndim < 2:
        raise ValueError(
            f"preds and target must be (B, ...) of one shape, got {tuple(p.shape)} and {tuple(t.shape)}"
        )
    check_finite(p, "preds")
    check_finite(t, "target")
    if labels is None:
        for x, name in ((p, "preds"), (t, "target")):
            if not ((x == 0) | (x == 1)).all():
                raise ValueError(f"{name} must be a binary mask (pass labels=... for label maps)")
        masks_p, masks_t = [p.bool()], [t.bool()]
    else:
        masks_p, masks_t = [p == c for c in labels], [t == c for c in labels]
    inter = torch.stack(
        [(a & b).flatten(1).sum(1) for a, b in zip(masks_p, masks_t, strict=True)], 1
    )
    size_p = torch.stack([a.flatten(1).sum(1) for a in masks_p], 1)
    size_t = torch.stack([b.flatten(1).sum(1) for b in masks_t], 1)
    return inter.double(), size_p.double(), size_t.double()


def dice(
    preds: ArrayLike,
    target: ArrayLike,
    *,
    labels: Sequence[int] | None = None,
    empty: float = float("nan"),
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Dice :math:`2|P \cap T| / (|P| + |T|)`: ``(L,)`` over cases, or ``(B, L)`` per case.

    Args:
        preds, target: ``(B, ...)`` binary masks, or integer label maps with ``labels``.
        labels: label values to score (e.g. ``[1, 2, 3]``); None for binary masks (``L = 1``).
        empty: value when a label is absent from both preds and target (NaN: skipped in means).
        reduction: ``"mean"``: per label, the mean over the cases that have a value
            (``torch.nanmean``), ``(L,)``; ``"none"``: ``(B, L)``, e.g. for
            :func:`~medgen_nb.metrics.bootstrap.mean_ci` over cases.
    """
    inter, sp, st = _overlap(preds, target, labels)
    denom = sp + st
    per_case = torch.where(denom > 0, 2 * inter / denom.clamp_min(1), torch.full_like(denom, empty))
    return _reduce(per_case, reduction)


def iou(
    preds: ArrayLike,
    target: ArrayLike,
    *,
    labels: Sequence[int] | None = None,
    empty: float = float("nan"),
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Intersection over union (Jaccard) :math:`|P \cap T| / |P \cup T|`; shapes as :func:`dice`."""
    inter, sp, st = _overlap(preds, target, labels)
    union = sp + st - inter
    per_case = torch.where(union > 0, inter / union.clamp_min(1), torch.full_like(union, empty))
    return _reduce(per_case, reduction)
