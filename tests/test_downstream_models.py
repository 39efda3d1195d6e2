"""Downstream models: output shapes and ranges, decoding, losses, bad input, and that each one
trained by ``fit`` for a few dozen steps learns a tiny easy problem."""

import json
import math

import pytest
import torch
from torch.utils.data import Dataset

from medgen_nb.data.chest_ct import boxes_from_seg
from medgen_nb.downstream import (
    MODELS,
    NoduleDetector,
    SegmentationUNet,
    SliceClassifier,
    available,
    create,
    soft_dice_loss,
)
from medgen_nb.downstream.detector import centre_focal_loss, centre_targets
from medgen_nb.metrics import balanced_accuracy, dice
from medgen_nb.metrics.detection import detection_scores
from medgen_nb.train import fit

pytestmark = pytest.mark.usefixtures("one_thread")
S = 32  # image size of the toy problems


class Items(Dataset):
    def __init__(self, tensors):
        self.tensors = tensors

    def __len__(self):
        return len(self.tensors["image"])

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.tensors.items()}


def squares(n, seed):
    """Label 1: a bright 8x8 square, label 0: a dark one, on mid-grey noise."""
    g = torch.Generator().manual_seed(seed)
    image = 0.5 + 0.05 * torch.randn(n, 1, S, S, generator=g)
    label = torch.randint(0, 2, (n,), generator=g)
    for i in range(n):
        x, y = torch.randint(0, S - 8, (2,), generator=g).tolist()
        image[i, 0, y : y + 8, x : x + 8] = 0.9 if label[i] else 0.1
    return {"image": image.clamp(0, 1), "label": label}


def discs(n, seed, radii=(3, 7), max_count=1, instances=False):
    """Bright discs on dark noise; ``seg`` is 1 inside (or one id per disc with ``instances``)."""
    g = torch.Generator().manual_seed(seed)
    image = 0.2 + 0.05 * torch.randn(n, 1, S, S, generator=g)
    seg = torch.zeros(n, S, S, dtype=torch.long)
    yy, xx = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
    for i in range(n):
        for j in range(int(torch.randint(1, max_count + 1, (1,), generator=g))):
            r = float(torch.randint(radii[0], radii[1] + 1, (1,), generator=g))
            cx, cy = (torch.rand(2, generator=g) * (S - 2 * r - 2) + r + 1).tolist()
            inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
            if (seg[i][inside] > 0).any():  # keep instances apart
                continue
            seg[i][inside] = j + 1 if instances else 1
            image[i, 0][inside] = 0.8
    return {"image": image.clamp(0, 1), "seg": seg}


def tiny(name, **config):
    return create(name, size=16, base_channels=4, **config)


# --- registry and config ------------------------------------------------------------------------
def test_registry_names_and_unknown_name():
    assert available() == ["classifier", "detector", "segmenter"]
    assert MODELS["segmenter"] is SegmentationUNet
    with pytest.raises(ValueError, match="choose one of"):
        create("unet")


@pytest.mark.parametrize("name", ["classifier", "segmenter", "detector"])
def test_config_rebuilds_the_same_model(name):
    model = tiny(name, lr=2e-3)
    clone = create(name, **json.loads(json.dumps(model.config)))  # what a checkpoint stores
    clone.load_state_dict(model.state_dict())
    x = torch.rand(2, 1, 16, 16)
    assert torch.equal(model(x), clone(x))
    assert clone.config == model.config


# --- shapes and ranges --------------------------------------------------------------------------
def test_classifier_outputs():
    model = tiny("classifier", num_classes=3, in_channels=2)
    probs = model.predict_proba(torch.rand(5, 2, 16, 16))
    assert probs.shape == (5, 3) and probs.dtype == torch.float32
    assert (probs >= 0).all() and torch.allclose(probs.sum(1), torch.ones(5))
    labels = model.predict(torch.rand(5, 2, 16, 16))
    assert labels.shape == (5,) and labels.dtype == torch.int64 and labels.max() < 3


def test_segmenter_outputs():
    model = tiny("segmenter", num_classes=4)
    x = torch.rand(3, 1, 16, 16)
    probs = model.predict_proba(x)
    assert probs.shape == (3, 4, 16, 16)
    assert torch.allclose(probs.sum(1), torch.ones(3, 16, 16), atol=1e-5)
    seg = model.segment(x)
    assert seg.shape == (3, 16, 16) and seg.dtype == torch.int64
    assert seg.min() >= 0 and seg.max() < 4
    assert torch.equal(seg, probs.argmax(1))


def test_detector_outputs():
    model = tiny("detector")
    x = torch.rand(4, 1, 16, 16)
    heat = model.heatmap(x)
    assert heat.shape == (4, 16, 16) and heat.min() >= 0 and heat.max() <= 1
    found = model.detect(x, threshold=0.05, max_detections=3)
    assert len(found) == 4
    for boxes in found:
        assert boxes.ndim == 2 and boxes.shape[1] == 5 and len(boxes) <= 3
        assert (boxes[:, :4] >= 0).all() and (boxes[:, :4] <= 16).all()
        assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
        assert (boxes[:, 4] > 0.05).all() and (boxes[:, 4] <= 1).all()
        assert torch.equal(boxes[:, 4], boxes[:, 4].sort(descending=True).values)
    assert sum(len(b) for b in found) > 0  # the 0.1 prior leaves peaks above 0.05


