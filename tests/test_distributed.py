"""Distributed training: 2 gloo processes with per-rank batch B follow 1 process with batch 2B.

One ``torchrun --standalone --nproc_per_node=2`` launch (one thread per rank) trains the cases of
``tests/distributed_worker.py``: a VAE (group norm) and a Pix2Pix GAN at 32 px (instance norm,
decoder dropout 0.5; D and G updated in one step). The test trains the same seeded models in this
process with ``batch_size=2B`` and compares.

Tolerance: averaging two half-batch gradients and taking the gradient of the mean over the whole
batch differ only in the order of sums (both losses are batch means), and every random draw
(reparameterisation noise, dropout masks) is the same per sample at either world size. So the
final weights may differ by rounding only: the test asks ``max |w_2 - w_1|`` to stay below
1e-6 of how far training moved the weights (``max |w_1 - w_init|``). The cases run in float64
(``distributed_worker.DTYPE``) because in float32 that rounding is amplified by an amount that
depends on the processor: Adam's update is scale-free, so a near-zero gradient steps by a
rounding-decided amount, and an instance norm over a 2 x 2 map divides by a small deviation.
Pix2Pix in float32 gave a ratio of 1e-4 on one machine and 1.4e-2 on another. In float64 the
development machine gives VAE 5.6e-17 of 6.0e-3 (ratio 1e-14) and Pix2Pix 5.7e-16 of 1.4e-3
(4e-13), so the bound leaves six orders of magnitude for other processors. A single process that
sees only rank 0's half of each batch lands at a ratio of about 1.7 (printed by
``test_half_batch_control_is_far``), so a missing or wrong gradient average fails the test.

Why not every model: batch-norm models (DCGAN, WGAN-GP) differ by more than rounding, since each
rank normalises with its own statistics. The two cases cover group norm, instance norm, dropout
masks, sampled noise and a two-optimiser step.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
import distributed_worker as worker  # noqa: E402

from medgen_nb.checkpoint import checkpoint_files  # noqa: E402
from medgen_nb.distributed import GlobalBatchRandom, setup  # noqa: E402
from medgen_nb.train import EpochBatchSampler, fit  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
GLOBAL_BATCH = 2 * worker.PER_RANK_BATCH
RELATIVE_TOLERANCE = 1e-6  # of the weights' displacement by training; see the module docstring


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> Path:
    """Launch the two ranks once; their outputs lie under the returned folder."""
    out = tmp_path_factory.mktemp("ddp")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        # the ranks must import this checkout, not another install of medgen_nb
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(Path(worker.__file__)), str(out),
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return out


def _single(name: str, steps: int = worker.STEPS, batch_size: int = GLOBAL_BATCH, **kw):
    model = worker.build(name)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    history = fit(
        model, worker.data(name), steps, batch_size=batch_size, seed=3, precision="fp32",
        progress=False, **kw,
    )  # fmt: skip
    return model.state_dict(), init, history


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def _rank(ranks: Path, case: str, r: int) -> tuple[dict[str, torch.Tensor], dict]:
    folder = ranks / case
    return load_file(folder / f"rank{r}.safetensors"), json.loads(
        (folder / f"rank{r}.json").read_text()
    )


@pytest.mark.parametrize("name", ["vae", "pix2pix"])
def test_two_ranks_equal_one_process_with_the_global_batch(ranks, name):
    w0, rec0 = _rank(ranks, name, 0)
    w1, rec1 = _rank(ranks, name, 1)
    assert rec0["world"] == 2
    assert all(torch.equal(w0[k], w1[k]) for k in w0), "the ranks' weights drifted apart"
    ref, init, history = _single(name)
    moved = _max_diff(ref, init)
    diff = _max_diff(w0, ref)
    print(f"{name}: max |w_2ranks - w_1proc| = {diff:.2e}, displacement {moved:.2e}")
    assert moved > 1e-4  # training did move the weights, so the comparison means something
    assert diff <= RELATIVE_TOLERANCE * moved
    # logs are averaged over the ranks: the same History on both (wall time is each rank's
    # own), and the single run's
    for key in ("logs", "steps", "steps_done"):
        assert rec0["history"][key] == rec1["history"][key], key
    logs = rec0["history"]["logs"]
    assert logs.keys() == history.logs.keys()
    for key, values in history.logs.items():
        assert logs[key] == pytest.approx(values, rel=1e-5, abs=1e-6), key


def test_half_batch_control_is_far(ranks):
    """Without the other rank's half, training lands far away: the tolerance above is tight."""
    w0, _ = _rank(ranks, "pix2pix", 0)
    ref, init, _ = _single("pix2pix", batch_size=worker.PER_RANK_BATCH)
    ratio = _max_diff(w0, ref) / _max_diff(ref, init)
    print(f"pix2pix on rank 0's half batch alone: difference / displacement = {ratio:.2f}")
    assert ratio > 10 * RELATIVE_TOLERANCE


