"""Benchmark the chest data set: DRR images/s at 128 x 128, and warm slice loading.

Run: ``python benchmarks/bench_chest_ct.py [--threads 2] [--device cpu|cuda]``. Prints per-second
numbers; targets from issue 4: >= 20 DRR images/s at 128 x 128 on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from medgen_nb.data.chest_base import load_chest_base
from medgen_nb.data.chest_ct import ChestCTConfig, load_chest_subjects, simulate_chest_subject
from medgen_nb.data.ct_physics import hu_to_mu
from medgen_nb.data.drr import drr
from medgen_nb.data.slices import SliceDataset


def rate(fn, n_items: int, repeats: int = 3) -> tuple[float, float]:
    """Best-of-``repeats`` items/s of ``fn`` (which makes ``n_items`` items): wall clock, and per
    second of process CPU time divided by the thread count (what an idle machine would give when
    other jobs share the cores)."""
    fn()  # warm-up
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, (time.process_time() - c0) / torch.get_num_threads())
    return n_items / best_wall, n_items / max(best_cpu, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--subjects", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = ChestCTConfig()
    t0 = time.perf_counter()
    base = load_chest_base(cfg.in_plane_mm, cfg.slice_mm)
    print(
        f"base volume {base.hu.shape} at {tuple(round(s, 2) for s in base.spacing_mm)} mm: "
        f"{time.perf_counter() - t0:.2f} s (cold includes fetch + preprocessing, else the disk cache)"
    )
    mu = hu_to_mu(torch.from_numpy(base.hu)).to(args.device)
    batch = 8
    mus = mu[None].expand(batch, -1, -1, -1).contiguous()
    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"DRR 128x128 on {args.device}, {args.threads} threads, batches of {batch}:")
    for geometry in ("parallel", "cone"):
        for view in ("ap", "lateral"):
            wall, cpu = rate(lambda g=geometry, v=view: drr(mus, base.spacing_mm, g, v, 128), batch)
            print(
                f"  {geometry:8s} {view:7s}: {wall:8.1f} images/s wall, {cpu:8.1f} per CPU-s/thread"
            )
    grad_mu = mu.clone().requires_grad_(True)

    def forward_backward():
        drr(grad_mu, base.spacing_mm, "cone", "ap", 128).sum().backward()

    wall, cpu = rate(forward_backward, 1)
    print(f"  cone ap forward+backward: {wall:8.1f} images/s wall, {cpu:8.1f} per CPU-s/thread")

    t0 = time.perf_counter()
    simulate_chest_subject(10_000, cfg)
    print(f"simulate one subject (cold, no cache): {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    for k in range(1, 4):  # later subjects reuse in-process set-up (projector tables, probe)
        simulate_chest_subject(10_000 + k, cfg)
    print(f"simulate a subject (mean of 3 more, no cache): {(time.perf_counter() - t0) / 3:.2f} s")
    load_chest_subjects(args.subjects, seed=0, config=cfg, progress=False)  # fill the cache
    t0 = time.perf_counter()
    subjects = load_chest_subjects(args.subjects, seed=0, config=cfg, progress=False)
    warm = time.perf_counter() - t0
    print(f"load {args.subjects} subjects warm (disk cache): {args.subjects / warm:.1f} subjects/s")
    t0 = time.perf_counter()
    ds = SliceDataset(subjects, ["cbct"], "ct", "axial", 128, "organs")
    build = time.perf_counter() - t0
    print(f"SliceDataset 128x128 build: {len(ds) / build:.0f} slices/s ({len(ds)} slices)")
    t0 = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    print(f"SliceDataset indexing: {len(ds) / (time.perf_counter() - t0):.0f} slices/s")
    total = warm + build
    print(f"warm end to end (cache -> dataset): {len(ds) / total:.0f} slices/s")


if __name__ == "__main__":
    main()
