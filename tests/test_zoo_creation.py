"""The zoo's creation entries: generators and their judge re-score, gate, and train end to end.

The shipped entries are re-scored on the verify subset (held-out subjects of phantom population
1). Training runs on a copy of the zoo (``root=``) with tiny recipes on the smoke population.
"""

from __future__ import annotations

import shutil

import pytest
import torch

from medgen_nb import tasks, zoo
from medgen_nb.data.slices import ModalityMix, SliceDataset
from medgen_nb.evaluation import predict
from medgen_nb.metrics import extract_features
from medgen_nb.models import create as create_model
from medgen_nb.tasks.base import CreationTask
from medgen_nb.zoo import creation, training
from medgen_nb.zoo.__main__ import main
from medgen_nb.zoo.creation import check_gates, class_accuracy, verify_creation_entry
from medgen_nb.zoo.manifest import ZOO_DIR, read_manifest, write_manifest
from medgen_nb.zoo.store import as_stored

pytestmark = pytest.mark.usefixtures("one_thread")
CREATION = [n for n in zoo.available() if isinstance(zoo.entry(n)["gate"], list)]
GENERATORS = [n for n in CREATION if not creation.is_judge(zoo.entry(n))]
JUDGE = "judge_mr_contrast_32"
CONTRASTS = ("t1w", "t2w", "flair", "pd")


@pytest.fixture
def zoo_copy(tmp_path):
    shutil.copy(ZOO_DIR / "manifest.json", tmp_path / "manifest.json")
    shutil.copytree(ZOO_DIR / "weights", tmp_path / "weights")
    return tmp_path


@pytest.fixture(scope="module")
def contrast_smoke():
    return tasks.build(tasks.get("brain_mr_by_contrast"), smoke=True)


# ---- the four-contrast task ------------------------------------------------------------------


def test_contrast_task_labels_each_slice_with_its_modality(contrast_smoke):
    test = contrast_smoke["test"]
    assert isinstance(test, ModalityMix) and test.modalities == list(CONTRASTS)
    t = test.tensors()
    counts = torch.bincount(t["label"], minlength=4)
    assert counts.min() == counts.max() > 0  # every slice of every contrast, same count
    # part k is exactly the one-modality slice data set of contrast k
    n = len(test.parts[0])
    for k, name in enumerate(CONTRASTS):
        part = test.parts[k]
        assert part.sources == [name]
        assert torch.equal(t["image"][k * n : (k + 1) * n], part.tensors()["image"])
        assert int(test[k * n]["label"]) == k
    assert int(test[-1]["label"]) == 3 and len(test) == 4 * n
    # the contrasts differ: T2w and T1w slices of the same heads are not the same images
    assert (t["image"][:n] - t["image"][n : 2 * n]).abs().mean() > 0.05
    # the one-modality task records stay as they were (cached runs keep their keys)
    assert "modalities" not in tasks.get("brain_t1w_slices").record()
    assert contrast_smoke.record()["task"]["modalities"] == list(CONTRASTS)


def test_modality_mix_and_task_check_their_parts(contrast_smoke):
    part = contrast_smoke["test"].parts[0]
    with pytest.raises(ValueError, match="at least 2"):
        ModalityMix([part])
    with pytest.raises(ValueError, match="once"):
        ModalityMix([part, part])
    train_part = contrast_smoke["train"].parts[1]  # other subjects
    with pytest.raises(ValueError, match="same subjects"):
        ModalityMix([part, train_part])
    assert isinstance(part, SliceDataset)
    with pytest.raises(IndexError):
        contrast_smoke["test"][len(contrast_smoke["test"])]
    with pytest.raises(ValueError, match="go together"):
        CreationTask("x", "x", "brain", label_from="modality", conditioning="label")
    with pytest.raises(ValueError, match="distinct"):
        CreationTask("x", "x", "brain", modalities=("t1w", "T1"), label_from="modality")


# ---- the shipped entries -------------------------------------------------------------------


@pytest.mark.parametrize("name", CREATION)
def test_shipped_creation_entry_verifies_and_its_gates_are_recorded(name, capsys):
    spec = zoo.entry(name)
    assert spec["weights"]["sha256"], f"{name} is in the manifest but was never trained"
    assert zoo.weights_path(name).stat().st_size == spec["weights"]["bytes"]
    report = verify_creation_entry(name, quick=True)
    assert report["ok"], report
    # the stored verdicts follow from the stored numbers (and the other entries they cite)
    assert [g["passed"] for g in check_gates(spec)] == [g["passed"] for g in spec["gate_results"]]
    assert spec["gate_passed"] == all(g["passed"] for g in spec["gate_results"])
    test = spec["metrics"]["test"]
    if creation.is_judge(spec):
        ba = test["balanced_accuracy"]
        assert ba["ci_low"] <= ba["value"] <= ba["ci_high"] and ba["value"] >= 0.9
    else:
        assert test["images"] >= tasks.get(spec["task"]["name"]).min_samples  # N >= 640
        assert test["subjects"] >= 3
        assert test["fid"]["ci_low"] <= test["fid"]["value"] <= test["fid"]["ci_high"]
        # real vs real is the floor, measured between two halves of the test slices; FID's bias
        # falls as 1/N (Chong & Forsyth 2020), so a perfect model at the full N would score
        # about floor * N_half / N. Training moved the network far from its start.
        floor_at_n = test["floor"]["fid"] * test["floor_images"] / test["images"]
        assert floor_at_n < test["fid"]["value"] < spec["metrics"]["untrained"]["fid"]
    assert main(["verify", name, "--quick"]) == 0
    assert "ok" in capsys.readouterr().out


