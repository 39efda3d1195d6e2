"""Downstream metrics; AUC references computed by hand (pairwise Mann-Whitney count)."""

import itertools

import pytest
import torch

from medgen_nb.metrics import accuracy, balanced_accuracy, binary_auc, dice, iou, macro_auc


def _pairwise_auc(y, s):
    pos = [b for a, b in zip(y, s, strict=True) if a == 1]
    neg = [b for a, b in zip(y, s, strict=True) if a == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_binary_auc_matches_pairwise_count_with_ties():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (60,), generator=g)
    s = torch.randint(0, 6, (60,), generator=g).double() + y  # many ties, informative
    assert binary_auc(y, s) == pytest.approx(_pairwise_auc(y.tolist(), s.tolist()))
    assert binary_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_macro_auc_is_mean_of_one_vs_rest():
    g = torch.Generator().manual_seed(1)
    y = torch.arange(30) % 3
    p = torch.softmax(torch.randn(30, 3, generator=g) + torch.eye(3)[y], 1)
    ref = sum(_pairwise_auc((y == c).long().tolist(), p[:, c].tolist()) for c in range(3)) / 3
    assert macro_auc(y, p) == pytest.approx(ref)


def test_accuracy_and_balanced_accuracy():
    y = torch.tensor([0, 0, 0, 0, 1, 1])
    pred = torch.tensor([0, 0, 0, 0, 0, 1])
    acc, per_case = accuracy(y, pred)
    assert acc == pytest.approx(5 / 6) and per_case.tolist() == [1, 1, 1, 1, 0, 1]
    assert balanced_accuracy(y, pred) == pytest.approx((1.0 + 0.5) / 2)


def test_dice_and_iou_per_case_and_label():
    t = torch.zeros(2, 4, 4, dtype=torch.long)
    t[0, :2, :] = 1
    t[1, :, :2] = 2
    p = t.clone()
    p[0, 0, :] = 0  # half of label 1 missed in case 0
    d = dice(p, t, labels=[1, 2])
    assert d.shape == (2, 2)
    assert float(d[0, 0]) == pytest.approx(2 * 4 / (4 + 8))
    assert float(d[1, 1]) == 1.0
    assert torch.isnan(d[0, 1])  # label 2 absent from both: skipped in means
    assert float(iou(p, t, labels=[1])[0, 0]) == pytest.approx(4 / 8)
    assert float(dice(p == 1, t == 1)[0, 0]) == pytest.approx(float(d[0, 0]))


def test_auc_single_class():
    with pytest.raises(ValueError, match="both classes"):
        binary_auc([1, 1, 1], [0.1, 0.2, 0.3])


def test_auc_non_binary_labels():
    with pytest.raises(ValueError, match="0/1"):
        binary_auc([0, 2, 1], [0.1, 0.2, 0.3])


def test_auc_shape_mismatch():
    with pytest.raises(ValueError, match="one length"):
        binary_auc([0, 1, 1], [0.1, 0.2])


def test_auc_nan_scores():
    with pytest.raises(ValueError, match="NaN"):
        binary_auc([0, 1], [0.1, float("nan")])


def test_macro_auc_missing_class():
    with pytest.raises(ValueError, match="absent"):
        macro_auc([0, 0, 1, 1], torch.full((4, 3), 1 / 3))


def test_macro_auc_bad_probs_shape():
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        macro_auc([0, 1], torch.zeros(3, 2))


def test_labels_shape_mismatch():
    with pytest.raises(ValueError, match="one length"):
        accuracy([0, 1, 1], [0, 1])


def test_labels_nan():
    with pytest.raises(ValueError, match="NaN"):
        accuracy(torch.tensor([0.0, float("nan")]), torch.tensor([0.0, 1.0]))


def test_dice_shape_mismatch():
    with pytest.raises(ValueError, match="one shape"):
        dice(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5))


def test_dice_non_binary_without_labels():
    with pytest.raises(ValueError, match="labels="):
        dice(torch.full((1, 4, 4), 2), torch.zeros(1, 4, 4))


def test_dice_nan():
    p = torch.zeros(1, 4, 4)
    p[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        dice(p, torch.zeros(1, 4, 4))


# -- labels that are not class indices (issue 12, item 5b) ----------------------------------------

_Y = torch.tensor([0, 1, 1, 0, 1, 0])
_PROBS = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9], [0.7, 0.3]])


def test_accuracy_refuses_probabilities_as_labels():
    with pytest.raises(ValueError, match=r"non-integer .*probs\.argmax\(1\)"):
        accuracy(_Y, _PROBS[:, 1])  # was 0.5 for this perfect classifier
    with pytest.raises(ValueError, match=r"\(6, 2\).*probs\.argmax\(1\)"):
        accuracy(_Y, _PROBS)
    assert accuracy(_Y, _PROBS.argmax(1))[0] == 1.0


def test_balanced_accuracy_refuses_fractional_labels():
    with pytest.raises(ValueError, match=r"y_pred must hold integer class labels, got 6"):
        balanced_accuracy(_Y, torch.tensor([0.2, 1.7, 1.2, 0.4, 1.9, 0.1]))  # was 1.0
    with pytest.raises(ValueError, match="y_true must hold integer"):
        balanced_accuracy(_Y + 0.5, _Y)


def test_whole_number_float_labels_are_accepted():
    acc, per_case = accuracy(_Y.double(), torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 0.0]))
    assert acc == pytest.approx(5 / 6) and per_case.tolist() == [1, 1, 0, 1, 1, 1]
    assert balanced_accuracy(_Y.double(), _Y.double()) == 1.0


def test_labels_outside_n_classes_are_refused():
    with pytest.raises(ValueError, match=r"label\(s\) \[3\] outside the 2 classes 0\.\.1"):
        accuracy(_Y, torch.tensor([0, 1, 3, 0, 1, 0]), n_classes=2)
    with pytest.raises(ValueError, match=r"\[-1\] outside"):
        balanced_accuracy(torch.tensor([-1, 1, 1, 0, 1, 0]), _Y, n_classes=2)
    with pytest.raises(ValueError, match="n_classes must be a positive int"):
        accuracy(_Y, _Y, n_classes=True)
    assert accuracy(_Y, _Y, n_classes=2)[0] == 1.0


def test_macro_auc_refuses_labels_outside_the_classes():
    p = torch.softmax(torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), 1)
    with pytest.raises(ValueError, match=r"y_true holds label\(s\) \[5\] outside the 3 classes"):
        macro_auc(torch.tensor([0, 1, 2, 0, 1, 5]), p)  # was 0.48, silently
    with pytest.raises(ValueError, match="y_true must hold integer"):
        macro_auc(torch.tensor([0.0, 1.0, 2.0, 0.0, 1.0, 1.5]), p)
    with pytest.raises(ValueError, match="1-D"):
        macro_auc(torch.zeros(6, 3), p)