def test_only_rank_0_writes_checkpoints(ranks):
    _, rec0 = _rank(ranks, "vae", 0)
    _, rec1 = _rank(ranks, "vae", 1)
    assert rec0["saves"] == [2, 4, 6] and rec1["saves"] == []
    names = [p.name for p in checkpoint_files(ranks / "vae" / "ckpt")]
    assert names == [f"ckpt-0000000{s}.{x}" for s in (4, 6) for x in ("json", "safetensors")]
    record = json.loads((ranks / "vae" / "ckpt" / "ckpt-00000006.json").read_text())
    assert record["batch_order"] == {"seed": 3, "global_batch_size": GLOBAL_BATCH, "world_size": 2}


def test_two_rank_checkpoint_resumes_in_one_process(ranks, tmp_path):
    """3 steps on 2 ranks, then 3 more in one process = 6 steps on 2 ranks."""
    shutil.copytree(ranks / "vae_half" / "ckpt", tmp_path / "ckpt")
    resumed, init, history = _single("vae", checkpoint_dir=tmp_path / "ckpt")
    straight, rec = _rank(ranks, "vae", 0)
    assert history.steps == list(range(worker.STEPS))
    assert _max_diff(resumed, straight) <= RELATIVE_TOLERANCE * _max_diff(straight, init)
    assert history.logs["loss"] == pytest.approx(rec["history"]["logs"]["loss"], rel=1e-5)


def test_ranks_split_each_global_batch_of_the_single_process_order():
    single = EpochBatchSampler(20, 6, seed=5, start_batch=2)
    shards = [iter(EpochBatchSampler(20, 6, 5, 2, rank=r, num_replicas=2)) for r in (0, 1)]
    for expected in itertools.islice(single, 7):  # crosses epoch boundaries (3 batches/epoch)
        assert next(shards[0]) + next(shards[1]) == expected


def test_batch_shaped_draws_are_the_global_batch_rows():
    def draws(b: int) -> list[torch.Tensor]:
        x = torch.zeros(b, 3, 4, 4)
        return [
            torch.randn(b, 5), torch.rand((b,)), torch.randint(0, 9, (b, 2)), torch.randn_like(x),
            torch.empty(b, 4).normal_(), torch.bernoulli(torch.full((b, 3), 0.3)),
            torch.nn.Dropout(0.5)(torch.ones(b, 40)), torch.rand(()), torch.randn(7),
        ]  # fmt: skip

    torch.manual_seed(0)
    expected, state = draws(4), torch.get_rng_state()
    for rank in (0, 1):
        torch.manual_seed(0)
        with GlobalBatchRandom(2, rank, 2):
            got = draws(2)
        assert torch.equal(torch.get_rng_state(), state)  # both ranks stay on one stream
        for want, have in zip(expected, got, strict=True):
            rows = want[2 * rank : 2 * rank + 2] if want.dim() and len(want) == 4 else want
            assert torch.equal(rows, have)


def test_distributed_true_without_a_launcher_says_how_to_launch(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ValueError, match="torchrun --nproc_per_node"):
        setup("cpu", True)
    with pytest.raises(ValueError, match="distributed must be None, True or False"):
        setup("cpu", "yes")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ValueError, match="MASTER_ADDR"):
        setup("cpu", None)
    assert setup("cpu", False)[0].world_size == 1  # False: one process whatever the environment
