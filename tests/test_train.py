"""The training loop: history, seeding, resume, callbacks, clipping, precision, errors."""

import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from medgen_nb.checkpoint import load_checkpoint
from medgen_nb.models import create
from medgen_nb.models.base import GenerativeModel
from medgen_nb.train import (
    EpochBatchSampler,
    History,
    as_batch,
    fit,
    resolve_channels_last,
    resolve_precision,
)
from medgen_nb.utils import seed_everything

TINY = dict(size=16, base_channels=8, latent_dim=8)


pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n: int = 12) -> TensorDataset:
    return TensorDataset(torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(0)))


def _vae(seed: int = 0):
    seed_everything(seed)
    return create("vae", **TINY)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_history_has_one_row_per_step():
    hist = fit(_vae(), _data(), steps=5, batch_size=4, progress=False)
    assert hist.steps == [0, 1, 2, 3, 4] and hist.steps_done == 5
    assert set(hist.logs) >= {"loss", "loss_recon", "loss_kl"} and all(
        len(v) == 5 for v in hist.logs.values()
    )
    assert hist.wall_time > 0


def test_history_pads_missing_keys_with_nan():
    hist = History()
    hist.append(0, {"d": 1.0})
    hist.append(1, {"d": 2.0, "g": 3.0})
    assert math.isnan(hist.logs["g"][0]) and hist.logs["g"][1] == 3.0
    assert hist.recent_mean(2) == {"d": 1.5, "g": 3.0}
    restored = History.from_dict(hist.to_dict())
    assert (
        restored.steps == [0, 1] and restored.logs["d"] == [1.0, 2.0] and restored.steps_done == 2
    )


def test_same_seed_same_weights_and_different_seed_differs():
    a, b, c = _vae(0), _vae(0), _vae(0)
    fit(a, _data(), steps=4, batch_size=4, seed=3, progress=False)
    fit(b, _data(), steps=4, batch_size=4, seed=3, progress=False)
    fit(c, _data(), steps=4, batch_size=4, seed=4, progress=False)
    assert _same_weights(a, b)
    assert not _same_weights(a, c)


def test_resume_continues_step_count_and_matches_uninterrupted_run(tmp_path):
    straight = _vae()
    fit(straight, _data(), steps=6, batch_size=4, progress=False, precision="fp32")

    resumed = _vae()
    first = fit(
        resumed,
        _data(),
        steps=3,
        batch_size=4,
        checkpoint_dir=tmp_path,
        progress=False,
        precision="fp32",
    )
    assert first.steps_done == 3
    again = _vae(seed=123)  # a fresh process would build the model anew: weights come from disk
    hist = fit(
        again,
        _data(),
        steps=6,
        batch_size=4,
        checkpoint_dir=tmp_path,
        progress=False,
        precision="fp32",
    )
    assert hist.steps == [0, 1, 2, 3, 4, 5] and hist.steps_done == 6
    assert _same_weights(straight, again)


def test_keyboard_interrupt_saves_a_checkpoint_to_resume_from(tmp_path):
    def stop_at_four(step, logs, model):
        if step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(_vae(), _data(), steps=10, batch_size=4, log_every=2, callbacks=[stop_at_four],
            checkpoint_dir=tmp_path, progress=False)  # fmt: skip
    hist = fit(_vae(), _data(), steps=6, batch_size=4, checkpoint_dir=tmp_path, progress=False)
    assert hist.steps == list(range(6))


def test_periodic_checkpoints_and_callbacks(tmp_path):
    calls = []
    fit(_vae(), _data(), steps=6, batch_size=4, log_every=2, checkpoint_every=2, checkpoint_dir=tmp_path,
        callbacks=[lambda step, logs, model: calls.append((step, sorted(logs)))], progress=False)  # fmt: skip
    assert [c[0] for c in calls] == [2, 4, 6]
    assert "loss" in calls[0][1]
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [
        "ckpt-00000004.json",
        "ckpt-00000006.json",
    ]


class _Linear(GenerativeModel):
    """A one-parameter model trained with plain SGD, so a clipped step is exactly lr * clip."""

    def __init__(self):
        super().__init__()
        self.config = {}
        self.w = torch.nn.Parameter(torch.zeros(4))

    def configure_optimizers(self):
        return {"sgd": torch.optim.SGD(self.parameters(), lr=1.0)}

    def train_step(self, batch, optimizers, ctx):
        loss = -(self.w * 100.0).sum()  # gradient norm 200
        ctx.optimize(loss, optimizers["sgd"], name="sgd")
        return {"loss": loss.item()}


