"""Detection metrics: box IoU, and precision, recall, F1 and average precision over a set of images.

Boxes are ``[x0, y0, x1, y1]`` in pixels with exclusive ends (``x`` along columns, ``y`` along
rows), the convention of :func:`medgen_nb.data.chest_ct.boxes_from_seg`: a box covering pixels
2, 3 and 4 of a row runs from 2 to 5, so its width is ``x1 - x0`` pixels.

Matching follows PASCAL VOC (Everingham et al., 2010): all detections of all images are visited
in order of decreasing score; each one is a true positive if it overlaps a not yet matched target
box of its image with IoU >= ``iou_threshold`` (the best-overlapping such box is taken), and a
false positive otherwise. Every target left unmatched is a false negative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from medgen_nb.metrics._checks import ArrayLike, as_tensor, check_finite


def _boxes(x: ArrayLike, name: str, columns: int = 4) -> torch.Tensor:
    """``x`` as a float64 ``(K, columns)`` tensor of valid boxes (``x1 >= x0``, ``y1 >= y0``)."""
    b = as_tensor(x, name)
    if b.numel() == 0:
        b = b.reshape(0, columns)
    if b.ndim != 2 or b.shape[1] != columns:
        what = "[x0, y0, x1, y1]" if columns == 4 else "[x0, y0, x1, y1, score]"
        raise ValueError(
            f"{name} must be a (K, {columns}) tensor of {what} rows, got {tuple(b.shape)}"
        )
    check_finite(b, name)
    flipped = ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])).nonzero().flatten()
    if flipped.numel():
        raise ValueError(
            f"{name} has {flipped.numel()} box(es) with x1 < x0 or y1 < y0 (first: row "
            f"{int(flipped[0])}, {b[flipped[0], :4].tolist()}); boxes are [x0, y0, x1, y1]"
        )
    return b


def box_iou(preds: ArrayLike, target: ArrayLike) -> torch.Tensor:
    r"""Pairwise intersection over union :math:`|A \cap B| / |A \cup B|` of two sets of boxes.

    Args:
        preds: ``(N, 4)`` boxes ``[x0, y0, x1, y1]`` in pixels (exclusive ends).
        target: ``(M, 4)`` boxes in the same convention.

    Returns:
        ``(N, M)`` float64 IoU in [0, 1]; 0 where both boxes have zero area.
    """
    a, b = _boxes(preds, "preds"), _boxes(target, "target")
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])  # (N,)
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # (M,)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    wh = (bottom_right - top_left).clamp_min(0)
    inter = wh[..., 0] * wh[..., 1]  # (N, M)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(union))


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def average_precision(recall: torch.Tensor, precision: torch.Tensor) -> float:
    r"""Area under the precision-recall curve with all-point interpolation (VOC 2010 onwards).

    .. math:: AP = \sum_i (r_i - r_{i-1})\, p_{interp}(r_i), \quad
              p_{interp}(r) = \max_{r' \ge r} p(r')

    Args:
        recall, precision: ``(D,)`` values after each of the ``D`` detections, sorted by
            decreasing score (recall non-decreasing).
    """
    if recall.numel() == 0:
        return 0.0
    # the precision envelope: running maximum from the right (lowest score) to the left
    p_interp = precision.flip(0).cummax(0).values.flip(0)
    r_prev = torch.cat([recall.new_zeros(1), recall[:-1]])
    return float(((recall - r_prev) * p_interp).sum())


def detection_scores(
    preds: Sequence[ArrayLike],
    target: Sequence[ArrayLike],
    *,
    iou_threshold: float = 0.5,
) -> dict[str, float]:
    """Precision, recall, F1 and average precision of detections over a set of images.

    Args:
        preds: per image, a ``(K, 5)`` tensor of detections ``[x0, y0, x1, y1, score]`` (what
            :meth:`medgen_nb.downstream.NoduleDetector.detect` returns), ``K`` may be 0.
        target: per image (same order and length), a ``(M, 4)`` tensor of true boxes.
        iou_threshold: the IoU in (0, 1] a detection needs with a target to count as found.

    Returns:
        ``precision`` TP / (TP + FP) over all detections given (NaN if there are none),
        ``recall`` TP / number of targets (NaN if there are none), ``f1`` 2TP / (2TP + FP + FN),
        ``ap`` the average precision at ``iou_threshold`` (all-point interpolation; NaN without
        targets), and the counts ``tp``, ``fp``, ``fn``, ``n_preds``, ``n_targets``.
        Ties in score are visited in image order, then row order.
    """
    if isinstance(preds, torch.Tensor) or isinstance(target, torch.Tensor):
        raise ValueError(
            "preds and target must be lists with one tensor per image (images hold different "
            "numbers of boxes), not one tensor; e.g. [boxes_from_seg(s) for s in seg]"
        )
    if len(preds) != len(target):
        raise ValueError(
            f"preds and target must hold one entry per image, got {len(preds)} and {len(target)}"
        )
    if isinstance(iou_threshold, bool) or not (
        isinstance(iou_threshold, int | float) and 0 < iou_threshold <= 1
    ):
        raise ValueError(f"iou_threshold must be a number in (0, 1], got {iou_threshold!r}")
    dets = [_boxes(p, f"preds[{i}]", columns=5) for i, p in enumerate(preds)]
    gts = [_boxes(t, f"target[{i}]") for i, t in enumerate(target)]
    n_targets = sum(len(g) for g in gts)

    # every detection of every image, by decreasing score (stable: ties keep image, row order)
    image_of = torch.cat([torch.full((len(d),), i) for i, d in enumerate(dets)] or [torch.zeros(0)])
    row_of = torch.cat([torch.arange(len(d)) for d in dets] or [torch.zeros(0)])
    scores = torch.cat([d[:, 4] for d in dets] or [torch.zeros(0)])
    order = torch.sort(scores, descending=True, stable=True).indices
    ious = [box_iou(d[:, :4], g) for d, g in zip(dets, gts, strict=True)]  # each (K_i, M_i)
    matched = [torch.zeros(len(g), dtype=torch.bool) for g in gts]
    is_tp = torch.zeros(len(order), dtype=torch.bool)
    for rank, j in enumerate(order.tolist()):
        i, k = int(image_of[j]), int(row_of[j])
        if not len(gts[i]):
            continue
        overlap = ious[i][k].masked_fill(matched[i], -1.0)  # a target is found at most once
        best = int(overlap.argmax())
        if overlap[best] >= iou_threshold:
            matched[i][best] = True
            is_tp[rank] = True

    tp = int(is_tp.sum())
    fp, fn = len(order) - tp, n_targets - tp
    cum_tp = is_tp.double().cumsum(0)
    precision_curve = cum_tp / torch.arange(1, len(order) + 1, dtype=torch.float64)
    recall_curve = cum_tp / max(n_targets, 1)
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, n_targets),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "ap": average_precision(recall_curve, precision_curve) if n_targets else math.nan,
        "tp": float(tp),
        "fp": float(fp),
        "fn": float(fn),
        "n_preds": float(len(order)),
        "n_targets": float(n_targets),
    }
