"""Detection metrics: box IoU and precision / recall / F1 / AP, against hand-computed cases and an
independent plain-Python implementation (torchmetrics' MeanAveragePrecision needs pycocotools,
which is not installed; it also interpolates at 101 recall points, not at every point)."""

import math
import random

import pytest
import torch

from medgen_nb.metrics import iou
from medgen_nb.metrics.detection import average_precision, box_iou, detection_scores


def test_box_iou_by_hand():
    a = torch.tensor([[0, 0, 2, 2], [0, 0, 10, 10], [3, 3, 3, 3]])
    b = torch.tensor([[1, 1, 3, 3], [20, 20, 30, 30], [0, 0, 10, 5]])
    got = box_iou(a, b)
    expected = torch.tensor(
        [[1 / 7, 0, 4 / 50], [4 / 100, 0, 0.5], [0, 0, 0]], dtype=torch.float64
    )  # row 3 is an empty box
    torch.testing.assert_close(got, expected)
    assert box_iou(torch.zeros(0, 4), b).shape == (0, 3)


def test_box_iou_matches_pixel_masks():
    """Integer boxes with exclusive ends cover whole pixels: their IoU is the masks' IoU."""
    g = torch.Generator().manual_seed(0)
    corners = torch.randint(0, 12, (40, 2, 2), generator=g)
    boxes = torch.cat([corners.min(1).values, corners.max(1).values + 1], 1)  # (40, 4)
    masks = torch.zeros(40, 1, 13, 13)
    for k, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        masks[k, 0, y0:y1, x0:x1] = 1
    pairwise = box_iou(boxes[:20], boxes[20:]).diagonal()
    torch.testing.assert_close(pairwise, iou(masks[:20], masks[20:], reduction="none")[:, 0])


# Image 1: targets A, B; detections hit A (0.9), hit A again (0.8, a duplicate), overlap B at
# IoU exactly 0.5 (0.7). Image 2: target C, one miss (0.6). By score: TP, FP, TP, FP, 3 targets.
PREDS = [
    torch.tensor([[0, 0, 10, 10, 0.9], [1, 1, 10, 10, 0.8], [20, 20, 30, 25, 0.7]]),
    torch.tensor([[50, 50, 60, 60, 0.6]]),
]
TARGETS = [torch.tensor([[0, 0, 10, 10], [20, 20, 30, 30]]), torch.tensor([[5, 5, 15, 15]])]


def test_detection_scores_by_hand():
    s = detection_scores(PREDS, TARGETS)
    # precision after each detection 1, 1/2, 2/3, 1/2; recall 1/3, 1/3, 2/3, 2/3; the envelope is
    # 1, 2/3, 2/3, 1/2, so AP = 1/3 * 1 + 1/3 * 2/3 = 5/9
    assert s["ap"] == pytest.approx(5 / 9)
    assert (s["tp"], s["fp"], s["fn"], s["n_preds"], s["n_targets"]) == (2, 2, 1, 4, 3)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(4 / 7)
    strict = detection_scores(PREDS, TARGETS, iou_threshold=0.6)  # B's detection no longer counts
    assert strict["ap"] == pytest.approx(1 / 3) and strict["recall"] == pytest.approx(1 / 3)


def test_detection_scores_edge_cases():
    empty = [torch.zeros(0, 5), torch.zeros(0, 5)]
    s = detection_scores(empty, TARGETS)
    assert s["ap"] == 0 and s["recall"] == 0 and math.isnan(s["precision"]) and s["f1"] == 0
    s = detection_scores(PREDS, [torch.zeros(0, 4), torch.zeros(0, 4)])
    assert math.isnan(s["recall"]) and math.isnan(s["ap"]) and s["precision"] == 0
    perfect = [torch.cat([t.float(), torch.ones(len(t), 1)], 1) for t in TARGETS]
    s = detection_scores(perfect, TARGETS)
    assert s["ap"] == 1 and s["precision"] == 1 and s["recall"] == 1 and s["f1"] == 1


def test_average_precision_is_the_area_under_the_envelope():
    recall = torch.tensor([0.5, 0.5, 1.0], dtype=torch.float64)
    precision = torch.tensor([1.0, 0.5, 2 / 3], dtype=torch.float64)
    assert average_precision(recall, precision) == pytest.approx(0.5 + 0.5 * 2 / 3)