def test_grad_clip_bounds_the_update_and_logs_the_norm():
    model = _Linear()
    hist = fit(
        model, _data(4), steps=1, batch_size=4, grad_clip=0.5, progress=False, precision="fp32"
    )
    assert hist.logs["grad_norm_sgd"][0] == pytest.approx(200.0)
    assert model.w.norm().item() == pytest.approx(0.5, rel=1e-5)  # lr 1 * clipped norm 0.5


@pytest.mark.parametrize(
    "name", ["vae", "cvae", "gan", "dcgan", "cgan", "acgan", "infogan", "wgan_gp"]
)
def test_bf16_autocast_on_cpu_trains_every_model(name):
    cfg = {"num_classes": 2} if name in ("cvae", "cgan", "acgan") else {}
    model = create(name, **TINY, **cfg)
    data = TensorDataset(torch.rand(8, 1, 16, 16), torch.arange(8) % 2)
    hist = fit(model, data, steps=2, batch_size=4, precision="bf16", device="cpu", progress=False)
    values = [v for vals in hist.logs.values() for v in vals if not math.isnan(v)]
    assert values and all(math.isfinite(v) for v in values)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast keeps fp32 weights


def test_dict_datasets_and_dataloaders_are_accepted():
    items = [{"image": torch.rand(1, 16, 16), "label": torch.tensor(i % 2)} for i in range(8)]
    model = create("cvae", **TINY, num_classes=2)
    hist = fit(model, DataLoader(items, batch_size=4, shuffle=True), steps=3, progress=False)
    assert hist.steps_done == 3


def test_sampler_resumes_mid_epoch():
    full = iter(EpochBatchSampler(10, 3, seed=1))
    batches = [next(full) for _ in range(7)]
    resumed = iter(EpochBatchSampler(10, 3, seed=1, start_batch=4))
    assert [next(resumed) for _ in range(3)] == batches[4:]


def test_model_is_left_in_eval_mode():
    model = _vae()
    fit(model, _data(), steps=1, batch_size=4, progress=False)
    assert not model.training


def test_auto_precision_on_cpu_is_a_concrete_choice():
    assert resolve_precision("auto", torch.device("cpu")) in ("fp32", "bf16")


# --- one test per raise -------------------------------------------------------------------------
def test_negative_steps_raise():
    with pytest.raises(ValueError, match="steps must be an int >= 0"):
        fit(_vae(), _data(), steps=-1)


def test_zero_batch_size_raises():
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        fit(_vae(), _data(), steps=1, batch_size=0)


def test_checkpoint_every_without_dir_raises():
    with pytest.raises(ValueError, match="checkpoint_dir is None"):
        fit(_vae(), _data(), steps=1, checkpoint_every=1)


def test_bad_checkpoint_every_raises(tmp_path):
    with pytest.raises(ValueError, match="checkpoint_every must be an int >= 1"):
        fit(_vae(), _data(), steps=1, checkpoint_every=0, checkpoint_dir=tmp_path)


def test_bad_grad_clip_raises():
    with pytest.raises(ValueError, match="grad_clip must be > 0"):
        fit(_vae(), _data(), steps=1, grad_clip=0.0)


def test_bad_data_type_raises():
    with pytest.raises(ValueError, match="data must be a torch Dataset or DataLoader"):
        fit(_vae(), [torch.rand(1, 16, 16)], steps=1)


def test_empty_data_raises():
    with pytest.raises(ValueError, match="data is empty"):
        fit(_vae(), TensorDataset(torch.zeros(0, 1, 16, 16)), steps=1, progress=False)


def test_unknown_precision_raises():
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp8", torch.device("cpu"))


def test_fp16_on_cpu_raises():
    with pytest.raises(ValueError, match="precision='fp16' needs a CUDA device"):
        resolve_precision("fp16", torch.device("cpu"))


def test_unknown_device_raises():
    with pytest.raises(ValueError, match="device must be one of"):
        fit(_vae(), _data(), steps=1, device="tpu")


def test_bad_batch_item_raises():
    with pytest.raises(ValueError, match="data must yield dicts"):
        as_batch("not a batch")


