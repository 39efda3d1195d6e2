"""Probes of the training loop, checkpoints and model inputs (issue 12, items 1, 2, 6, 9-11).

Each probe is what a learner would plausibly do: train into a folder that already holds another
run, press Ctrl-C mid-step and resume, feed HU or uint8 images, edit a checkpoint by hand. Tiny
models (16 px, a few channels, a few steps) keep every probe well under a second or two.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
from pathlib import Path

import torch
from reliability_probes import Probe
from torch.utils.data import TensorDataset

from medgen_nb.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from medgen_nb.models import create
from medgen_nb.train import fit
from medgen_nb.utils import seed_everything

VAE = dict(size=16, base_channels=4, latent_dim=4)
DCGAN = dict(size=16, base_channels=4, latent_dim=4)
P2P = dict(size=16, base_channels=4)


def _images(n: int = 16, channels: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, 16, 16, generator=torch.Generator().manual_seed(seed))


def _vae(**cfg):
    seed_everything(0)
    return create("vae", **{**VAE, **cfg})


def _fit(model, data, steps, **kw):
    return fit(model, data, steps, batch_size=4, progress=False, precision="fp32", **kw)


# --- item 1: resume=False into a folder with newer checkpoints ---------------------------------
def _second_run_without_resume(tmp: Path):
    data = TensorDataset(_images(32))
    _fit(_vae(), data, 30, checkpoint_dir=tmp / "ck", checkpoint_every=10)
    _fit(_vae(beta=0.5), data, 5, checkpoint_dir=tmp / "ck", resume=False)
    return load_checkpoint(tmp / "ck").config["beta"]


def _beta_is_new(value, tmp: Path):
    return True if value == 0.5 else "data loss"


def _overwrite_clears_old_run(tmp: Path):
    data = TensorDataset(_images(32))
    _fit(_vae(), data, 30, checkpoint_dir=tmp / "ck", checkpoint_every=10)
    _fit(_vae(beta=0.5), data, 5, checkpoint_dir=tmp / "ck", resume=False, overwrite=True)
    names = sorted(p.name for p in (tmp / "ck").iterdir())
    return load_checkpoint(tmp / "ck").config["beta"], names


def _older_step_saved_into_newer_folder(tmp: Path):
    model = _vae()
    opts = model.configure_optimizers()
    for step in (20, 30):
        save_checkpoint(tmp, model, opts, step=step)
    written = save_checkpoint(tmp, model, opts, step=5)
    return written.exists() and written.with_suffix(".safetensors").exists()


def _mismatch_advice(tmp: Path):
    data = TensorDataset(_images(8))
    _fit(_vae(), data, 2, checkpoint_dir=tmp)
    try:
        _fit(_vae(beta=0.5), data, 4, checkpoint_dir=tmp)  # same folder, other config
    except ValueError as err:
        return str(err)
    return None


def _advice_is_safe(message, tmp: Path):
    """The message must not send the user to a bare ``resume=False`` (which used to lose data)."""
    if message is None:
        return False
    bare = "resume=False" in message and "overwrite=True" not in message
    return "unclear error" if bare or "new checkpoint_dir" not in message else True


def _resume_continues(tmp: Path):
    data = TensorDataset(_images(8))
    _fit(_vae(), data, 2, checkpoint_dir=tmp)
    return _fit(_vae(), data, 4, checkpoint_dir=tmp).steps


# --- item 2: interrupted-and-resumed training is bit-identical ---------------------------------
def _sigint_once(step_to_stop: int, where: str):
    """Make ``model`` send itself SIGINT at ``step_to_stop``: at the start of ``train_step``
    (``where="start"``) or right after the step of the optimizer named ``where``."""

    def install(model):
        if where != "start":
            configure = model.configure_optimizers

            def configure_with_hook():
                opts = configure()
                calls = {"n": 0}

                def hook(opt, args, kwargs):
                    calls["n"] += 1
                    if calls["n"] == step_to_stop + 1:
                        os.kill(os.getpid(), signal.SIGINT)

                opts[where].register_step_post_hook(hook)
                return opts

            model.configure_optimizers = configure_with_hook
        else:
            step_fn = model.train_step

            def train_step(batch, optimizers, ctx):
                if ctx.step == step_to_stop:
                    os.kill(os.getpid(), signal.SIGINT)
                return step_fn(batch, optimizers, ctx)

            model.train_step = train_step
        return model

    return install


def _interrupt_and_resume(name: str, cfg: dict, where: str):
    def run(tmp: Path):
        data = TensorDataset(_images(16))
        steps = 6

        def build(seed):
            seed_everything(seed)
            return create(name, **cfg)

        straight = build(0)
        _fit(straight, data, steps)
        interrupted = _sigint_once(2, where)(build(0))
        try:
            _fit(interrupted, data, steps, checkpoint_dir=tmp)
        except KeyboardInterrupt:
            pass
        resumed = build(123)  # a new process would rebuild the model; weights come from disk
        _fit(resumed, data, steps, checkpoint_dir=tmp)
        a, b = straight.state_dict(), resumed.state_dict()
        return all(torch.equal(a[k], b[k]) for k in a)

    return run


# --- item 6 / 10c: images outside [0, 1] or of an integer dtype --------------------------------
def _vae_on_hu(tmp: Path):
    hu = _images(8) * 3000.0 - 1000.0  # raw Hounsfield units
    return _fit(_vae(), TensorDataset(hu), 2).logs["loss"][-1]


def _vae_on_uint8(tmp: Path):
    u8 = (_images(8) * 255).to(torch.uint8)
    return _fit(_vae(), TensorDataset(u8), 1).logs["loss"][-1]


def _dcgan_on_signed(tmp: Path):
    signed = _images(8) * 2 - 1  # the [-1, 1] convention of other libraries
    seed_everything(0)
    return _fit(create("dcgan", **DCGAN), TensorDataset(signed), 1).logs["loss_d"][-1]


def _pix2pix_uint8_target(tmp: Path):
    model = create("pix2pix", **P2P)
    batch = {"image": _images(2), "target": (_images(2) * 255).to(torch.uint8)}
    return model.train_step(batch, model.configure_optimizers(), _ctx())


def _ddpm_on_hu(tmp: Path):
    model = create("ddpm", size=16, base_channels=8, channel_mults=(1, 2), timesteps=10)
    hu = _images(4) * 3000.0 - 1000.0
    return model.loss({"image": hu}).item()


def _translate_hu(tmp: Path):
    model = create("pix2pix", **P2P).eval()
    return model.translate(_images(2) * 3000.0 - 1000.0)


def _vae_on_slight_overshoot(tmp: Path):
    x = _images(8) * (1 + 2e-3) - 1e-3  # resampling overshoot of valid [0, 1] data
    return _fit(_vae(), TensorDataset(x), 2).logs["loss"][-1]


def _ctx():
    from medgen_nb.models.base import StepContext

    return StepContext()


# --- item 9c: a checkpoint JSON that is not an object -------------------------------------------
def _list_json_beside_good_one(tmp: Path):
    model = _vae()
    save_checkpoint(tmp, model, model.configure_optimizers(), step=1)
    (tmp / "ckpt-00000002.json").write_text("[1, 2, 3]")
    return latest_checkpoint(tmp)


def _load_list_json(tmp: Path):
    (tmp / "ckpt-00000002.json").write_text("[1, 2, 3]")
    return load_checkpoint(tmp / "ckpt-00000002.json")


# --- item 10b: a batch without the keys the model needs ----------------------------------------
class _Dicts(torch.utils.data.Dataset):
    def __init__(self, key: str):
        self.key = key

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return {self.key: _images(1, seed=i)[0]}


def _vae_batch_without_image(tmp: Path):
    return _fit(_vae(), _Dicts("img"), 1)


def _pix2pix_pairs_without_target(tmp: Path):
    data = TensorDataset(_images(8), _images(8, seed=1))  # (image, label) pairs, no "target"
    return _fit(create("pix2pix", **P2P), data, 1)


# --- item 11: checkpoint record integrity, counts, learning rates -------------------------------
def _edited_beta_loads(tmp: Path):
    model = _vae()
    path = save_checkpoint(tmp, model, model.configure_optimizers(), step=1)
    record = json.loads(path.read_text())
    record["config"]["beta"] = 4.0
    path.write_text(json.dumps(record))
    return load_checkpoint(path).config["beta"]


def _edited_record_is_skipped(tmp: Path):
    model = _vae()
    opts = model.configure_optimizers()
    save_checkpoint(tmp, model, opts, step=1)
    path = save_checkpoint(tmp, model, opts, step=2)
    record = json.loads(path.read_text())
    record["config"]["beta"] = 4.0
    path.write_text(json.dumps(record))
    found = latest_checkpoint(tmp)
    return None if found is None else found.name


def _legacy_record_loads(tmp: Path):
    """A checkpoint written before the record hash existed (format 1) still loads."""
    model = _vae()
    path = save_checkpoint(tmp, model, model.configure_optimizers(), step=1)
    record = json.loads(path.read_text())
    record.pop("record_sha256", None)
    record["format_version"] = 1
    path.write_text(json.dumps(record))
    loaded = load_checkpoint(path)
    a, b = model.state_dict(), loaded.state_dict()
    return all(torch.equal(a[k], b[k]) for k in a)


def _tensor_path_outside(tmp: Path, absolute: bool):
    inner = tmp / "ck"
    model = _vae()
    path = save_checkpoint(inner, model, model.configure_optimizers(), step=1)
    outside = tmp / "elsewhere.safetensors"
    outside.write_bytes((inner / "ckpt-00000001.safetensors").read_bytes())
    record = json.loads(path.read_text())
    record["tensors"] = str(outside) if absolute else "../elsewhere.safetensors"
    record["sha256"] = hashlib.sha256(outside.read_bytes()).hexdigest()
    record.pop("record_sha256", None)
    record["format_version"] = 1  # as a hand-made legacy record, so only the path check applies
    path.write_text(json.dumps(record))
    return load_checkpoint(path)


def _checkpoint_every_true(tmp: Path):
    return _fit(_vae(), TensorDataset(_images(8)), 2, checkpoint_dir=tmp, checkpoint_every=True)


def _keep_true(tmp: Path):
    model = _vae()
    return save_checkpoint(tmp, model, model.configure_optimizers(), keep=True)


def _create(name: str, **cfg):
    return lambda tmp: create(name, **cfg)


def _ddpm_sample_n_true(tmp: Path):
    model = create("ddpm", size=16, base_channels=8, channel_mults=(1, 2), timesteps=10)
    return model.sample(True, steps=2, sampler="ddim")


def _good_models_build(tmp: Path):
    for name, cfg in (
        ("vae", VAE),
        ("dcgan", DCGAN),
        ("pix2pix", P2P),
        ("cyclegan", dict(size=16, base_channels=4, n_res_blocks=1)),
        ("unit", dict(size=16, base_channels=4)),
        ("ddpm", dict(size=16, base_channels=8, channel_mults=(1, 2), timesteps=10)),
    ):
        create(name, **cfg)
    return True


_ok = lambda value, tmp: value is True  # noqa: E731
_finite = lambda value, tmp: isinstance(value, float) and math.isfinite(value)  # noqa: E731

PROBES: list[Probe] = [
    # item 1
    Probe("1", "fit(resume=False) into a folder holding a newer run", _second_run_without_resume,
          check=_beta_is_new, hint="overwrite=True"),
    Probe("1", "fit(resume=False, overwrite=True) replaces the old run", _overwrite_clears_old_run,
          expect="result",
          check=lambda v, tmp: v[0] == 0.5 and v[1] == ["ckpt-00000005.json",
                                                       "ckpt-00000005.safetensors"]),
    Probe("1", "save_checkpoint of an older step keeps the file just written",
          _older_step_saved_into_newer_folder, expect="result",
          check=lambda v, tmp: True if v else "data loss"),
    Probe("1", "config-mismatch error advises a safe way out", _mismatch_advice,
          check=_advice_is_safe),
    Probe("1", "resume=True continues a run (control)", _resume_continues, expect="result",
          check=lambda v, tmp: v == [0, 1, 2, 3]),
    # item 2
    Probe("2", "SIGINT at the start of a VAE step, then resume: same weights (control)",
          _interrupt_and_resume("vae", VAE, "start"), expect="result", check=_ok),
    Probe("2", "SIGINT after the VAE's optimizer step, then resume: same weights",
          _interrupt_and_resume("vae", VAE, "vae"), expect="result", check=_ok),
    Probe("2", "SIGINT after the D update of a DCGAN step, then resume: same weights",
          _interrupt_and_resume("dcgan", DCGAN, "d"), expect="result", check=_ok),
    # item 6 / 10c
    Probe("6b", "VAE trained on raw HU images", _vae_on_hu, hint="medgen_nb.data.intensity"),
    Probe("6b", "DCGAN trained on [-1, 1] images", _dcgan_on_signed, hint="[0, 1]"),
    Probe("6b", "DDPM loss on raw HU images", _ddpm_on_hu, hint="medgen_nb.data.intensity"),
    Probe("6b", "pix2pix.translate of raw HU images", _translate_hu, hint="[0, 1]"),
    Probe("6b", "VAE on [0, 1] data with a 1e-3 resampling overshoot (control)",
          _vae_on_slight_overshoot, expect="result", check=_finite),
    Probe("10c", "VAE trained on uint8 images", _vae_on_uint8, hint="/ 255"),
    Probe("10c", "pix2pix step with a uint8 target", _pix2pix_uint8_target, hint="/ 255"),
    # item 9c
    Probe("9c", "latest_checkpoint beside a JSON list", _list_json_beside_good_one,
          expect="result", check=lambda v, tmp: v is not None and v.name == "ckpt-00000001.json"),
    Probe("9c", "load_checkpoint of a JSON list", _load_list_json, hint="not a checkpoint record"),
    # item 10b
    Probe("10b", "VAE batch with 'img' instead of 'image'", _vae_batch_without_image,
          hint="'image'"),
    Probe("10b", "pix2pix fed (image, label) pairs", _pix2pix_pairs_without_target,
          hint="'target'"),
    # item 11
    Probe("11a", "load a checkpoint whose beta was edited by hand", _edited_beta_loads,
          hint="record_sha256"),
    Probe("11a", "latest_checkpoint skips an edited record", _edited_record_is_skipped,
          expect="result", check=lambda v, tmp: v == "ckpt-00000001.json"),
    Probe("11a", "a format-1 checkpoint without record hash loads (control)", _legacy_record_loads,
          expect="result", check=_ok),
    Probe("11b", "tensor path '../elsewhere' in the JSON",
          lambda tmp: _tensor_path_outside(tmp, False), hint="inside the checkpoint folder"),
    Probe("11b", "absolute tensor path in the JSON", lambda tmp: _tensor_path_outside(tmp, True),
          hint="inside the checkpoint folder"),
    Probe("11f", "fit(checkpoint_every=True)", _checkpoint_every_true, hint="checkpoint_every"),
    Probe("11f", "save_checkpoint(keep=True)", _keep_true, hint="keep"),
    Probe("11f", "pix2pix d_layers=True", _create("pix2pix", **P2P, d_layers=True),
          hint="d_layers"),
    Probe("11f", "ddpm num_res_blocks=True",
          _create("ddpm", size=16, base_channels=8, num_res_blocks=True), hint="num_res_blocks"),
    Probe("11f", "cyclegan pool_size=True", _create("cyclegan", size=16, pool_size=True),
          hint="pool_size"),
    Probe("11f", "ddpm.sample(True)", _ddpm_sample_n_true, hint="n must be"),
    Probe("11g", "vae lr=inf", _create("vae", **VAE, lr=math.inf), hint="lr"),
    Probe("11g", "dcgan lr=nan", _create("dcgan", **DCGAN, lr=math.nan), hint="lr"),
    Probe("11g", "dcgan betas=(1.5, 0.9)", _create("dcgan", **DCGAN, betas=(1.5, 0.9)),
          hint="betas"),
    Probe("11g", "pix2pix in_channels=0", _create("pix2pix", **P2P, in_channels=0),
          hint="in_channels"),
    Probe("11g", "cyclegan lr=inf", _create("cyclegan", size=16, lr=math.inf), hint="lr"),
    Probe("11g", "unit out_channels=0", _create("unit", size=16, out_channels=0),
          hint="out_channels"),
    Probe("11g", "ddpm lr=inf", _create("ddpm", size=16, lr=math.inf), hint="lr"),
    Probe("11g", "ddpm in_channels=0", _create("ddpm", size=16, in_channels=0),
          hint="in_channels"),
    Probe("11g", "pix2pix lambda_l1=nan", _create("pix2pix", **P2P, lambda_l1=math.nan),
          hint="lambda_l1"),
    Probe("11g", "every family builds with valid settings (control)", _good_models_build,
          expect="result", check=_ok),
]  # fmt: skip
