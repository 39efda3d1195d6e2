"""Interrupted-and-resumed training equals the uninterrupted run, bit for bit, on CPU.

Each case sends the process a real SIGINT (what Ctrl-C or a notebook's interrupt button does) at a
chosen point of a chosen step: at the start of ``train_step``, right after one optimizer's update
(for a GAN, after D and before G: half a step), or in a callback between steps. The run is then
resumed in a freshly built model from the checkpoint folder, and every weight and buffer must equal
the uninterrupted run's with ``torch.equal``.
"""

import functools
import os
import signal
import threading
import warnings

import pytest
import torch
from torch.utils.data import TensorDataset

from medgen_nb.checkpoint import latest_checkpoint, load_training_state
from medgen_nb.models import create
from medgen_nb.train import fit
from medgen_nb.utils import seed_everything

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = 6
CONFIGS = {
    "vae": dict(size=16, base_channels=4, latent_dim=4),
    "dcgan": dict(size=16, base_channels=4, latent_dim=4),
    "wgan_gp": dict(size=16, base_channels=4, latent_dim=4, n_critic=2),
}


def _data() -> TensorDataset:
    return TensorDataset(torch.rand(16, 1, 16, 16, generator=torch.Generator().manual_seed(0)))


def _build(name: str, seed: int = 0):
    seed_everything(seed)
    return create(name, **CONFIGS[name])


def _fit(model, **kw):
    return fit(model, _data(), STEPS, batch_size=4, progress=False, precision="fp32", **kw)


@functools.cache
def _straight(name: str) -> dict[str, torch.Tensor]:
    model = _build(name)
    _fit(model)
    return model.state_dict()


def _sigint():
    os.kill(os.getpid(), signal.SIGINT)


def _interrupt_at(model, where: str, step: int, times: int = 1):
    """Patch this one model instance (its class stays the registered one) to SIGINT itself."""
    if where == "start":
        train_step = model.train_step

        def patched(batch, optimizers, ctx):
            if ctx.step == step:
                for _ in range(times):
                    _sigint()
            return train_step(batch, optimizers, ctx)

        model.train_step = patched
        return []
    if where == "callback":
        return [lambda done, logs, m: _sigint() if done == step + 1 else None]
    # "after:<optimizer>": right after that optimizer's update inside train_step
    name = where.split(":")[1]
    configure = model.configure_optimizers
    calls = {"n": 0}

    def configure_with_hook():
        opts = configure()

        def hook(opt, args, kwargs):
            calls["n"] += 1
            if calls["n"] == step + 1:
                for _ in range(times):
                    _sigint()

        opts[name].register_step_post_hook(hook)
        return opts

    model.configure_optimizers = configure_with_hook
    return []


def _assert_same(name: str, model) -> None:
    expected, got = _straight(name), model.state_dict()
    assert expected.keys() == got.keys()
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f"resumed {name} differs from the uninterrupted run in {different}"


@pytest.mark.parametrize(
    "name,where,step",
    [
        ("vae", "start", 0),
        ("vae", "after:vae", 2),  # weights updated, logs not yet returned
        ("vae", "callback", 4),
        ("dcgan", "start", 3),
        ("dcgan", "after:d", 0),  # D updated, G not: half a step
        ("dcgan", "after:d", 3),
        ("dcgan", "after:g", 1),
        ("wgan_gp", "after:d", 2),  # a critic-only step (G every 2nd)
        ("wgan_gp", "after:d", 3),  # a step that updates G after the critic
    ],
)
def test_interrupted_and_resumed_training_is_bit_identical(tmp_path, name, where, step):
    handler_before = signal.getsignal(signal.SIGINT)
    model = _build(name)
    callbacks = _interrupt_at(model, where, step)
    with pytest.raises(KeyboardInterrupt):
        _fit(model, checkpoint_dir=tmp_path, callbacks=callbacks, log_every=1)
    assert signal.getsignal(signal.SIGINT) is handler_before  # fit restored the handler
    # the step in progress was finished, and its end is what the checkpoint holds
    assert latest_checkpoint(tmp_path).name == f"ckpt-{step + 1:08d}.json"
    fresh = _build(name, seed=99)
    state = load_training_state(tmp_path, fresh, fresh.configure_optimizers())
    assert state.step == step + 1 and len(state.history["steps"]) == step + 1
    saved, in_memory = fresh.state_dict(), model.state_dict()
    assert all(torch.equal(saved[k], in_memory[k]) for k in saved)  # what was saved is the model

    resumed = _build(name, seed=123)  # a new process builds the model anew: weights from disk
    hist = _fit(resumed, checkpoint_dir=tmp_path)
    assert hist.steps == list(range(STEPS))
    _assert_same(name, resumed)


@pytest.mark.parametrize(
    "presses,newest",
    [
        (1, "ckpt-00000004.json"),  # step 3 is finished and saved, beside the periodic ckpt-2
        (2, "ckpt-00000002.json"),  # a second Ctrl-C cuts step 3 in half: nothing of it is saved
    ],
)
def test_ctrl_c_between_periodic_checkpoints_resumes_bit_identically(tmp_path, presses, newest):
    model = _build("dcgan")
    _interrupt_at(model, "after:d", 3, times=presses)  # between the D and G updates of step 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            _fit(model, checkpoint_dir=tmp_path, checkpoint_every=2)
    messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
    if presses == 2:
        assert len(messages) == 1 and "middle of step 3" in messages[0]
        assert "no checkpoint was written" in messages[0] and newest in messages[0]
    else:
        assert messages == []
    assert latest_checkpoint(tmp_path).name == newest
    resumed = _build("dcgan", seed=7)
    _fit(resumed, checkpoint_dir=tmp_path, checkpoint_every=2)
    _assert_same("dcgan", resumed)


def test_fit_in_a_worker_thread_leaves_signals_alone():
    errors, handler_before = [], signal.getsignal(signal.SIGINT)

    def work():
        try:
            _fit(_build("vae"))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == [] and signal.getsignal(signal.SIGINT) is handler_before
