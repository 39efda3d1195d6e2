"""Speed of the simulated brain phantom: subjects/minute, cold-cache dataset time, warm slices/s.

Run: ``python benchmarks/bench_brain_phantom.py [--subjects 20] [--skip-1mm]``. Uses a temporary
cache for the subject files (the MNI source files come from the normal cache) and prints numbers.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
from torch.utils.data import DataLoader

from medgen_nb.data import brain_anatomy
from medgen_nb.data.brain_phantom import (
    BrainPhantomConfig,
    brain_slice_datasets,
    simulate_brain_subject,
)
from medgen_nb.data.sources import fetch

MODALITIES = ["t1w", "t2w", "flair", "ct", "pet"]


def subjects_per_minute(resolution_mm: float, n: int) -> float:
    t0 = time.perf_counter()
    brain_anatomy.load_template(resolution_mm)
    print(f"  template {resolution_mm:g} mm ready in {time.perf_counter() - t0:.1f} s")
    cfg = BrainPhantomConfig(resolution_mm=resolution_mm)
    t0 = time.perf_counter()
    for seed in range(n):
        simulate_brain_subject(seed, cfg)
    return 60.0 * n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--skip-1mm", action="store_true")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (0: torch's default). On a busy shared machine 1 avoids oversubscription.",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("mni152_2009a_t1", "mni152_2009a_gm", "mni152_2009a_wm", "fsl_mni152_t1_2mm"):
        fetch(name)  # source files are not part of the timing
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch threads: {torch.get_num_threads()}, cpu cores: {os.cpu_count()}, load {load:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        sources_cache = os.environ.get("MEDGEN_NB_CACHE")
        os.environ["MEDGEN_NB_CACHE"] = tmp
        if sources_cache:  # keep using the already fetched source files
            os.symlink(os.path.join(sources_cache, "sources"), os.path.join(tmp, "sources"))
        else:
            os.symlink(
                os.path.expanduser("~/.cache/medgen_nb/sources"), os.path.join(tmp, "sources")
            )

        rate2 = subjects_per_minute(2.0, 5)
        print(
            f"2 mm, all 8 modalities: {rate2:.1f} subjects/minute (template build included above)"
        )
        if not args.skip_1mm:
            rate1 = subjects_per_minute(1.0, 2)
            print(f"1 mm, all 8 modalities: {rate1:.1f} subjects/minute")

        def build_dataset():
            return brain_slice_datasets(
                MODALITIES[:-1], target=MODALITIES[-1], n_subjects=args.subjects, size=128,
                progress=False,
            )  # fmt: skip

        t0 = time.perf_counter()
        ds = build_dataset()
        cold = time.perf_counter() - t0
        n_slices = sum(len(d) for d in ds.values())
        print(
            f"cold subject cache: {args.subjects}-subject, {len(MODALITIES)}-modality 128x128 axial "
            f"dataset ({n_slices} slices) ready in {cold:.1f} s (target < 120 s)"
        )
        t0 = time.perf_counter()
        ds = build_dataset()
        warm = time.perf_counter() - t0
        print(f"warm cache: dataset rebuilt in {warm:.1f} s ({n_slices / warm:.0f} slices/s)")

        train = ds["train"]
        t0 = time.perf_counter()
        seen = 0
        for _ in range(3):
            for batch in DataLoader(train, batch_size=32, shuffle=True):
                seen += batch["image"].shape[0]
        rate = seen / (time.perf_counter() - t0)
        print(
            f"warm loading (indexing + DataLoader batching, batch 32): {rate:.0f} slices/s (target >= 2000)"
        )


if __name__ == "__main__":
    main()
