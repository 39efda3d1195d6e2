"""The medical feature network: shipped weights, checks, torchmetrics interop, retraining.

Retraining lives in :mod:`medgen_nb.evaluation.feature_net` (it simulates phantoms, which the
metrics never import) and runs through :func:`medgen_nb.train.fit`.
"""

import json
import shutil

import pytest
import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from medgen_nb.evaluation.feature_net import (
    FeatureData,
    confusion,
    held_out_accuracy,
    main,
    one_cycle,
    pair_accuracy,
    per_class_accuracy,
    train_and_save,
    train_feature_net,
)
from medgen_nb.metrics import fid
from medgen_nb.metrics.features import (
    CARD_PATH,
    WEIGHTS_PATH,
    MedicalFeatureNet,
    class_probabilities,
    extract_features,
    load_card,
    load_feature_net,
)


def _blobs(n=8, size=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(torch.rand(n, 1, size + 8, size + 8, generator=g), 9, 1)
    return (x - x.amin()) / (x.amax() - x.amin())


def test_shipped_weights_load_and_report_accuracy():
    net = load_feature_net()
    card = load_card()
    assert net.num_features == 128
    acc = card["held_out_accuracy"]
    for head in card["classes"]:
        assert acc[head] > acc[f"{head}_chance"], (head, acc)  # better than the majority class


@pytest.mark.parametrize("size", [32, 64, 100])
def test_any_size_and_probabilities(size):
    x = _blobs(size=size)
    f = extract_features(x)
    assert f.shape == (8, 128) and torch.isfinite(f).all()
    p = class_probabilities(x)
    torch.testing.assert_close(p.sum(1), torch.ones(8, dtype=p.dtype))


def test_fid_matches_torchmetrics_with_our_network_as_feature():
    net = load_feature_net()
    real, fake = _blobs(40, 64), _blobs(40, 64, seed=1) ** 2
    tm = FrechetInceptionDistance(feature=net, normalize=True)
    tm.update(real, real=True)
    tm.update(fake, real=False)
    f_real, f_fake = extract_features(real, net), extract_features(fake, net)
    ours = fid(f_real, f_fake, warn_small_n=False)  # N = 40 < 640: a small, deliberate check
    assert ours == pytest.approx(float(tm.compute()), rel=1e-3, abs=1e-6)


def _shapes() -> FeatureData:
    # two simulated classes (bright disc vs dark square) that a tiny run must learn
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    disc = (((yy - 32) ** 2 + (xx - 32) ** 2) < 15**2).float()
    square = ((yy - 32).abs() < 12) & ((xx - 32).abs() < 12)
    g = torch.Generator().manual_seed(0)
    base = torch.stack([disc * 0.9, square.float() * 0.5] * 64)[:, None]
    images = (base + 0.05 * torch.rand(base.shape, generator=g)).clamp(0, 1)
    labels = torch.tensor([0, 1] * 64)
    data = FeatureData(
        images,
        {"shape": labels},
        {"shape": ["disc", "square"]},
        torch.arange(128) >= 96,
        "simulated shapes",
    )
    return data


def test_retraining_writes_loadable_verified_weights(tmp_path, monkeypatch):
    data = _shapes()
    monkeypatch.setattr("medgen_nb.evaluation.feature_net.training_data", lambda: data)
    card = train_and_save(tmp_path, epochs=8)  # 1 step per epoch at 96 slices
    net = load_feature_net(tmp_path / "feature_net.safetensors", tmp_path / "feature_net.json")
    assert card["held_out_accuracy"]["shape"] == 1.0
    assert held_out_accuracy(net, data)["shape"] == 1.0
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporaries


def test_cli_trains_into_the_given_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("medgen_nb.evaluation.feature_net.training_data", _shapes)
    main(["--train", "--out", str(tmp_path), "--epochs", "8"])
    assert json.loads(capsys.readouterr().out)["shape"] == 1.0
    assert load_feature_net(tmp_path / "feature_net.safetensors", tmp_path / "feature_net.json")


def test_one_cycle_follows_torch_one_cycle_lr():
    # The schedule is computed from the step (resumable), but must be torch's OneCycleLR curve.
    total, peak = 40, 2e-3
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=peak, total_steps=total)
    for step in range(total):
        lr, beta1 = one_cycle(step, total, peak)
        group = opt.param_groups[0]
        assert lr == pytest.approx(group["lr"], rel=1e-9), step
        assert beta1 == pytest.approx(group["betas"][0], rel=1e-9), step
        opt.step()
        sched.step()


