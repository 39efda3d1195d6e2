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
    auc = binary_auc(preds=s, target=y)
    assert auc.dtype == torch.float64 and auc.shape == ()
    assert float(auc) == pytest.approx(_pairwise_auc(y.tolist(), s.tolist()))
    assert float(binary_auc(preds=[0.1, 0.2, 0.8, 0.9], target=[0, 0, 1, 1])) == 1.0


def test_macro_auc_is_mean_of_one_vs_rest():
    g = torch.Generator().manual_seed(1)
    y = torch.arange(30) % 3
    p = torch.softmax(torch.randn(30, 3, generator=g) + torch.eye(3)[y], 1)
    ref = sum(_pairwise_auc((y == c).long().tolist(), p[:, c].tolist()) for c in range(3)) / 3
    assert float(macro_auc(preds=p, target=y)) == pytest.approx(ref)


def test_accuracy_and_balanced_accuracy():
    y = torch.tensor([0, 0, 0, 0, 1, 1])
    pred = torch.tensor([0, 0, 0, 0, 0, 1])
    acc = accuracy(preds=pred, target=y)
    per_case = accuracy(preds=pred, target=y, reduction="none")
    assert acc.shape == () and float(acc) == pytest.approx(5 / 6)
    assert per_case.tolist() == [1, 1, 1, 1, 0, 1]
    # recall of class 0 is 4/4, of class 1 is 1/2; with the arguments swapped it would be 4/5, 1/1
    assert float(balanced_accuracy(preds=pred, target=y)) == pytest.approx((1.0 + 0.5) / 2)


def test_dice_and_iou_per_case_and_label():
    t = torch.zeros(2, 4, 4, dtype=torch.long)
    t[0, :2, :] = 1
    t[1, :, :2] = 2
    p = t.clone()
    p[0, 0, :] = 0  # half of label 1 missed in case 0
    d = dice(p, t, labels=[1, 2], reduction="none")
    assert d.shape == (2, 2)
    assert float(d[0, 0]) == pytest.approx(2 * 4 / (4 + 8))
    assert float(d[1, 1]) == 1.0
    assert torch.isnan(d[0, 1])  # label 2 absent from both: skipped in means
    assert float(iou(p, t, labels=[1], reduction="none")[0, 0]) == pytest.approx(4 / 8)
    assert float(dice(p == 1, t == 1, reduction="none")[0, 0]) == pytest.approx(float(d[0, 0]))
    # the default "mean" is the per-label mean over the cases that have the label
    torch.testing.assert_close(dice(p, t, labels=[1, 2]), torch.nanmean(d, 0))
    assert dice(p, t, labels=[1, 2]).shape == (2,)


def test_auc_single_class():
    with pytest.raises(ValueError, match="both classes"):
        binary_auc(preds=[0.1, 0.2, 0.3], target=[1, 1, 1])


def test_auc_non_binary_labels():
    with pytest.raises(ValueError, match="0/1"):
        binary_auc(preds=[0.1, 0.2, 0.3], target=[0, 2, 1])


def test_auc_shape_mismatch():
    with pytest.raises(ValueError, match="one length"):
        binary_auc(preds=[0.1, 0.2], target=[0, 1, 1])


def test_auc_nan_scores():
    with pytest.raises(ValueError, match="NaN"):
        binary_auc(preds=[0.1, float("nan")], target=[0, 1])


def test_macro_auc_missing_class():
    with pytest.raises(ValueError, match="absent"):
        macro_auc(preds=torch.full((4, 3), 1 / 3), target=[0, 0, 1, 1])


def test_macro_auc_bad_probs_shape():
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        macro_auc(preds=torch.zeros(3, 2), target=[0, 1])


def test_labels_shape_mismatch():
    with pytest.raises(ValueError, match="one length"):
        accuracy(preds=[0, 1], target=[0, 1, 1])


