"""2-D vs 3-D translation: time and memory of one Pix2Pix training step against the input side.

One architecture (U-Net depth 4, 16 base channels, 1-layer PatchGAN, batch 4) trained on
squares of side S (2-D) and cubes of side S (3-D). Each setting runs in a fresh process so
that its peak memory is its own:

* ``s/step``: the best of ``--repeats`` timed steps after one warm-up;
* ``step MiB``: what the training step adds to the resident memory of a process that already
  holds the model and the batch (CPU: peak RSS minus RSS before the first step; CUDA: peak
  allocated memory minus memory allocated before the first step);
* ``x 2-D``: time and memory over the 2-D setting of the same side.

A 3-D step at side S sees S times the voxels of the 2-D step, so its cost grows as S³ where the
2-D step grows as S². The last column marks the settings that no longer fit a lab's budget on
this device (1.5 GiB for a step, or more than 2 s per step), which is where a GPU is needed.

    python benchmarks/bench_2d_vs_3d.py                 # CPU, 2 threads
    python benchmarks/bench_2d_vs_3d.py --device cuda --sides 32 64 128
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

ARCH = dict(base_channels=16, depth=4, d_layers=1)
BATCH = 4
BUDGET_MIB, BUDGET_S = 1536, 2.0


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def measure(dims: int, side: int, device: str, threads: int, repeats: int) -> dict:
    """One setting, in this process: seconds per step and the step's extra memory (MiB)."""
    import torch

    from medgen_nb.models import create
    from medgen_nb.models.base import StepContext

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    model = create("pix2pix3d" if dims == 3 else "pix2pix", size=side, **ARCH).to(dev)
    g = torch.Generator().manual_seed(0)
    shape = (BATCH, 1, *(side,) * dims)
    batch = {k: torch.rand(shape, generator=g).to(dev) for k in ("image", "target")}
    opts = model.configure_optimizers()
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**20
    else:
        before = _rss_mib()
    best = float("inf")
    for step in range(repeats + 1):
        start = time.perf_counter()
        model.train_step(batch, opts, StepContext(step=step))
        if cuda:
            torch.cuda.synchronize()
        if step:  # the first step allocates optimizer state and warms up kernels
            best = min(best, time.perf_counter() - start)
    if cuda:
        extra = torch.cuda.max_memory_allocated() / 2**20 - before
    else:
        extra = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    params = sum(p.numel() for p in model.parameters())
    return {"dims": dims, "side": side, "s_per_step": best, "step_mib": extra, "params": params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--one", nargs=2, type=int, metavar=("DIMS", "SIDE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:  # the child process of one setting
        print(json.dumps(measure(*args.one, args.device, args.threads, args.repeats)))
        return
    rows = {}
    for side in args.sides:
        for dims in (2, 3):
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(dims), str(side), "--device",
                 args.device, "--threads", str(args.threads), "--repeats", str(args.repeats)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            rows[dims, side] = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"== Pix2Pix training step, batch {BATCH}, U-Net depth {ARCH['depth']}, "
        f"{ARCH['base_channels']} base channels, {args.device}, {args.threads} threads =="
    )
    print(f"{'input':>10s} {'params':>9s} {'s/step':>8s} {'step MiB':>9s} {'x 2-D time':>10s} "
          f"{'x 2-D MiB':>10s}  fits the lab budget")  # fmt: skip
    for side in args.sides:
        for dims in (2, 3):
            r, flat = rows[dims, side], rows[2, side]
            label = f"{side}²" if dims == 2 else f"{side}³"
            ratio_t = r["s_per_step"] / flat["s_per_step"]
            ratio_m = r["step_mib"] / max(flat["step_mib"], 1.0)
            fits = r["step_mib"] <= BUDGET_MIB and r["s_per_step"] <= BUDGET_S
            print(
                f"{label:>10s} {r['params']:9d} {r['s_per_step']:8.3f} {r['step_mib']:9.0f} "
                f"{ratio_t:10.1f} {ratio_m:10.1f}  {'yes' if fits else 'no: use a GPU'}",
                flush=True,
            )


if __name__ == "__main__":
    main()
