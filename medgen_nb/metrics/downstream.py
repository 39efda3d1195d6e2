"""Downstream-task metrics: does a synthetic image help (or fool) a classifier or segmenter?

Classification: accuracy, balanced accuracy, ROC AUC (binary, and macro one-vs-rest).
Segmentation: Dice and IoU per case (and per label), so CIs can be taken over cases with
:func:`medgen_nb.metrics.bootstrap.mean_ci`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.stats import rankdata

from medgen_nb.metrics._checks import ArrayLike, as_tensor, check_finite

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
    y_true: ArrayLike, y_pred: ArrayLike, n_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    if n_classes is not None and (
        isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1
    ):
        raise ValueError(f"n_classes must be a positive int or None, got {n_classes!r}")
    t = as_tensor(y_true, "y_true").numpy()
    p = as_tensor(y_pred, "y_pred").numpy()
    if p.ndim == 2 and t.ndim == 1 and p.shape[0] == t.shape[0]:
        raise ValueError(
            f"y_pred has shape {p.shape}, which looks like (N, K) probabilities; {_INDEX_HINT}"
        )
    if t.ndim != 1 or p.shape != t.shape or t.size == 0:
        raise ValueError(
            f"y_true and y_pred must be non-empty 1-D integer labels of one length, "
            f"got shapes {t.shape} and {p.shape}"
        )
    return _class_indices(t, "y_true", n_classes), _class_indices(p, "y_pred", n_classes)


def accuracy(
    y_true: ArrayLike, y_pred: ArrayLike, *, n_classes: int | None = None
) -> tuple[float, torch.Tensor]:
    """Share of correct labels; returns ``(accuracy, per-case correctness (N,) as 0/1)``.

    Args:
        y_true, y_pred: ``(N,)`` integer class labels (whole-number floats are accepted;
            probabilities are refused: pass ``probs.argmax(1)``).
        n_classes: if given, every label must lie in ``0 .. n_classes - 1``.
    """
    t, p = _labels(y_true, y_pred, n_classes)
    correct = torch.from_numpy((t == p).astype(np.float64))
    return float(correct.mean()), correct


def balanced_accuracy(
    y_true: ArrayLike, y_pred: ArrayLike, *, n_classes: int | None = None
) -> float:
    """Mean recall over the classes present in ``y_true`` (robust to class imbalance).

    Labels as in :func:`accuracy`.
    """
    t, p = _labels(y_true, y_pred, n_classes)
    return float(np.mean([(p[t == c] == c).mean() for c in np.unique(t)]))


def binary_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """ROC AUC = P(score of a random positive > score of a random negative), ties counting 1/2.

    Computed from ranks (Mann-Whitney U / (n_pos n_neg)). ``y_true`` (N,) in {0, 1}; ``scores`` (N,).
    """
    t = as_tensor(y_true, "y_true").numpy()
    s = as_tensor(scores, "scores").numpy()
    if t.ndim != 1 or s.shape != t.shape:
        raise ValueError(
            f"y_true and scores must be 1-D of one length, got {t.shape} and {s.shape}"
        )
    if not np.isin(t, (0, 1)).all():
        raise ValueError(f"y_true must be 0/1 for a binary AUC, got values {np.unique(t)[:5]}")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
    n_pos, n_neg = int(t.sum()), int((1 - t).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUC needs both classes, got {n_pos} positives and {n_neg} negatives")
    ranks = rankdata(s)  # average ranks for ties
    u = ranks[t == 1].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def macro_auc(y_true: ArrayLike, probs: ArrayLike) -> float:
    """Macro one-vs-rest AUC: the mean of each class's binary AUC.

    ``y_true`` (N,) integer labels in ``0 .. K - 1``; ``probs`` (N, K) scores or probabilities.
    """
    t = as_tensor(y_true, "y_true").numpy()
    p = as_tensor(probs, "probs").numpy()
    if t.ndim != 1:
        raise ValueError(f"y_true must be 1-D integer labels (N,), got shape {t.shape}")
    if p.ndim != 2 or p.shape[0] != t.shape[0]:
        raise ValueError(
            f"probs must be (N, K) with N = len(y_true), got {p.shape} for N={t.shape}"
        )
    t = _class_indices(t, "y_true", p.shape[1])
    missing = [c for c in range(p.shape[1]) if not (t == c).any()]
    if missing:
        raise ValueError(
            f"every class needs a positive case for one-vs-rest AUC; absent: {missing}"
        )
    return float(np.mean([binary_auc(t == c, p[:, c]) for c in range(p.shape[1])]))


def _overlap(
    pred: ArrayLike, target: ArrayLike, labels: Sequence[int] | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-case, per-label |P ∩ T|, |P| and |T|: each (B, L)."""
    p, t = as_tensor(pred, "pred"), as_tensor(target, "target")
    if p.shape != t.shape or p.ndim < 2:
        raise ValueError(
            f"pred and target must be (B, ...) of one shape, got {tuple(p.shape)} and {tuple(t.shape)}"
        )
    check_finite(p, "pred")
    check_finite(t, "target")
    if labels is None:
        for x, name in ((p, "pred"), (t, "target")):
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
    pred: ArrayLike,
    target: ArrayLike,
    *,
    labels: Sequence[int] | None = None,
    empty: float = float("nan"),
) -> torch.Tensor:
    r"""Dice :math:`2|P \cap T| / (|P| + |T|)` per case: ``(B, L)`` (``L = 1`` for binary masks).

    Args:
        pred, target: ``(B, ...)`` binary masks, or integer label maps with ``labels``.
        labels: label values to score (e.g. ``[1, 2, 3]``); None for binary masks.
        empty: value when a label is absent from both pred and target (NaN: skip it in means).
    """
    inter, sp, st = _overlap(pred, target, labels)
    denom = sp + st
    return torch.where(denom > 0, 2 * inter / denom.clamp_min(1), torch.full_like(denom, empty))


def iou(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    labels: Sequence[int] | None = None,
    empty: float = float("nan"),
) -> torch.Tensor:
    r"""Intersection over union (Jaccard) :math:`|P \cap T| / |P \cup T|` per case: ``(B, L)``."""
    inter, sp, st = _overlap(pred, target, labels)
    union = sp + st - inter
    return torch.where(union > 0, inter / union.clamp_min(1), torch.full_like(union, empty))