def test_labels_nan():
    with pytest.raises(ValueError, match="NaN"):
        accuracy(preds=torch.tensor([0.0, 1.0]), target=torch.tensor([0.0, float("nan")]))


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
        accuracy(preds=_PROBS[:, 1], target=_Y)  # was 0.5 for this perfect classifier
    with pytest.raises(ValueError, match=r"\(6, 2\).*probs\.argmax\(1\)"):
        accuracy(preds=_PROBS, target=_Y)
    assert float(accuracy(preds=_PROBS.argmax(1), target=_Y)) == 1.0


def test_balanced_accuracy_refuses_fractional_labels():
    with pytest.raises(ValueError, match=r"preds must hold integer class labels, got 6"):
        balanced_accuracy(preds=torch.tensor([0.2, 1.7, 1.2, 0.4, 1.9, 0.1]), target=_Y)  # was 1.0
    with pytest.raises(ValueError, match="target must hold integer"):
        balanced_accuracy(preds=_Y, target=_Y + 0.5)


def test_whole_number_float_labels_are_accepted():
    pred = torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    assert float(accuracy(preds=pred, target=_Y.double())) == pytest.approx(5 / 6)
    per_case = accuracy(preds=pred, target=_Y.double(), reduction="none")
    assert per_case.tolist() == [1, 1, 0, 1, 1, 1]
    assert float(balanced_accuracy(preds=_Y.double(), target=_Y.double())) == 1.0


def test_labels_outside_n_classes_are_refused():
    with pytest.raises(ValueError, match=r"label\(s\) \[3\] outside the 2 classes 0\.\.1"):
        accuracy(preds=torch.tensor([0, 1, 3, 0, 1, 0]), target=_Y, n_classes=2)
    with pytest.raises(ValueError, match=r"\[-1\] outside"):
        balanced_accuracy(preds=_Y, target=torch.tensor([-1, 1, 1, 0, 1, 0]), n_classes=2)
    with pytest.raises(ValueError, match="n_classes must be a positive int"):
        accuracy(preds=_Y, target=_Y, n_classes=True)
    assert float(accuracy(preds=_Y, target=_Y, n_classes=2)) == 1.0


def test_macro_auc_refuses_labels_outside_the_classes():
    p = torch.softmax(torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), 1)
    with pytest.raises(ValueError, match=r"target holds label\(s\) \[5\] outside the 3 classes"):
        macro_auc(preds=p, target=torch.tensor([0, 1, 2, 0, 1, 5]))  # was 0.48, silently
    with pytest.raises(ValueError, match="target must hold integer"):
        macro_auc(preds=p, target=torch.tensor([0.0, 1.0, 2.0, 0.0, 1.0, 1.5]))
    with pytest.raises(ValueError, match="1-D"):
        macro_auc(preds=p, target=torch.zeros(6, 3))


# -- one calling convention (issue 13, item 6) ----------------------------------------------------


@pytest.mark.parametrize(
    "metric", [accuracy, balanced_accuracy, binary_auc, macro_auc], ids=lambda f: f.__name__
)
def test_classification_metrics_refuse_the_old_positional_order(metric):
    # (y_true, y_pred) was the order; labels have the same shape either way, so positional calls
    # would silently swap them: they raise instead
    with pytest.raises(TypeError, match="positional"):
        metric(_Y, _PROBS.argmax(1))


def test_dice_reduction_is_checked():
    with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'none'\)"):
        dice(torch.ones(1, 4, 4), torch.ones(1, 4, 4), reduction="sum")


def test_balanced_accuracy_interval_resamples_within_classes():
    from medgen_nb.metrics import balanced_accuracy, balanced_accuracy_ci

    target = torch.tensor([0] * 30 + [1] * 10)
    perfect = balanced_accuracy_ci(preds=target.clone(), target=target, n_boot=200)
    assert perfect == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    preds = target.clone()
    preds[:6] = 1  # 6 of 30 class-0 items wrong: recall 0.8 and 1.0, balanced 0.9
    out = balanced_accuracy_ci(preds=preds, target=target, n_boot=500, seed=1)
    assert (
        out["value"] == pytest.approx(0.9) == float(balanced_accuracy(preds=preds, target=target))
    )
    assert out["ci_low"] < 0.9 < out["ci_high"] <= 1.0
    assert out == balanced_accuracy_ci(preds=preds, target=target, n_boot=500, seed=1)  # seeded