# --- detector targets, decoding and loss ----------------------------------------------------------
def test_centre_targets_by_hand():
    seg = torch.zeros(1, 16, 16, dtype=torch.long)
    seg[0, 4:8, 2:5] = 7  # rows 4..7, columns 2..4: box [2, 4, 5, 8], centre (3.5, 6.0)
    Y, box, centre = centre_targets(seg)
    assert centre.sum() == 1 and centre[0, 6, 3]
    assert Y[0, 6, 3] == 1 and (Y[0][~centre[0]] < 1).all() and Y.min() >= 0
    torch.testing.assert_close(box[0, :, 6, 3], torch.tensor([0.5, 0.0, math.log(3), math.log(4)]))
    assert box[0][:, ~centre[0]].abs().sum() == 0


def test_detect_decodes_perfect_maps_into_the_true_boxes(monkeypatch):
    """Fed maps built from the targets themselves, detect returns exactly boxes_from_seg."""
    data = discs(3, seed=5, radii=(2, 4), max_count=3, instances=True)
    seg = torch.nn.functional.interpolate(data["seg"][:, None].float(), size=16).long()[:, 0]
    Y, box, _ = centre_targets(seg)
    logits = torch.logit(Y.clamp(1e-4, 1 - 1e-4))
    model = tiny("detector")
    monkeypatch.setattr(model, "forward", lambda images: torch.cat([logits[:, None], box], 1))
    found = model.detect(torch.rand(3, 1, 16, 16), threshold=0.5)
    for boxes, s in zip(found, seg, strict=True):
        expected = boxes_from_seg(s)
        order = lambda b: b[torch.argsort(b[:, 0] * 100 + b[:, 1])]  # noqa: E731
        torch.testing.assert_close(order(boxes[:, :4]), order(expected))


def test_focal_loss_prefers_the_target_heatmap():
    seg = torch.zeros(2, 16, 16, dtype=torch.long)
    seg[0, 3:9, 3:9], seg[1, 8:12, 2:6] = 1, 1
    Y, _, _ = centre_targets(seg)
    good = centre_focal_loss(torch.logit(Y.clamp(1e-4, 1 - 1e-4)), Y)
    shifted = centre_focal_loss(torch.logit(Y.roll(4, dims=2).clamp(1e-4, 1 - 1e-4)), Y)
    flat = centre_focal_loss(torch.full_like(Y, -2.0), Y)
    # Ŷ = Y is not the minimum (negatives near a centre still cost a little), but it is close
    assert good < 0.1 and shifted > 10 * good and flat > 10 * good


def test_soft_dice_loss_by_hand():
    seg = torch.zeros(1, 8, 8, dtype=torch.long)
    seg[0, 2:6, 2:6] = 1
    perfect = torch.nn.functional.one_hot(seg, 2).permute(0, 3, 1, 2).float() * 50
    assert soft_dice_loss(perfect, seg) < 1e-3
    # p = 1/2 everywhere: overlap 8, sum p 32, sum y 16 -> Dice (16 + 1) / (48 + 1)
    assert soft_dice_loss(torch.zeros(1, 2, 8, 8), seg).item() == pytest.approx(1 - 17 / 49)


# --- learning a tiny problem ----------------------------------------------------------------------
def test_classifier_learns_bright_vs_dark_squares():
    model = SliceClassifier(size=S, base_channels=8, lr=3e-3)
    fit(model, Items(squares(256, seed=0)), 30, batch_size=16, progress=False, precision="fp32")
    test = squares(128, seed=1)
    assert balanced_accuracy(preds=model.predict(test["image"]), target=test["label"]) >= 0.9


def test_segmenter_learns_discs():
    model = SegmentationUNet(size=S, base_channels=8, lr=3e-3)
    history = fit(
        model, Items(discs(256, seed=0)), 40, batch_size=16, progress=False, precision="fp32"
    )
    assert {"loss", "loss_ce", "loss_dice"} <= set(history.logs)
    test = discs(64, seed=1)
    assert dice(model.segment(test["image"]), test["seg"]).mean() >= 0.8


def test_detector_finds_bright_blobs():
    train = discs(256, seed=0, radii=(2, 4), max_count=2, instances=True)
    model = NoduleDetector(size=S, base_channels=8, lr=5e-3, typical_size=6.0)  # boxes 5-9 px
    history = fit(model, Items(train), 80, batch_size=16, progress=False, precision="fp32")
    assert history.logs["loss_heatmap"][-1] < history.logs["loss_heatmap"][0]
    test = discs(64, seed=1, radii=(2, 4), max_count=2, instances=True)
    scores = detection_scores(model.detect(test["image"]), [boxes_from_seg(s) for s in test["seg"]])
    assert scores["recall"] >= 0.8 and scores["precision"] >= 0.8