def test_the_judge_is_trained_on_real_slices_only():
    spec = zoo.entry(JUDGE)
    assert spec["model"]["family"] == "downstream" and "judge" not in spec
    for name in GENERATORS:
        judge = zoo.entry(name).get("judge")
        assert judge in (None, JUDGE)


def test_diffusion_entry_compares_its_samplers_on_pooled_seeds():
    spec = zoo.entry("ddpm_mr_contrast_32")
    cmp = spec["metrics"]["sampler_comparison"]
    fast = cmp[cmp["fast_sampler"]]
    assert cmp["fast_sampler"] == "ddpm_50"  # the entry's sampling: respaced ancestral, 50 steps
    assert cmp["samples"] == cmp["seeds"] * cmp["samples_per_seed"]
    assert cmp["samples_per_seed"] >= 640 and cmp["seeds"] == creation.COMPARE_SEEDS
    assert cmp["ddpm_1000"]["seconds"] > 15 * fast["seconds"]
    for key in ("ddpm_1000", "ddpm_50"):
        assert len(cmp[key]["fid_per_seed"]) == cmp["seeds"]
    assert cmp["fid_ratio"] == pytest.approx(fast["fid"] / cmp["ddpm_1000"]["fid"])
    # the deterministic sampler at the same steps is scored too, and is the worse one here
    assert cmp["ddim_50_eta0"]["fid"] > fast["fid"]


def test_sampler_comparison_pools_seeds_scores_ddim_and_reuses_a_stored_full_run(
    contrast_smoke,
):
    torch.manual_seed(0)
    model = create_model(
        "ddpm", in_channels=1, size=32, base_channels=8, channel_mults=(1, 2), timesteps=20,
        num_classes=4,
    ).eval()  # fmt: skip
    stored = {"fid": 123.0, "seconds": 50.0}
    with pytest.warns(Warning):  # 24 samples of 128 features: FID warns about its small N
        out = creation.sampler_comparison(
            model, contrast_smoke, {"sampler": "ddpm", "steps": 5}, n=24, full=stored, seeds=2
        )
    assert out["ddpm_20"] == stored  # the 20-step run is taken from the store, not redrawn
    assert out["fast_sampler"] == "ddpm_5"
    assert (out["samples"], out["samples_per_seed"], out["seeds"]) == (48, 24, 2)
    assert set(out) >= {"ddpm_5", "ddim_5_eta0"}  # the stochastic sampler brings its eta = 0 twin
    assert out["speedup"] == pytest.approx(50.0 / out["ddpm_5"]["seconds"])
    assert out["fid_ratio"] == pytest.approx(out["ddpm_5"]["fid"] / 123.0)
    assert out["ddpm_5"]["fid"] != out["ddim_5_eta0"]["fid"]  # two samplers, two sample sets
    # each row: one FID per seed (two draws, two sample sets) and the FID of the pooled draws,
    # which is what the same calls give when repeated by hand
    row = out["ddpm_5"]
    assert len(row["fid_per_seed"]) == 2 and row["fid_per_seed"][0] != row["fid_per_seed"][1]
    test = contrast_smoke["test"].tensors()
    picked = creation._subset(test, 24)
    draws = [
        extract_features(predict(model, labels=picked["label"], seed=s, sampler="ddpm", steps=5))
        for s in (creation.SAMPLE_SEED, creation.SAMPLE_SEED + 1)
    ]
    with pytest.warns(Warning):
        again = creation.sampler_row(extract_features(test["image"]), draws, 1.0)
    assert again["fid"] == pytest.approx(row["fid"]) and again["fid_per_seed"] == pytest.approx(
        row["fid_per_seed"]
    )
    with pytest.raises(ValueError, match="seeds"):
        creation.sampler_comparison(model, contrast_smoke, {"steps": 5}, n=24, seeds=0)


# ---- gates and the judge's verdict --------------------------------------------------------


def test_gates_compare_with_numbers_own_metrics_and_other_entries(zoo_copy):
    manifest = read_manifest(zoo_copy)
    ref = manifest["entries"]["vae_mr_contrast_32"] | {
        "metrics": {"test": {"fid": {"value": 10.0}}}
    }
    manifest["entries"]["ref"] = ref
    write_manifest(manifest, zoo_copy)
    metrics = {"test": {"fid": {"value": 8.0}}, "untrained": {"fid": 40.0}, "acc": 0.7}
    spec = {
        "metrics": metrics,
        "gate": [
            {"metric": "test.fid", "below_entry": "ref"},  # 8 < 10
            {"metric": "test.fid", "below_metric": "untrained.fid", "factor": 0.25},  # 8 <= 10
            {"metric": "acc", "min": 0.8},  # 0.7 < 0.8
            {"metric": "test.fid", "max": 8.0},  # 8 <= 8
            {"metric": "missing.value", "max": 1.0},  # never measured: fails
        ],
    }
    assert [g["passed"] for g in check_gates(spec, zoo_copy)] == [True, True, False, True, False]
    spec["gate"] = [{"metric": "test.fid", "above_entry": "ref"}]
    assert check_gates(spec, zoo_copy)[0]["passed"] is False


