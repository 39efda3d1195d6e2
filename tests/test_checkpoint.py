"""Checkpoints: round trip, atomic/interrupted saves, verification, no pickle, clear errors."""

import json
from contextlib import contextmanager

import pytest
import torch
from safetensors import safe_open

import medgen_nb.checkpoint as ckpt
from medgen_nb.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    load_training_state,
    save_checkpoint,
)
from medgen_nb.models import create
from medgen_nb.models.base import GenerativeModel, StepContext

TINY = dict(size=16, base_channels=8, latent_dim=8)


pytestmark = pytest.mark.usefixtures("one_thread")


def _trained(name: str, steps: int = 2, **cfg):
    torch.manual_seed(0)
    model = create(name, **TINY, **cfg)
    opt = model.configure_optimizers()
    batch = {"image": torch.rand(4, 1, 16, 16), "label": torch.tensor([0, 1, 0, 1])}
    for step in range(steps):
        model.train_step(batch, opt, StepContext(step=step))
    return model, opt, batch


@pytest.mark.parametrize(
    "name,cfg", [("vae", {}), ("acgan", {"num_classes": 2}), ("wgan_gp", {"spectral_norm": True})]
)
def test_save_load_gives_identical_outputs(tmp_path, name, cfg):
    model, opt, batch = _trained(name, **cfg)
    save_checkpoint(tmp_path, model, opt, step=2)
    loaded = load_checkpoint(tmp_path)
    model.eval()
    labels = batch["label"] if cfg.get("num_classes") else None
    a = model.sample(4, labels=labels, generator=torch.Generator().manual_seed(5))
    b = loaded.sample(4, labels=labels, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert type(loaded) is type(model) and loaded.config == model.config


def test_optimizer_state_round_trips(tmp_path):
    model, opt, batch = _trained("dcgan")
    save_checkpoint(tmp_path, model, opt, step=2)
    fresh = create("dcgan", **TINY)
    fresh_opt = fresh.configure_optimizers()
    state = load_training_state(tmp_path, fresh, fresh_opt)
    assert state.step == 2
    for name in opt:
        a, b = opt[name].state_dict(), fresh_opt[name].state_dict()
        assert a["param_groups"] == b["param_groups"]
        for pid in a["state"]:
            for key in a["state"][pid]:
                torch.testing.assert_close(a["state"][pid][key], b["state"][pid][key])


def test_files_are_safetensors_and_json_only(tmp_path):
    model, opt, _ = _trained("vae")
    json_path = save_checkpoint(tmp_path, model, opt, step=7)
    record = json.loads(json_path.read_text())  # plain JSON, no pickle
    assert record["step"] == 7 and record["model"] == "vae"
    assert isinstance(record["rng"]["torch"], list)
    with safe_open(str(tmp_path / record["tensors"]), framework="pt") as f:
        keys = set(f.keys())
    assert any(k.startswith("model.") for k in keys) and any(
        k.startswith("optim.vae.") for k in keys
    )
    assert {p.suffix for p in tmp_path.iterdir()} == {".json", ".safetensors"}


def test_interrupted_json_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model, opt, batch = _trained("vae")
    save_checkpoint(tmp_path, model, opt, step=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train_step(batch, opt, StepContext(step=2))  # weights change

    def crash(path, record):
        raise RuntimeError("power cut while writing JSON")

    monkeypatch.setattr(ckpt, "_write_json", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        save_checkpoint(tmp_path, model, opt, step=2)
    assert latest_checkpoint(tmp_path).name == "ckpt-00000001.json"
    loaded = load_checkpoint(tmp_path)
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_crash_midway_through_tensor_file_leaves_no_partial_file(tmp_path, monkeypatch):
    model, opt, _ = _trained("vae")
    save_checkpoint(tmp_path, model, opt, step=1)
    original_atomic = ckpt.atomic_write

    @contextmanager
    def failing_atomic(path, mode="wb"):
        with original_atomic(path, mode) as fh:

            class Writer:
                def write(self, data):
                    fh.write(data[: len(data) // 2])
                    raise OSError("disk full")

            yield Writer()

    monkeypatch.setattr(ckpt, "atomic_write", failing_atomic)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, model, opt, step=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ckpt-00000001.json", "ckpt-00000001.safetensors"]  # no temp or partial file
    assert load_checkpoint(tmp_path) is not None


def test_corrupted_tensor_file_is_skipped_and_reported(tmp_path):
    model, opt, _ = _trained("vae")
    save_checkpoint(tmp_path, model, opt, step=1)
    path2 = save_checkpoint(tmp_path, model, opt, step=2)
    tensor_file = tmp_path / "ckpt-00000002.safetensors"
    data = bytearray(tensor_file.read_bytes())
    data[-5] ^= 0xFF
    tensor_file.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="skipping damaged checkpoint ckpt-00000002.json"):
        assert latest_checkpoint(tmp_path).name == "ckpt-00000001.json"
    with pytest.raises(ValueError, match="does not match the SHA-256"):
        load_checkpoint(path2)


def test_keep_prunes_old_checkpoints(tmp_path):
    model, opt, _ = _trained("vae")
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, model, opt, step=step, keep=2)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [
        "ckpt-00000002.json",
        "ckpt-00000003.json",
    ]
    assert len(list(tmp_path.glob("*.safetensors"))) == 2


# --- one test per raise -------------------------------------------------------------------------
def test_empty_directory_raises(tmp_path):
    with pytest.raises(ValueError, match="no complete checkpoint"):
        load_checkpoint(tmp_path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "ckpt-00000009.json")


def test_missing_tensor_file_raises(tmp_path):
    model, opt, _ = _trained("vae")
    path = save_checkpoint(tmp_path, model, opt, step=1)
    (tmp_path / "ckpt-00000001.safetensors").unlink()
    with pytest.raises(ValueError, match="which is missing"):
        load_checkpoint(path)


def test_config_with_old_keyword_raises(tmp_path):
    model, opt, _ = _trained("vae", steps=0)
    path = save_checkpoint(tmp_path, model, opt, step=0)
    record = _as_format_1(json.loads(path.read_text()))  # renames predate the record hash
    record["config"]["width"] = record["config"].pop("base_channels")  # pre-rename checkpoint
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="no longer accepts .*unexpected keyword argument 'width'"):
        load_checkpoint(path)


def test_unregistered_model_raises(tmp_path):
    class Stray(GenerativeModel):
        def __init__(self):
            super().__init__()
            self.config = {}
            self.w = torch.nn.Parameter(torch.zeros(1))

    with pytest.raises(ValueError, match="not in the model registry"):
        save_checkpoint(tmp_path, Stray())


def test_model_without_config_raises(tmp_path):
    with pytest.raises(ValueError, match="has no .config dict"):
        save_checkpoint(tmp_path, GenerativeModel())


def test_bad_keep_raises(tmp_path):
    model, opt, _ = _trained("vae", steps=0)
    with pytest.raises(ValueError, match="keep must be an int >= 1, got 0"):
        save_checkpoint(tmp_path, model, opt, keep=0)
    with pytest.raises(ValueError, match="keep must be an int >= 1, got True"):
        save_checkpoint(tmp_path, model, opt, keep=True)  # a bool is not a count


def test_resume_into_other_config_raises(tmp_path):
    model, opt, _ = _trained("vae", steps=0)
    save_checkpoint(tmp_path, model, opt, step=0)
    other = create("vae", **{**TINY, "latent_dim": 4})
    with pytest.raises(ValueError, match="holds model 'vae' with config .* but fit.. got 'vae'"):
        load_training_state(tmp_path, other, other.configure_optimizers())


def test_resume_with_other_optimizers_raises(tmp_path):
    model, opt, _ = _trained("vae", steps=0)
    save_checkpoint(tmp_path, model, opt, step=0)
    with pytest.raises(ValueError, match="checkpoint has optimizers"):
        load_training_state(tmp_path, model, {"adam": opt["vae"]})


# --- issue 12: what pruning may delete, and resume advice that loses nothing ---------------------
@pytest.mark.parametrize(
    "existing,step,kept",
    [
        ((20, 30), 5, (5, 20, 30)),  # an older step: the file just written survives, newer ones too
        ((1, 2, 3, 9), 4, (3, 4, 9)),  # keep=2 among steps <= 4; the newer 9 is not this run's
    ],
)
def test_pruning_never_deletes_the_file_just_written_or_newer_ones(tmp_path, existing, step, kept):
    model, opt, _ = _trained("vae", steps=0)
    for s in existing:
        save_checkpoint(tmp_path, model, opt, step=s, keep=len(existing))
    written = save_checkpoint(tmp_path, model, opt, step=step, keep=2)
    assert written.exists() and written.with_suffix(".safetensors").exists()
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [f"ckpt-{k:08d}.json" for k in kept]
    assert len(list(tmp_path.glob("*.safetensors"))) == len(kept)


def test_config_mismatch_advice_is_safe(tmp_path):
    model, opt, _ = _trained("vae", steps=0)
    save_checkpoint(tmp_path, model, opt, step=0)
    other = create("vae", **{**TINY, "latent_dim": 4})
    with pytest.raises(ValueError, match="new checkpoint_dir") as info:
        load_training_state(tmp_path, other, other.configure_optimizers())
    message = str(info.value)
    assert "resume=False, overwrite=True" in message and "deletes" in message


# --- issue 12, items 9c and 11a/b: damaged, edited or escaping records ---------------------------
def _as_format_1(record: dict) -> dict:
    """What a checkpoint written before the record hash existed looks like."""
    record.pop("record_sha256", None)
    return {**record, "format_version": 1}


def _edit(path, change) -> None:
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


@pytest.mark.parametrize(
    "text,problem",
    [
        ("[1, 2, 3]", "got a JSON list"),
        ('"ckpt"', "got a JSON str"),
        ('{"step": 2}', "missing keys"),
        ("{not json", "cannot be read as JSON"),
    ],
)
def test_a_record_that_is_not_a_checkpoint_is_skipped_and_refused(tmp_path, text, problem):
    model, opt, _ = _trained("vae", steps=0)
    save_checkpoint(tmp_path, model, opt, step=1)
    bad = tmp_path / "ckpt-00000002.json"
    bad.write_text(text)
    with pytest.warns(UserWarning, match="skipping damaged checkpoint ckpt-00000002.json"):
        assert latest_checkpoint(tmp_path).name == "ckpt-00000001.json"
    with pytest.raises(ValueError, match=problem):
        load_checkpoint(bad)


def test_a_record_with_a_wrongly_typed_field_is_refused(tmp_path):
    model, opt, _ = _trained("vae", steps=0)
    path = save_checkpoint(tmp_path, model, opt, step=1)
    _edit(path, lambda r: r.update(_as_format_1(r), config=["beta", 2.0]))
    with pytest.raises(ValueError, match="'config' must be a JSON object, got list"):
        load_checkpoint(path)


def test_an_edited_record_is_refused_and_skipped(tmp_path):
    model, opt, _ = _trained("vae", steps=0)
    save_checkpoint(tmp_path, model, opt, step=1)
    path = save_checkpoint(tmp_path, model, opt, step=2)
    _edit(path, lambda r: r["config"].update(beta=4.0))
    with pytest.raises(ValueError, match="does not match its record_sha256.*edited"):
        load_checkpoint(path)
    with pytest.warns(UserWarning, match="skipping damaged checkpoint ckpt-00000002.json"):
        assert latest_checkpoint(tmp_path).name == "ckpt-00000001.json"


def test_a_format_2_record_without_its_hash_is_refused(tmp_path):
    model, opt, _ = _trained("vae", steps=0)
    path = save_checkpoint(tmp_path, model, opt, step=1)
    _edit(path, lambda r: r.pop("record_sha256"))
    with pytest.raises(ValueError, match="has no record_sha256"):
        load_checkpoint(path)


def test_a_format_1_record_without_hash_still_loads(tmp_path):
    model, opt, _ = _trained("vae")
    path = save_checkpoint(tmp_path, model, opt, step=2)
    path.write_text(json.dumps(_as_format_1(json.loads(path.read_text()))))
    loaded = load_checkpoint(tmp_path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    fresh = create("vae", **TINY)
    assert load_training_state(path, fresh, fresh.configure_optimizers()).step == 2


def test_a_record_from_a_newer_format_is_refused(tmp_path):
    model, opt, _ = _trained("vae", steps=0)
    path = save_checkpoint(tmp_path, model, opt, step=1)
    _edit(path, lambda r: r.update(_as_format_1(r), format_version=99))
    with pytest.raises(ValueError, match="format 99.*newer medgen_nb"):
        load_checkpoint(path)


def test_the_record_hash_survives_nan_in_the_history(tmp_path):
    model, opt, _ = _trained("vae", steps=0)
    history = {"logs": {"g": [float("nan"), 1.5]}, "steps": [0, 1], "steps_done": 2}
    path = save_checkpoint(tmp_path, model, opt, step=2, history={**history, "wall_time": 0.1})
    assert latest_checkpoint(tmp_path) == path
    fresh = create("vae", **TINY)
    state = load_training_state(path, fresh, fresh.configure_optimizers())
    assert state.history["logs"]["g"][1] == 1.5


@pytest.mark.parametrize("where", ["../outside.safetensors", "ABSOLUTE", "sub/x.safetensors", ".."])
def test_the_tensor_file_must_lie_in_the_checkpoint_folder(tmp_path, where):
    folder = tmp_path / "ck"
    model, opt, _ = _trained("vae", steps=0)
    path = save_checkpoint(folder, model, opt, step=1)
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes((folder / "ckpt-00000001.safetensors").read_bytes())
    name = str(outside) if where == "ABSOLUTE" else where
    _edit(path, lambda r: r.update(_as_format_1(r), tensors=name))
    with pytest.raises(ValueError, match="inside the checkpoint folder"):
        load_checkpoint(path)