def test_training_is_repeatable_for_a_seed():
    data = _shapes()
    a, b = (train_feature_net(data, epochs=1, seed=5) for _ in range(2))
    c = train_feature_net(data, epochs=1, seed=6)
    for (name, wa), wb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(wa, wb), name
    assert any(
        not torch.equal(wa, wc) for wa, wc in zip(a.parameters(), c.parameters(), strict=True)
    )


# -- bad input: one test per raise ---------------------------------------------------------------


def test_sha_mismatch(tmp_path):
    shutil.copy(WEIGHTS_PATH, tmp_path / "w.safetensors")
    card = json.loads(CARD_PATH.read_text())
    card["sha256"] = "0" * 64
    (tmp_path / "c.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="sha256"):
        load_feature_net(tmp_path / "w.safetensors", tmp_path / "c.json")


def test_missing_card(tmp_path):
    with pytest.raises(FileNotFoundError, match="--train"):
        load_card(tmp_path / "nope.json")


def test_too_small():
    with pytest.raises(ValueError, match="at least 32"):
        extract_features(torch.rand(2, 1, 16, 16))


def test_wrong_channels():
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        extract_features(torch.rand(2, 3, 64, 64))


def test_wrong_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        extract_features(torch.rand(2, 1, 64, 64) * 255)


def test_nan_images():
    x = torch.rand(2, 1, 64, 64)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        extract_features(x)


def test_unknown_head():
    with pytest.raises(ValueError, match="head must be one of"):
        class_probabilities(torch.rand(2, 1, 64, 64), head="colour")


def test_bad_epochs():
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        train_feature_net(_shapes(), epochs=0)


def test_bad_heads():
    with pytest.raises(ValueError, match="heads"):
        MedicalFeatureNet({"modality": 1})


def test_empty_images():
    with pytest.raises(ValueError, match="empty"):
        extract_features(torch.zeros(0, 1, 64, 64))


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(torch.rand(2, 1, 64, 64), batch_size=0)


def test_shipped_card_separates_t1w_from_t1ce_and_reports_an_unseen_site():
    # Phantom v2 puts gadolinium in vessels, sinuses, dura, choroid plexus and scalp, so T1ce
    # differs from T1w outside a tumour: the modality head must tell them apart on held-out
    # subjects (two-way decision), and the card reports a scanner site never used in training.
    card = load_card()
    assert card["held_out_t1w_vs_t1ce_accuracy"] >= 0.9
    unseen = card["unseen_site"]
    assert unseen["site"] not in card["data"].split("held out")[0]  # not a training site
    assert (
        unseen["n"] > 0 and unseen["accuracy"]["modality"] > unseen["accuracy"]["modality_chance"]
    )
    per_class = card["held_out_per_class_accuracy"]["modality"]
    assert set(per_class) == set(card["classes"]["modality"])


def test_site_test_slices_are_never_trained_on_and_scored_apart():
    data = _shapes()
    site = torch.zeros(128, dtype=torch.bool)
    site[80:96] = True  # neither training nor the held-out-subject test
    data.site_test, data.site_test_name = site, "site_x"
    assert int(data.train_mask().sum()) == 80
    net = train_feature_net(data, epochs=10)  # one step per epoch at 80 slices
    on_site = held_out_accuracy(net, data, data.site_test)
    assert on_site["shape"] == 1.0
    matrix = confusion(net, data, "shape", data.site_test)
    assert sum(map(sum, matrix)) == 16
    assert per_class_accuracy(matrix, ["disc", "square"]) == {"disc": 1.0, "square": 1.0}
    assert per_class_accuracy([[0, 0], [1, 3]], ["a", "b"]) == {"a": None, "b": 0.75}
    # pair_accuracy names classes of the modality head, which this toy network lacks
    with pytest.raises(ValueError, match="modality head"):
        pair_accuracy(net, data, "disc", "square")
