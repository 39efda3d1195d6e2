"""Loading speed and peak memory of a real 3-D data set, full size vs ``fit_side`` shrinking.

Fabricates IXI-named T2/PD volumes of the real IXI T2 size (256 x 256 x 130, float32) in a temp
folder, then runs ``load_dataset("ixi", size=64)`` in a fresh process per mode and prints seconds,
subjects/s, slices/s, the resident memory after the imports and the peak while loading. Usage:

    python benchmarks/realdata_load.py [--subjects 6]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _fabricate(root: Path, n: int) -> None:
    from medgen_nb.data.io import save_nifti

    rng = np.random.default_rng(0)
    shape = (256, 256, 130)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    head = (np.sqrt((grid**2).sum(0)) < 0.85).astype(np.float32) * 500
    for k in range(n):
        for mod in ("T2", "PD"):
            vol = head + rng.normal(0, 20, shape).astype(np.float32)
            save_nifti(
                vol, np.diag([0.94, 0.94, 1.2, 1.0]), root / f"IXI{k:03d}-HH-{k:04d}-{mod}.nii"
            )


def _run(root: str, downsample: int | None, queue) -> None:
    from medgen_nb.data.realdata import load_dataset

    base_mb = _rss_mb("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    splits = load_dataset("ixi", root, size=64, downsample=downsample, fractions=(1.0, 0.0, 0.0))
    dt = time.perf_counter() - t0
    n_slices = sum(len(d) for d in splits.values())
    n_subj = sum(len(d.subject_ids) for d in splits.values())
    queue.put((dt, n_subj, n_slices, base_mb, _rss_mb("VmHWM")))


def _rss_mb(field: str) -> float:
    """A memory field of /proc/self/status in MB (Linux), else the process's peak RSS."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Reset VmHWM so the peak counts the loading only (Linux >= 4.0; silently skipped elsewhere)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=6)
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        _fabricate(Path(tmp), args.subjects)
        for label, ds in (("full size (downsample=1)", 1), ("fit_side=64 (default)", None)):
            queue = ctx.Queue()
            proc = ctx.Process(target=_run, args=(tmp, ds, queue))
            proc.start()
            dt, n_subj, n_slices, base, peak = queue.get()
            proc.join()
            print(
                f"{label:26s} {dt:6.2f} s  {n_subj / dt:5.2f} subjects/s  "
                f"{n_slices / dt:7.1f} slices/s  {n_slices} slices  "
                f"RSS after imports {base:5.0f} MB, peak while loading {peak:5.0f} MB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
