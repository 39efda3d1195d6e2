"""fit_or_load, predict and evaluate: keyed runs, batched prediction, tidy subject-level results."""

import json
import math

import numpy as np
import pytest
import torch

from medgen_nb import tasks
from medgen_nb.evaluation import (
    Results,
    Row,
    evaluate,
    fit_or_load,
    predict,
    record_key,
    unpaired_training_set,
)
from medgen_nb.metrics import cluster_mean_ci, mean_ci, psnr
from medgen_nb.models import create
from medgen_nb.models.base import Sampler, Translator
from medgen_nb.models.baselines import IntensityMappingBaseline

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def brain():
    return tasks.build(tasks.get("brain_t1w_to_t2w"), smoke=True)


@pytest.fixture(scope="module")
def brain6():
    """Six subjects: four train, one val, one test (two in test with fractions below)."""
    task = tasks.TranslationTask(
        "t1w_t2w_six", "test task", region="brain", fractions=(0.5, 0.17, 0.33), min_foreground=0.1,
        min_brain=0.25,
    )  # fmt: skip
    return tasks.build(task, smoke=True, n_subjects=6)


def _pix2pix(size=32):
    torch.manual_seed(0)
    return create("pix2pix", size=size, base_channels=4)


def test_fit_or_load_trains_once_then_loads_the_same_weights(brain, tmp_path):
    first = fit_or_load(_pix2pix(), brain, steps=4, batch_size=4, cache=tmp_path)
    assert first.source == "trained" and first.history.steps_done == 4
    stored = json.loads((first.checkpoint_dir / "run.json").read_text())
    assert stored == first.record and first.key == record_key(stored)
    again = fit_or_load(_pix2pix(), brain, steps=4, batch_size=4, cache=tmp_path)
    assert again.source == "cache" and again.key == first.key
    for a, b in zip(
        first.model.state_dict().values(), again.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert not again.model.training


def test_every_setting_that_changes_the_weights_changes_the_key(brain, tmp_path):
    base = fit_or_load(_pix2pix(), brain, steps=2, batch_size=4, cache=tmp_path).key
    keys = {
        fit_or_load(_pix2pix(), brain, steps=3, batch_size=4, cache=tmp_path).key,
        fit_or_load(_pix2pix(), brain, steps=2, batch_size=2, cache=tmp_path).key,
        fit_or_load(_pix2pix(), brain, steps=2, batch_size=4, seed=1, cache=tmp_path).key,
        fit_or_load(create("pix2pix", size=32, base_channels=8), brain, steps=2, batch_size=4,
                    cache=tmp_path).key,
    }  # fmt: skip
    assert base not in keys and len(keys) == 4
    other_data = tasks.build(tasks.get("brain_t1w_to_t2w"), smoke=True, seed=1)
    assert fit_or_load(_pix2pix(), other_data, steps=2, batch_size=4, cache=tmp_path).key != base


def test_a_pretrained_folder_is_used_first(brain, tmp_path):
    trained = fit_or_load(_pix2pix(), brain, steps=3, batch_size=4, cache=tmp_path / "cache")
    shipped = tmp_path / "zoo"
    shipped.mkdir()
    trained.checkpoint_dir.rename(shipped / trained.key)
    loaded = fit_or_load(_pix2pix(), brain, steps=3, batch_size=4, cache=tmp_path / "cache",
                         pretrained=[shipped])  # fmt: skip
    assert loaded.source == "pretrained" and loaded.checkpoint_dir == shipped / trained.key


def test_a_folder_with_another_record_is_not_loaded(brain, tmp_path):
    run = fit_or_load(_pix2pix(), brain, steps=2, batch_size=4, cache=tmp_path)
    record = json.loads((run.checkpoint_dir / "run.json").read_text())
    record["train"]["steps"] = 999
    (run.checkpoint_dir / "run.json").write_text(json.dumps(record))
    found = fit_or_load(_pix2pix(), brain, steps=2, batch_size=4, pretrained=[tmp_path])
    assert found.source != "pretrained"


def test_a_baseline_is_fitted_on_the_training_split(brain):
    run = fit_or_load(IntensityMappingBaseline(), brain, steps=0)
    assert run.model.fitted and run.checkpoint_dir is None


def test_unpaired_models_train_on_disjoint_subjects(brain):
    pairs = unpaired_training_set(brain["train"], seed=0)
    a_subjects = {int(pairs.a[i]["subject"]) for i in range(len(pairs.a))}
    b_subjects = {int(pairs.b.data[i]["subject"]) for i in range(len(pairs.b))}
    assert a_subjects and b_subjects and not (a_subjects & b_subjects)
    item = pairs[0]
    assert set(item) == {"image", "target"}
    run = fit_or_load(
        create("cyclegan", size=32, base_channels=4, n_res_blocks=1), brain, steps=2, batch_size=2
    )
    assert run.record["train"]["pairing"] == "unpaired"


class _LabelledSlices(torch.utils.data.Dataset):
    """Eight slices of four subjects, every other one with a lesion (label 1)."""

    def __init__(self):
        self.items = [
            {"image": torch.rand(1, 8, 8), "target": torch.rand(1, 8, 8),
             "subject": torch.tensor(i // 2), "label": torch.tensor(i % 2)}
            for i in range(8)
        ]  # fmt: skip

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]

    def tensors(self):
        return {k: torch.stack([it[k] for it in self.items]) for k in self.items[0]}


def test_lesion_free_domain_b_drops_every_slice_with_a_lesion():
    data = _LabelledSlices()
    full = unpaired_training_set(data, seed=0)
    clean = unpaired_training_set(data, seed=0, lesion_free_b=True)
    had = [int(full.b.data[i]["label"]) for i in range(len(full.b))]
    assert had.count(1) == 2 and had.count(0) == 2  # subjects 1 and 3, one lesion slice each
    labels = [int(clean.b.data[i]["label"]) for i in range(len(clean.b))]
    assert labels == [0, 0]
    assert len(clean.a) == len(full.a) == 4  # domain A keeps every slice, lesions included
    with pytest.raises(ValueError, match="needs slice labels"):
        data.items = [{k: v for k, v in it.items() if k != "label"} for it in data.items]
        unpaired_training_set(data, seed=0, lesion_free_b=True)


def test_predict_translates_in_batches_without_grad(brain):
    model = _pix2pix()
    images = brain["test"].tensors()["image"][:10]
    out = predict(model, images, batch_size=3)
    assert out.shape == (10, 1, 32, 32) and out.dtype == torch.float32 and not out.requires_grad
    with torch.no_grad():
        model.eval()
        assert torch.allclose(out, model.translate(images), atol=1e-6)
    assert isinstance(model, Translator) and not isinstance(model, Sampler)


def test_predict_samples_reproducibly_with_labels():
    vae = create("cvae", size=32, base_channels=4, latent_dim=4, num_classes=2)
    a = predict(vae, labels=torch.tensor([0, 1, 1, 0, 1]), batch_size=2, seed=3)
    b = predict(vae, labels=torch.tensor([0, 1, 1, 0, 1]), batch_size=2, seed=3)
    assert a.shape == (5, 1, 32, 32) and torch.equal(a, b)
    with pytest.raises(ValueError, match="labels are required"):
        predict(vae, n=3)
    plain = create("vae", size=32, base_channels=4, latent_dim=4)
    assert predict(plain, n=3).shape == (3, 1, 32, 32)
    with pytest.raises(ValueError, match="cannot translate"):
        predict(vae, torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="pass images, n"):
        predict(vae)
    with pytest.raises(ValueError, match="cannot sample"):
        predict(_pix2pix(), n=2)


def test_evaluate_returns_tidy_rows_with_subject_intervals(brain6):
    base = fit_or_load(IntensityMappingBaseline(), brain6, steps=0).model
    table = evaluate(base, brain6, name="lookup", n_boot=200)
    assert isinstance(table, Results) and [r.metric for r in table] == ["mae", "psnr", "ssim"]
    row = table.get("lookup", "psnr")
    t = brain6["test"].tensors()
    assert row.subjects == 2 and row.images == len(t["image"])
    assert row.unit == "dB" and row.higher_is_better
    assert row.ci_low <= row.value <= row.ci_high
    # value = the mean over subjects of each subject's masked PSNR
    per_image = psnr(base.translate(t["image"]), t["target"], data_range=1.0, mask=t["mask"],
                     reduction="none")  # fmt: skip
    means = [float(per_image[t["subject"] == s].mean()) for s in torch.unique(t["subject"])]
    assert row.value == pytest.approx(float(np.mean(means)), abs=1e-9)
    assert sorted(row.per_subject.values()) == pytest.approx(sorted(means), abs=1e-9)


def test_ct_and_pet_targets_report_physical_units():
    ct = tasks.build(tasks.get("brain_t1w_to_ct"), smoke=True)
    base = fit_or_load(IntensityMappingBaseline(), ct, steps=0).model
    rows = {r.metric: r for r in evaluate(base, ct, name="lookup", n_boot=50)}
    assert rows["mae_hu"].unit == "HU" and 1.0 < rows["mae_hu"].value < 1000.0
    assert rows["mae_hu_bone"].value > rows["mae_hu_soft_tissue"].value
    pet = tasks.build(tasks.get("brain_t1w_to_pet"), smoke=True)
    base = fit_or_load(IntensityMappingBaseline(), pet, steps=0).model
    suv = evaluate(base, pet, name="lookup", n_boot=50).get("lookup", "mae_suv")
    assert suv.unit == "SUV" and 0.0 < suv.value < 12.0


def test_per_image_metrics_in_chunks_equal_one_pass(monkeypatch):
    # evaluate scores METRIC_CHUNK images at a time to bound memory; every value is per image,
    # so chunking must not change one of them (CT: HU regions, the mask, the last short chunk).
    from medgen_nb.evaluation import scoring

    ct = tasks.build(tasks.get("brain_t1w_to_ct"), smoke=True)
    t = ct["test"].tensors()
    pred = IntensityMappingBaseline().fit(t["image"], t["target"]).translate(t["image"])
    intensity = scoring._target_map(ct["test"], "ct")
    args = (ct.task, pred, t["target"], t["mask"], intensity)
    whole = scoring.per_image_metrics(*args)
    monkeypatch.setattr(scoring, "METRIC_CHUNK", 7)
    assert len(pred) > 2 * 7 and len(pred) % 7
    chunked = scoring.per_image_metrics(*args)
    assert whole.keys() == chunked.keys() and "mae_hu_bone" in whole
    for k in whole:
        torch.testing.assert_close(chunked[k], whole[k], rtol=0, atol=0, equal_nan=True)


def test_results_concatenate_and_render(brain6):
    base = fit_or_load(IntensityMappingBaseline(), brain6, steps=0).model
    model = _pix2pix()
    table = evaluate(base, brain6, name="lookup", n_boot=50) + evaluate(
        model, brain6, name="untrained Pix2Pix", n_boot=50
    )
    md = table.to_markdown()
    assert md.splitlines()[0].startswith("| model | subjects | images | mae ([0, 1]) ↓")
    assert "| lookup | 2 |" in md and "| untrained Pix2Pix | 2 |" in md
    csv = table.to_csv()
    assert csv.splitlines()[0].startswith("task,data,model,metric,value,ci_low,ci_high")
    assert len(csv.splitlines()) == 1 + 6
    assert table.get("untrained Pix2Pix", "ssim").value < table.get("lookup", "ssim").value
    with pytest.raises(ValueError, match="expected one row"):
        table.get("lookup", "fid")


def test_cluster_interval_is_wider_than_slice_interval_for_correlated_slices():
    # 8 subjects, 30 slices each, every slice of a subject has the same value: the slices carry
    # no more information than one value per subject.
    rng = np.random.default_rng(0)
    subject_values = rng.normal(20.0, 2.0, 8)
    values = np.repeat(subject_values, 30)
    subjects = np.repeat(np.arange(8), 30)
    cluster = cluster_mean_ci(values, subjects, n_boot=2000, seed=0)
    naive = mean_ci(values, n_boot=2000, seed=0)
    assert cluster.value == pytest.approx(naive.value)
    assert (cluster.high - cluster.low) > 3 * (naive.high - naive.low)


def test_cluster_interval_needs_two_subjects_and_finite_values():
    with pytest.raises(ValueError, match="at least 2 subjects"):
        cluster_mean_ci([1.0, 2.0], [0, 0])
    with pytest.raises(ValueError, match="infinite"):
        cluster_mean_ci([1.0, math.inf], [0, 1])


def test_evaluate_refuses_a_model_of_the_wrong_size(brain):
    with pytest.raises(ValueError, match="size"):
        evaluate(create("pix2pix", size=64, base_channels=4), brain)


def test_rows_are_plain_records(brain6):
    base = fit_or_load(IntensityMappingBaseline(), brain6, steps=0).model
    rec = evaluate(base, brain6, name="lookup", n_boot=20).records()[0]
    assert set(rec) == {
        "task", "data", "model", "metric", "value", "ci_low", "ci_high", "unit",
        "higher_is_better", "images", "subjects",
    }  # fmt: skip
    with pytest.raises(ValueError, match="Row objects"):
        Results([rec])
    assert isinstance(Results([Row(**rec)]), Results)


@pytest.fixture(scope="module")
def creation():
    task = tasks.CreationTask(
        "t1w_slices_test", "test task", region="brain", modality="t1w", size=32,
        fractions=(0.5, 0.1, 0.4), min_foreground=0.1, min_brain=0.25,
    )  # fmt: skip
    return tasks.build(task, smoke=True, n_subjects=6)


def test_creation_scores_a_sampler_against_the_real_floor(creation):
    vae = create("vae", size=32, base_channels=4, latent_dim=4)
    with pytest.warns(UserWarning, match="fewer than the task's 640"):
        table = evaluate(vae, creation, name="untrained VAE")
    assert {r.model for r in table} == {"untrained VAE", "real vs real"}
    assert [r.metric for r in table if r.model == "untrained VAE"] == [
        "fid", "kid", "precision", "recall", "density", "coverage",
    ]  # fmt: skip
    fake, floor = table.get("untrained VAE", "fid"), table.get("real vs real", "fid")
    assert fake.value > 3 * floor.value  # noise from an untrained decoder is far from real slices
    assert fake.ci_low <= fake.value <= fake.ci_high and fake.subjects == 2
    assert floor.images < fake.images  # the floor compares two halves of the real slices
    assert (
        table.get("real vs real", "precision").value > table.get("untrained VAE", "precision").value
    )


def test_subsample_intervals_are_centred_and_reproducible():
    from medgen_nb.evaluation.creation import subsample_intervals

    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(200, 4, generator=g), torch.randn(200, 4, generator=g) + 0.5
    subjects = torch.arange(200) // 20

    def mean_gap(a, b):
        return {"gap": float(b.mean() - a.mean())}

    a = subsample_intervals(mean_gap, real, subjects, fake, n_draws=200, seed=1)["gap"]
    b = subsample_intervals(mean_gap, real, subjects, fake, n_draws=200, seed=1)["gap"]
    assert a == b and a[1] < a[0] < a[2]
    assert a[1] < 0.5 < a[2]  # covers the true gap of 0.5
    one = subsample_intervals(mean_gap, real, torch.zeros(200), fake)["gap"]
    assert math.isnan(one[1]) and math.isnan(one[2])
    # FID at half the subjects is biased upwards; the interval still holds the full-N value
    from medgen_nb.metrics import fid

    same = torch.randn(200, 4, generator=g)
    value, low, high = subsample_intervals(
        lambda a, b: {"fid": fid(a, b, warn_small_n=False)}, real, subjects, same, seed=1
    )["fid"]
    assert low <= value <= high


def test_conditional_generators_get_the_real_label_mix():
    from medgen_nb.evaluation.creation import _generate

    class RecordingSampler(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.seen = []

        def sample(self, n, labels=None, generator=None):
            self.seen.append(labels.clone())
            return torch.rand(n, 1, 32, 32, generator=generator)

    task = tasks.CreationTask(
        "lab", "x", region="brain", modality="t1w", conditioning="label", label_from="seg_present",
        seg_key="lesion",
    )  # fmt: skip
    model, labels = RecordingSampler(), torch.tensor([0, 1, 1, 0, 1])
    out = _generate(model, task, {"label": labels, "image": torch.zeros(5, 1, 32, 32)}, seed=0)
    assert out.shape == (5, 1, 32, 32) and torch.equal(torch.cat(model.seen), labels)


def _downstream_task(problem, **kw):
    base = dict(region="brain", fractions=(0.5, 0.17, 0.33), min_foreground=0.1, min_brain=0.25,
                size=32, loader_kwargs=(("glioma_probability", 1.0),))  # fmt: skip
    return tasks.DownstreamTask(f"test_{problem}", "test task", problem=problem, **{**base, **kw})


def test_downstream_classifier_is_scored_with_pooled_subject_intervals():
    import medgen_nb.downstream  # noqa: F401  (registers the downstream models)

    task = _downstream_task("classification", modality="t1w", label_from="seg_present",
                            seg_key="lesion")  # fmt: skip
    data = tasks.build(task, smoke=True, n_subjects=6)
    torch.manual_seed(0)
    run = fit_or_load(create("classifier", size=32, base_channels=4), data, steps=5, batch_size=8)
    table = evaluate(run.model, data, name="classifier", n_boot=100)
    assert [r.metric for r in table] == ["balanced_accuracy", "auc"]
    for row in table:
        assert 0.0 <= row.value <= 1.0 and row.subjects == 2
        assert math.isnan(row.ci_low) or row.ci_low <= row.value <= row.ci_high


def test_downstream_segmenter_and_detector_rows():
    import medgen_nb.downstream  # noqa: F401

    seg_task = _downstream_task("segmentation", modality="flair", seg_key="lesion", num_classes=5)
    seg_data = tasks.build(seg_task, smoke=True, n_subjects=6)
    seg = create("segmenter", size=32, base_channels=4, num_classes=5)
    dice_row = evaluate(seg, seg_data, name="untrained U-Net", n_boot=50).get(
        "untrained U-Net", "dice"
    )
    assert 0.0 <= dice_row.value <= 1.0 and len(dice_row.per_subject) == dice_row.subjects
    det_task = tasks.get("chest_nodule_detection")
    det_data = tasks.build(det_task, smoke=True)
    det = create("detector", size=32, base_channels=4)
    rows = evaluate(det, det_data, name="untrained detector", n_boot=20, threshold=0.99)
    assert [r.metric for r in rows] == ["recall_iou50", "precision_iou50"]
    assert rows.get("untrained detector", "recall_iou50").value == 0.0  # nothing found at 0.99


def test_cluster_pooled_interval_resamples_subjects():
    from medgen_nb.evaluation import cluster_pooled_ci

    values = np.repeat(np.random.default_rng(0).normal(0.0, 1.0, 10), 20)  # 10 subjects x 20
    subjects = torch.as_tensor(np.repeat(np.arange(10), 20))
    out = cluster_pooled_ci(lambda rows: {"mean": float(values[rows].mean())}, subjects, n_boot=500)
    value, low, high = out["mean"]
    assert value == pytest.approx(values.mean()) and low < value < high
    naive = mean_ci(values, n_boot=500)
    assert (high - low) > 3 * (naive.high - naive.low)
    undefined = cluster_pooled_ci(lambda rows: {"x": math.nan}, subjects, n_boot=20)["x"]
    assert math.isnan(undefined[1])


def test_models_with_other_initial_weights_do_not_share_a_run(brain, tmp_path):
    torch.manual_seed(0)
    first = fit_or_load(create("pix2pix", size=32, base_channels=4), brain, steps=2, batch_size=4,
                        cache=tmp_path)  # fmt: skip
    torch.manual_seed(1)  # same config, other initial weights
    other = fit_or_load(create("pix2pix", size=32, base_channels=4), brain, steps=2, batch_size=4,
                        cache=tmp_path)  # fmt: skip
    assert other.source == "trained" and other.key != first.key
    assert first.record["init_sha256"] != other.record["init_sha256"]


def test_a_loaded_run_leaves_the_random_state_where_training_did(brain, tmp_path):
    torch.manual_seed(0)
    fit_or_load(_pix2pix(), brain, steps=2, batch_size=4, cache=tmp_path)
    after_training = torch.rand(3)
    torch.manual_seed(0)
    loaded = fit_or_load(_pix2pix(), brain, steps=2, batch_size=4, cache=tmp_path)
    assert loaded.source == "cache" and torch.equal(torch.rand(3), after_training)
