"""The pretrained zoo: stored weights re-score to their manifest, and broken entries fail clearly.

The shipped entries are re-scored on the verify subset (three held-out subjects of phantom
population 1; the same subjects the smoke builds of tests/test_evaluation.py simulate). Broken
files, stale versions and a tiny end-to-end training run on a copy of the zoo (``root=``), so
the shipped files are never touched.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest
import torch

from medgen_nb import zoo
from medgen_nb.zoo.__main__ import main
from medgen_nb.zoo.manifest import ZOO_DIR, read_manifest, write_manifest
from medgen_nb.zoo.recipe import Recipe, RecipeTrainee, ema_update, hflip_half, lr_factor
from medgen_nb.zoo.store import as_stored, build_model
from medgen_nb.zoo.training import TOLERANCE, gate_passed, verify_entry

pytestmark = pytest.mark.usefixtures("one_thread")
SHIPPED = [n for n in zoo.available() if isinstance(zoo.entry(n)["gate"], dict)]  # translation
P2P = "pix2pix_t1w_t2w_64"


@pytest.fixture
def zoo_copy(tmp_path):
    """A copy of the shipped zoo (manifest + weights) that a test may break."""
    shutil.copy(ZOO_DIR / "manifest.json", tmp_path / "manifest.json")
    shutil.copytree(ZOO_DIR / "weights", tmp_path / "weights")
    return tmp_path


def _edit(root, name, **changes):
    """Change (or add) entry ``name`` of the manifest under ``root``."""
    manifest = read_manifest(root)
    manifest["entries"].setdefault(name, {}).update(changes)
    write_manifest(manifest, root)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_entry_verifies_and_records_its_gate(name, capsys):
    spec = zoo.entry(name)
    assert spec["weights"]["sha256"], f"{name} is in the manifest but was never trained"
    assert zoo.weights_path(name).stat().st_size == spec["weights"]["bytes"]
    report = verify_entry(name, quick=True)
    assert report["ok"], report
    assert set(report["checked"]) == set(TOLERANCE)
    # the gate is decided from the stored test score, with its interval and N
    test = spec["metrics"][spec["gate"]["split"]]
    assert spec["gate_passed"] == gate_passed(spec, spec["metrics"])
    assert test["subjects"] >= 3 and test["slices"] > 100
    assert test["psnr"]["ci_low"] <= test["psnr"]["value"] <= test["psnr"]["ci_high"]
    if "min" in spec["gate"]:  # paired entries: a trained model beats the per-pixel lookup table
        assert test["psnr"]["value"] > spec["metrics"]["lookup_baseline"]["psnr"]["value"]
    assert main(["verify", name, "--quick"]) == 0
    assert "ok" in capsys.readouterr().out


def test_zoo_fits_its_size_budget():
    total = sum(zoo.entry(n)["weights"].get("bytes") or 0 for n in zoo.available())
    assert total <= 30e6


def test_load_returns_the_stored_half_precision_weights():
    spec = zoo.entry(P2P)
    model = zoo.load(P2P)
    assert not model.training and model.config == build_model(spec).config
    again = as_stored(zoo.load(P2P), spec["weights"]["dtype"])  # rounding again changes nothing
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    out = model.translate(torch.rand(2, 1, 64, 64))
    assert out.shape == (2, 1, 64, 64) and 0 <= out.min() and out.max() <= 1


def test_corrupt_weight_file_fails_with_the_rebuild_command(zoo_copy):
    path = zoo.weights_path(P2P, zoo_copy)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte in the middle of the tensors
    path.write_bytes(bytes(blob))
    with pytest.raises(zoo.ZooError, match=rf"corrupt.*python -m medgen_nb.zoo train {P2P}"):
        zoo.load(P2P, root=zoo_copy)
    # a broken file that the manifest was edited to match: safetensors refuses it, no pickle
    path.write_bytes(b"not a safetensors file")
    weights = zoo.entry(P2P, zoo_copy)["weights"]
    _edit(
        zoo_copy, P2P, weights=weights | {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    )
    with pytest.raises(zoo.ZooError, match="not a safetensors file"):
        zoo.load(P2P, root=zoo_copy)


def test_missing_weight_file_names_the_train_command(zoo_copy):
    zoo.weights_path(P2P, zoo_copy).unlink()
    with pytest.raises(
        zoo.ZooError, match=rf"missing; rebuild it with `python -m medgen_nb.zoo train {P2P}`"
    ):
        zoo.load(P2P, root=zoo_copy)
    assert main(["--root", str(zoo_copy), "verify", P2P, "--quick"]) == 2


def test_untrained_and_unknown_entries_are_refused(zoo_copy):
    weights = zoo.entry(P2P, zoo_copy)["weights"]
    _edit(zoo_copy, P2P, weights=weights | {"sha256": None})
    with pytest.raises(zoo.ZooError, match=f"never trained.*zoo train {P2P}"):
        zoo.load(P2P, root=zoo_copy)
    assert zoo.stale_reasons(P2P, zoo_copy) == ["never trained"]
    with pytest.raises(zoo.ZooError, match="unknown zoo entry 'nope'; the zoo has"):
        zoo.load("nope")


def test_weights_that_do_not_fit_the_config_are_refused(zoo_copy):
    model = zoo.entry(P2P, zoo_copy)["model"]
    _edit(zoo_copy, P2P, model=model | {"config": model["config"] | {"base_channels": 8}})
    with pytest.raises(zoo.ZooError, match="do not fit model 'pix2pix'"):
        zoo.load(P2P, root=zoo_copy)


def test_stale_entries_are_reported(zoo_copy, capsys):
    assert not zoo.is_stale(P2P)  # the shipped entry was trained on this package and phantom
    versions = zoo.entry(P2P, zoo_copy)["versions"]
    _edit(zoo_copy, P2P, versions={"medgen_nb": "0.0.1", "simulator": {"brain_phantom": "1"}})
    assert zoo.is_stale(P2P, zoo_copy)
    reasons = zoo.stale_reasons(P2P, zoo_copy)
    assert reasons == [
        f"medgen_nb 0.0.1 -> {versions['medgen_nb']}",
        f"simulator brain_phantom 1 -> {versions['simulator']['brain_phantom']}",
    ]
    assert main(["--root", str(zoo_copy), "verify", P2P, "--quick"]) == 0  # weights still fine
    assert "STALE: medgen_nb 0.0.1" in capsys.readouterr().out
    assert main(["--root", str(zoo_copy), "list"]) == 0
    assert "simulator brain_phantom 1 ->" in capsys.readouterr().out


def test_cli_list_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "medgen_nb.zoo", "list"], capture_output=True, text=True, check=True
    ).stdout
    for name in SHIPPED:
        assert name in out
    assert "N=" in out and "| entry | MB | gate | stale |" in out


def test_train_writes_weights_and_manifest_that_load_and_verify(zoo_copy, capsys):
    """A tiny recipe end to end on the smoke population (4 subjects at 32 px, cached by other tests)."""
    spec = zoo.entry(P2P, zoo_copy)
    tiny = spec | {
        "task": spec["task"] | {"n_subjects": 4, "size": 32},
        "model": {"name": "pix2pix", "config": {"size": 32, "base_channels": 4}},
        "recipe": spec["recipe"] | {"steps": 3, "batch_size": 4},
        "weights": {"dtype": "float16", "sha256": None},
    }
    for key in ("metrics", "versions", "training", "gate_passed"):
        tiny.pop(key, None)
    _edit(zoo_copy, "tiny", **tiny)
    assert main(["--root", str(zoo_copy), "train", "tiny"]) == 1  # three steps miss a 31 dB gate
    assert "BELOW GATE" in capsys.readouterr().out
    trained = zoo.entry("tiny", zoo_copy)
    assert trained["gate_passed"] is False and not zoo.is_stale("tiny", zoo_copy)
    assert trained["weights"]["bytes"] == zoo.weights_path("tiny", zoo_copy).stat().st_size
    assert trained["training"]["threads"] == 1
    assert verify_entry("tiny", quick=True, root=zoo_copy)["ok"]
    assert zoo.entry(P2P, zoo_copy) == spec  # the other entries are left as they were


def test_gates_against_a_bound_and_against_the_baseline():
    m = {"test": {"psnr": {"value": 20.0}, "ssim": {"value": 0.5}},
         "lookup_baseline": {"psnr": {"value": 19.0}, "ssim": {"value": 0.6}}}  # fmt: skip
    assert gate_passed({"gate": {"metric": "psnr", "min": 20.0, "split": "test"}}, m)
    assert not gate_passed({"gate": {"metric": "psnr", "min": 20.5, "split": "test"}}, m)
    above = {"split": "test", "above": "lookup_baseline"}
    assert gate_passed({"gate": above | {"metrics": ["psnr"]}}, m)
    assert not gate_passed({"gate": above | {"metrics": ["psnr", "ssim"]}}, m)  # SSIM is below


def test_unpaired_entry_trains_on_disjoint_subjects_and_scores_a_test_population(zoo_copy, capsys):
    """A tiny CycleGAN recipe: subject-disjoint domains, held-out test population, baseline gate."""
    spec = zoo.entry(P2P, zoo_copy)
    tiny = {
        "description": "tiny CycleGAN",
        "task": spec["task"] | {"n_subjects": 4, "size": 32, "test_population": {"seed": 1, "n_subjects": 3}},
        "model": {"name": "cyclegan", "config": {"size": 32, "base_channels": 4, "n_res_blocks": 1}},
        "recipe": {"steps": 2, "batch_size": 4, "seed": 0, "precision": "fp32"},
        "gate": {"split": "test", "above": "lookup_baseline", "metrics": ["psnr", "ssim"]},
        "weights": {"dtype": "float16", "sha256": None},
    }  # fmt: skip
    _edit(zoo_copy, "tiny_cyclegan", **tiny)
    main(["--root", str(zoo_copy), "train", "tiny_cyclegan"])
    assert "above the lookup_baseline" in capsys.readouterr().out
    trained = zoo.entry("tiny_cyclegan", zoo_copy)
    # the test metrics come from the three subjects of population 1, none of them trained on
    assert trained["metrics"]["test"]["subjects"] == 3
    assert (
        trained["metrics"]["test"]["subject_ids"]
        == trained["metrics"]["lookup_baseline"]["subject_ids"]
    )
    assert trained["gate_passed"] == gate_passed(trained, trained["metrics"])
    assert verify_entry("tiny_cyclegan", root=zoo_copy)["ok"]


def test_recipe_schedule_ema_and_flips():
    cosine = Recipe(steps=100, lr_schedule="cosine", warmup_steps=10)
    assert lr_factor(cosine, 0) == pytest.approx(0.1) and lr_factor(cosine, 9) == 1.0
    assert lr_factor(cosine, 55) == pytest.approx(0.5) and lr_factor(cosine, 100) == 0.0
    assert lr_factor(Recipe(steps=10, lr_schedule="linear"), 5) == pytest.approx(0.5)
    for bad, match in (
        ({"lr_schedule": "step"}, "lr_schedule must be one of"),
        ({"ema_decay": 0.99}, "ema_decay and ema_module go together"),
        ({"augmentation": "rot90"}, "augmentation must be one of"),
        ({"steps": 0}, "steps must be an int >= 1"),
    ):
        with pytest.raises(ValueError, match=match):
            Recipe(**({"steps": 10} | bad))
    with pytest.raises(ValueError, match="unknown recipe keys"):
        Recipe.from_dict({"steps": 10, "epochs": 3})

    live, average = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = average.weight.detach().clone()
    ema_update(average, live, 0.9)
    assert torch.allclose(average.weight, 0.9 * before + 0.1 * live.weight)

    image = torch.arange(2 * 16.0).reshape(2, 1, 4, 4)
    batch = {"image": image, "target": image + 100, "subject": torch.tensor([0, 1])}
    for seed in range(4):
        out = hflip_half(batch, torch.Generator().manual_seed(seed))
        assert torch.equal(out["target"] - out["image"], torch.full_like(image, 100.0))  # pairs
        assert torch.equal(out["subject"], batch["subject"])  # non-images untouched
        chosen = torch.rand(2, generator=torch.Generator().manual_seed(seed)) < 0.5
        for i in range(2):
            assert torch.equal(out["image"][i], image[i].flip(-1) if chosen[i] else image[i])

    with pytest.raises(ValueError, match="ema_module='nope' is not a sub-network"):
        RecipeTrainee(
            build_model(zoo.entry(P2P)), Recipe(steps=1, ema_decay=0.9, ema_module="nope")
        )


def test_manifest_is_plain_sorted_json():
    text = (ZOO_DIR / "manifest.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_verify_fails_when_the_weights_do_not_reproduce_the_stored_score(zoo_copy, capsys):
    metrics = zoo.entry(P2P, zoo_copy)["metrics"]
    subset = metrics["verify_subset"]
    moved = subset["psnr"] | {"value": subset["psnr"]["value"] + 2 * TOLERANCE["psnr"]}
    _edit(zoo_copy, P2P, metrics=metrics | {"verify_subset": subset | {"psnr": moved}})
    assert not verify_entry(P2P, quick=True, root=zoo_copy)["ok"]
    assert main(["--root", str(zoo_copy), "verify", P2P, "--quick"]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_schedule_tables_load_at_full_precision():
    """A diffusion schedule is a function of the config: half precision would zero alpha_bar_T."""
    name = "ddpm_mr_contrast_32"
    model, fresh = zoo.load(name), build_model(zoo.entry(name))
    tensors = zoo.store.read_weights(name, zoo.entry(name))
    assert tensors["schedule.alphas_cumprod"][-1] == 0  # what the fp16 file holds
    assert torch.equal(model.schedule.alphas_cumprod, fresh.schedule.alphas_cumprod)
    assert model.schedule.alphas_cumprod[-1] > 0
    # the trained weights are still the stored ones
    net = {k: v for k, v in model.state_dict().items() if not k.startswith("schedule.")}
    assert all(torch.equal(v.to(tensors[k].dtype), tensors[k]) for k, v in net.items())
