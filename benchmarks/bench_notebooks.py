"""Runtime and kernel peak memory of every course notebook: the tables at the top of 00-05.

Runs each notebook with papermill (``medgen_nb.course.run_notebook``) three ways: SMOKE from an
empty cache, lab from an empty cache (simulating the data and training every model), and lab
again with that cache warm. Prints seconds and the kernel's peak resident memory (MB, sampled
every 0.25 s). Run it on an otherwise idle machine; about 12 minutes on a 2-core CPU.

    python benchmarks/bench_notebooks.py [--only 01 03]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from medgen_nb.course import course_notebooks, run_notebook


def run_all(notebooks: list[Path], out: Path, cache: Path, smoke: bool) -> dict[str, tuple]:
    # The kernel inherits the environment, so the cache folder is set before each run.
    os.environ["MEDGEN_NB_CACHE"] = str(cache)
    results = {}
    for path in notebooks:
        run = run_notebook(path, out / path.name, smoke=smoke)
        if run.error:
            raise SystemExit(f"{path.name} failed: {run.error[:500]}")
        results[path.stem] = (run.seconds, run.peak_mb or 0.0)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="notebook number prefixes, e.g. 01 03")
    args = parser.parse_args()
    notebooks = [p for p in course_notebooks() if not args.only or p.name[:2] in args.only]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        smoke = run_all(notebooks, tmp / "smoke", tmp / "cache_smoke", smoke=True)
        cold = run_all(notebooks, tmp / "cold", tmp / "cache_lab", smoke=False)
        warm = run_all(notebooks, tmp / "warm", tmp / "cache_lab", smoke=False)
    print(f"{'notebook':26s} {'SMOKE':>12s} {'lab, first':>12s} {'lab, re-run':>12s}  (s, peak MB)")
    for name in smoke:
        cells = [f"{r[name][0]:5.0f} {r[name][1]:6.0f}" for r in (smoke, cold, warm)]
        print(f"{name:26s} " + " ".join(f"{c:>12s}" for c in cells))


if __name__ == "__main__":
    main()