# --- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "config", "match"),
    [
        ("classifier", {"num_classes": 1}, "num_classes must be an int >= 2"),
        ("segmenter", {"num_classes": 2.0}, "num_classes must be an int >= 2"),
        ("classifier", {"size": 24}, "size must be a power of two >= 16"),
        ("segmenter", {"size": 8}, "size must be a power of two >= 16"),
        ("detector", {"in_channels": 0}, "in_channels must be an int >= 1"),
        ("detector", {"base_channels": True}, "base_channels must be an int >= 1"),
        ("classifier", {"lr": -1.0}, "lr must be a finite number > 0"),
        ("detector", {"box_weight": float("nan")}, "box_weight must be a finite number >= 0"),
        ("detector", {"typical_size": 0}, "typical_size must be a box side in pixels > 0"),
    ],
)
def test_bad_settings(name, config, match):
    with pytest.raises(ValueError, match=match):
        create(name, **{"size": 16, **config})


@pytest.mark.parametrize("name", ["classifier", "segmenter", "detector"])
def test_bad_images(name):
    model = tiny(name)
    with pytest.raises(ValueError, match="2 channels but the model was built with in_channels=1"):
        model(torch.rand(2, 2, 16, 16))
    with pytest.raises(ValueError, match=r"spatial size \(32, 32\)"):
        model(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"look like \[-1, 1\] images"):
        model(torch.rand(2, 1, 16, 16) * 2 - 1)
    with pytest.raises(ValueError, match="must be a \\(B, C, H, W\\) tensor"):
        model(torch.rand(1, 16, 16))


def test_bad_labels_and_label_maps():
    x = torch.rand(2, 1, 16, 16)
    with pytest.raises(ValueError, match=r"batch\[\"label\"\] must lie in \[0, 2\)"):
        tiny("classifier").loss({"image": x, "label": torch.tensor([0, 2])})
    with pytest.raises(ValueError, match="must hold 2 labels"):
        tiny("classifier").loss({"image": x, "label": torch.tensor([0, 1, 1])})
    segmenter = tiny("segmenter", num_classes=3)
    with pytest.raises(ValueError, match=r"labels 0\.\.2, got values in \[0, 3\]"):
        segmenter.loss({"image": x, "seg": torch.eye(16, dtype=torch.long).repeat(2, 1, 1) * 3})
    with pytest.raises(ValueError, match="integer labels .* got dtype torch.float32"):
        segmenter.loss({"image": x, "seg": torch.zeros(2, 16, 16)})
    with pytest.raises(ValueError, match=r"must be a \(2, 16, 16\) integer label map"):
        tiny("detector").loss({"image": x, "seg": torch.zeros(2, 1, 16, 16, dtype=torch.long)})
    with pytest.raises(ValueError, match=r"labels >= 0, got values in \[-1, -1\]"):
        tiny("detector").loss({"image": x, "seg": -torch.ones(2, 16, 16, dtype=torch.long)})


def test_fit_names_the_missing_batch_key():
    data = Items({"image": torch.rand(8, 1, 16, 16)})
    with pytest.raises(ValueError, match=r"needs batch keys \['image', 'seg'\].*missing \['seg'\]"):
        fit(tiny("segmenter"), data, 1, batch_size=4, progress=False)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"threshold": 1.0}, "threshold must be a number in"),
    ({"threshold": "0.3"}, "threshold must be a number in"),
    ({"max_detections": 0}, "max_detections must be an int >= 1"),
])  # fmt: skip
def test_bad_detect_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny("detector").detect(torch.rand(1, 1, 16, 16), **kwargs)


def test_downstream_models_checkpoint_and_reload(tmp_path):
    from torch.utils.data import TensorDataset

    from medgen_nb.checkpoint import load_checkpoint
    from medgen_nb.models import create as create_any
    from medgen_nb.train import fit

    torch.manual_seed(0)
    model = create("classifier", size=16, base_channels=4)
    data = TensorDataset(torch.rand(8, 1, 16, 16), torch.randint(0, 2, (8,)))
    fit(model, data, 2, batch_size=4, checkpoint_dir=tmp_path, progress=False, precision="fp32")
    again = load_checkpoint(tmp_path)
    assert type(again) is type(model) and again.config == model.config
    x = torch.rand(3, 1, 16, 16)
    assert torch.allclose(again.predict_proba(x), model.predict_proba(x))
    assert type(create_any("segmenter", size=16, base_channels=4)).__name__ == "SegmentationUNet"


def test_register_refuses_a_taken_name_and_non_models():
    from medgen_nb.models import register

    with pytest.raises(ValueError, match="taken by"):
        register("pix2pix", SliceClassifier)
    with pytest.raises(ValueError, match="GenerativeModel subclass"):
        register("thing", dict)