def reference_scores(preds, targets, threshold):
    """VOC matching and AP written out in plain Python: AP = (1 / n_targets) x the sum, over the
    true positives, of the best precision at that rank or any lower-scored one."""

    def overlap(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return w * h / union if union > 0 else 0.0

    dets = [(d[4], i, d[:4]) for i, p in enumerate(preds) for d in p.tolist()]
    dets.sort(key=lambda d: -d[0])  # stable: ties keep image, row order
    taken = [[False] * len(t) for t in targets]
    hits = []
    for _, i, box in dets:
        free = [(overlap(box, t), k) for k, t in enumerate(targets[i].tolist()) if not taken[i][k]]
        best = max(free, default=(0.0, None))
        hit = best[1] is not None and best[0] >= threshold
        if hit:
            taken[i][best[1]] = True
        hits.append(hit)
    n_targets = sum(len(t) for t in targets)
    precisions = [sum(hits[: r + 1]) / (r + 1) for r in range(len(hits))]
    ap = sum(max(precisions[r:]) for r in range(len(hits)) if hits[r]) / n_targets
    return ap, sum(hits)


@pytest.mark.parametrize("seed", range(5))
def test_detection_scores_match_an_independent_implementation(seed):
    rng = random.Random(seed)

    def box():
        x, y, w, h = rng.uniform(0, 40), rng.uniform(0, 40), rng.uniform(2, 12), rng.uniform(2, 12)
        return [x, y, x + w, y + h]

    targets, preds = [], []
    for _ in range(6):
        t = [box() for _ in range(rng.randint(0, 4))]
        # jittered copies of the targets (some hit, some do not) plus random false alarms
        p = [[v + rng.gauss(0, 1.5) for v in b] for b in t if rng.random() < 0.8]
        p = [[min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])] for b in p]
        p += [box() for _ in range(rng.randint(0, 3))]
        targets.append(torch.tensor(t).reshape(-1, 4))
        preds.append(torch.tensor([b + [rng.random()] for b in p]).reshape(-1, 5))
    for threshold in (0.3, 0.5, 0.7):
        ap, tp = reference_scores(preds, targets, threshold)
        s = detection_scores(preds, targets, iou_threshold=threshold)
        assert s["tp"] == tp
        assert s["ap"] == pytest.approx(ap, abs=1e-12)
    assert 0 < detection_scores(preds, targets)["ap"] < 1  # the cases are neither trivial nor void


@pytest.mark.parametrize(
    ("preds", "target", "kwargs", "match"),
    [
        (torch.zeros(2, 0, 5), [torch.zeros(0, 4)] * 2, {}, "lists with one tensor per image"),
        (PREDS, TARGETS[:1], {}, "one entry per image, got 2 and 1"),
        ([torch.zeros(1, 4), torch.zeros(0, 5)], TARGETS, {}, r"preds\[0\] must be a \(K, 5\)"),
        (PREDS, [torch.zeros(1, 5), torch.zeros(0, 4)], {}, r"target\[0\] must be a \(K, 4\)"),
        ([torch.tensor([[5.0, 0, 1, 1, 0.5]]), torch.zeros(0, 5)], TARGETS, {}, "x1 < x0"),
        ([torch.tensor([[0, 0, 1, math.nan, 0.5]]), torch.zeros(0, 5)], TARGETS, {}, "NaN"),
        (PREDS, TARGETS, {"iou_threshold": 0}, r"iou_threshold must be a number in \(0, 1\]"),
        (PREDS, TARGETS, {"iou_threshold": True}, r"iou_threshold must be a number in \(0, 1\]"),
    ],
)
def test_detection_scores_bad_input(preds, target, kwargs, match):
    with pytest.raises(ValueError, match=match):
        detection_scores(preds, target, **kwargs)


def test_box_iou_bad_input():
    with pytest.raises(ValueError, match=r"preds must be a \(K, 4\) tensor"):
        box_iou(torch.zeros(3), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="y1 < y0"):
        box_iou(torch.zeros(1, 4), torch.tensor([[0.0, 5, 1, 1]]))