def test_channel_mismatch_between_data_and_model_raises():
    data = TensorDataset(torch.rand(4, 3, 16, 16))
    with pytest.raises(ValueError, match="3 channels but the model was built with in_channels=1"):
        fit(_vae(), data, steps=1, batch_size=4, progress=False)


# --- issue 12, item 1: resume=False never mixes with or silently loses an earlier run -----------
def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_resume_false_into_a_folder_with_checkpoints_is_refused(tmp_path):
    data = _data(16)
    fit(_vae(), data, 6, batch_size=4, checkpoint_dir=tmp_path, checkpoint_every=2, progress=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    other = create("vae", **{**TINY, "beta": 0.5})
    with pytest.raises(ValueError, match="already holds 4 checkpoint files.*overwrite=True"):
        fit(other, data, 2, batch_size=4, checkpoint_dir=tmp_path, resume=False, progress=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing touched


def test_resume_false_with_overwrite_replaces_the_earlier_run(tmp_path):
    data = _data(16)
    fit(_vae(), data, 6, batch_size=4, checkpoint_dir=tmp_path, checkpoint_every=2, progress=False)
    (tmp_path / "notes.txt").write_text("mine")
    other = create("vae", **{**TINY, "beta": 0.5})
    fit(other, data, 2, batch_size=4, checkpoint_dir=tmp_path, resume=False, overwrite=True,
        progress=False)  # fmt: skip
    assert _names(tmp_path) == ["ckpt-00000002.json", "ckpt-00000002.safetensors", "notes.txt"]
    assert load_checkpoint(tmp_path).config["beta"] == 0.5


def test_resume_false_into_an_empty_or_new_folder_trains(tmp_path):
    hist = fit(_vae(), _data(), 2, batch_size=4, checkpoint_dir=tmp_path / "new", resume=False,
               progress=False)  # fmt: skip
    assert hist.steps_done == 2 and _names(tmp_path / "new")[0] == "ckpt-00000002.json"


def test_overwrite_with_resume_raises(tmp_path):
    with pytest.raises(ValueError, match="overwrite=True needs resume=False"):
        fit(_vae(), _data(), 1, checkpoint_dir=tmp_path, overwrite=True, progress=False)


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, image: torch.Tensor, target: torch.Tensor) -> None:
        self.image, self.target = image, target

    def __len__(self) -> int:
        return len(self.image)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.image[i], "target": self.target[i]}


@pytest.mark.parametrize(
    ("name", "config", "shape", "fmt"),
    [
        ("pix2pix", dict(size=16, base_channels=4, dropout=0.0), (4, 1, 16, 16), torch.channels_last),
        ("pix2pix3d", dict(size=8, base_channels=2, depth=3, dropout=0.0), (4, 1, 8, 8, 8),
         torch.channels_last_3d),
    ],
)  # fmt: skip
def test_channels_last_trains_the_same_model_and_checkpoints_plainly(
    tmp_path, name, config, shape, fmt
):
    g = torch.Generator().manual_seed(0)
    pairs = _Pairs(torch.rand(8, *shape[1:], generator=g), torch.rand(8, *shape[1:], generator=g))
    runs = {}
    for layout in (False, True):
        seed_everything(0)
        model = create(name, **config)
        fit(model, pairs, 3, batch_size=4, progress=False, precision="fp32", channels_last=layout,
            checkpoint_dir=tmp_path / str(layout))  # fmt: skip
        runs[layout] = model
    conv_weights = [p for p in runs[True].parameters() if p.ndim == len(shape)]
    assert conv_weights and all(p.is_contiguous(memory_format=fmt) for p in conv_weights)
    for a, b in zip(
        runs[True].state_dict().values(), runs[False].state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # same arithmetic (no dropout)
    reloaded = load_checkpoint(tmp_path / "True")  # saved contiguous, loads as any checkpoint
    for a, b in zip(reloaded.state_dict().values(), runs[True].state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_channels_last_is_on_by_default_only_on_cuda_and_must_be_a_flag():
    assert resolve_channels_last(None, torch.device("cuda")) is True
    assert resolve_channels_last(None, torch.device("cpu")) is False
    assert resolve_channels_last(True, torch.device("cpu")) is True
    with pytest.raises(TypeError, match="channels_last must be True, False or None"):
        resolve_channels_last("yes", torch.device("cpu"))
