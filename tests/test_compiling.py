"""fit(torch_compile=True): the networks really run compiled, give the eager result, and a
compiler failure falls back to eager mode without changing the run."""

import pytest
import torch
from torch._dynamo.utils import counters

from medgen_nb import compiling
from medgen_nb.models import create
from medgen_nb.train import fit
from medgen_nb.utils import seed_everything

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated"),  # torch's own
]

DATA = torch.utils.data.TensorDataset(
    torch.rand(16, 1, 16, 16, generator=torch.Generator().manual_seed(0))
)


def _trained(torch_compile: bool, steps: int = 4):
    seed_everything(0)
    model = create("vae", size=16, base_channels=4, latent_dim=4)
    history = fit(model, DATA, steps, batch_size=4, progress=False, precision="fp32",
                  torch_compile=torch_compile)  # fmt: skip
    return model, history


def test_compiled_training_runs_compiled_graphs_and_matches_eager():
    torch._dynamo.reset()
    counters.clear()
    compiled, history = _trained(True)
    # every trainable network (encoder, the two linear maps, decoder) became a graph
    assert counters["frames"]["ok"] >= len(compiling.trainable_networks(compiled)) == 4
    eager, eager_history = _trained(False)
    for a, b in zip(compiled.state_dict().values(), eager.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert history.steps_done == eager_history.steps_done == 4
    assert list(compiled.state_dict()) == list(eager.state_dict())  # checkpoints unchanged


def test_a_compiler_failure_falls_back_to_the_eager_run(monkeypatch):
    def broken_backend(graph, example_inputs):
        raise RuntimeError("no C++ compiler found")

    torch._dynamo.reset()
    monkeypatch.setattr(compiling, "COMPILE_BACKEND", broken_backend)
    with pytest.warns(RuntimeWarning, match="compilation failed .*no C\\+\\+ compiler found"):
        fallen_back, history = _trained(True)
    eager, eager_history = _trained(False)
    for a, b in zip(fallen_back.state_dict().values(), eager.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the failed step was undone and rerun: the very same run
    assert history.to_dict()["logs"] == eager_history.to_dict()["logs"]
    assert all(net._compiled_call_impl is None for net in compiling.trainable_networks(fallen_back))


def test_torch_compile_must_be_a_flag():
    with pytest.raises(TypeError, match="torch_compile must be True or False"):
        fit(create("vae", size=16, base_channels=4, latent_dim=4), DATA, 1, torch_compile="yes")