class _CodeGenerator:
    """An InfoGAN-shaped stand-in: code c draws constant images of brightness (c + 1) / 5."""

    categorical_dim, config, device = 3, {}, torch.device("cpu")

    def sample(self, n, codes, generator):
        c = codes["categorical"].float()
        return ((c + 1) / 5)[:, None, None, None].expand(n, 1, 8, 8).clone()


class _BrightnessJudge:
    """Judges class round(brightness * 5) - 1, mapped through a fixed permutation."""

    def __init__(self, perm):
        self.perm = torch.tensor(perm)

    def predict(self, images):
        return self.perm[(images.mean((1, 2, 3)) * 5).round().long() - 1]


def test_infogan_codes_are_matched_to_classes_before_scoring():
    out = class_accuracy(_CodeGenerator(), _BrightnessJudge([2, 0, 1]), 3, {}, n_per_class=20)
    assert out["balanced_accuracy"]["value"] == 1.0 and out["code_to_class"] == [2, 0, 1]
    assert out["per_class"] == [1.0, 1.0, 1.0] and out["samples"] == 60
    with pytest.raises(zoo.ZooError, match="must match"):
        class_accuracy(_CodeGenerator(), _BrightnessJudge([0, 1, 2]), 4, {}, n_per_class=2)


# ---- training end to end --------------------------------------------------------------------


def _tiny(root, name, base, **changes):
    """A tiny copy of shipped entry ``base`` on the smoke population, as entry ``name``."""
    manifest = read_manifest(root)
    spec = dict(manifest["entries"][base])
    for key in ("metrics", "versions", "training", "gate_passed", "gate_results"):
        spec.pop(key, None)
    spec |= {
        "task": spec["task"] | {"n_subjects": 4},
        "recipe": spec["recipe"] | {"steps": 3, "batch_size": 8},
        "weights": {"dtype": "float16", "sha256": None},
    } | changes
    manifest["entries"][name] = spec
    write_manifest(manifest, root)


def test_train_a_conditional_generator_end_to_end(zoo_copy, capsys, monkeypatch):
    config = zoo.entry("cgan_mr_contrast_32")["model"]["config"] | {"base_channels": 4}
    _tiny(zoo_copy, "tiny_cgan", "cgan_mr_contrast_32", model={"name": "cgan", "config": config})
    assert main(["--root", str(zoo_copy), "train", "tiny_cgan"]) == 1  # 3 steps miss the gates
    assert "FAIL" in capsys.readouterr().out
    spec = zoo.entry("tiny_cgan", zoo_copy)
    acc = spec["metrics"]["class_accuracy"]
    assert acc["samples"] == 4 * creation.CLASS_SAMPLES and len(acc["per_class"]) == 4
    assert spec["gate_passed"] is False and spec["training"]["threads"] == 1
    assert verify_creation_entry("tiny_cgan", quick=True, root=zoo_copy)["ok"]
    assert zoo.entry("cgan_mr_contrast_32", zoo_copy) == zoo.entry("cgan_mr_contrast_32")

    # TRAIN_FROM_SCRATCH in a notebook: the recipe reproduces the stored weights exactly
    again_model = creation.fit_recipe("tiny_cgan", root=zoo_copy, progress=False)
    stored = zoo.load("tiny_cgan", root=zoo_copy).state_dict()
    rounded = as_stored(again_model, "float16").state_dict()
    assert all(torch.equal(stored[k], rounded[k]) for k in stored)

    # a second run scores the staged weights again instead of retraining
    def no_training(*args, **kwargs):
        raise AssertionError("the staged run should have been reused")

    monkeypatch.setattr(training, "fit", no_training)  # where run_recipe trains
    again = creation.train_creation_entry("tiny_cgan", root=zoo_copy)
    assert again["weights"]["sha256"] == spec["weights"]["sha256"]


def test_a_generator_whose_judge_is_missing_fails_before_training(zoo_copy):
    _tiny(zoo_copy, "tiny_acgan", "acgan_mr_contrast_32", judge="no_such_judge")
    with pytest.raises(zoo.ZooError, match="unknown zoo entry 'no_such_judge'"):
        creation.train_creation_entry("tiny_acgan", root=zoo_copy)


def test_full_verify_of_every_entry_passes(capsys):
    """``python -m medgen_nb.zoo verify``: every entry re-scored on its whole test split."""
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    missing = [n for n in zoo.available() if f"{n} [test]: ok" not in out]
    assert not missing, out
