"""Peak memory of scoring a whole test split: SSIM in chunks vs all images at once.

Scores ``n`` random 64 x 64 slices with ``ssim(..., mask=..., reduction="none")``, once with the
package's chunk size (``medgen_nb.metrics.translation.SSIM_CHUNK``) and once with every image in
one chunk, each in a fresh process, and prints the resident memory before, the peak during the
call and the ratio of the two increases. The notebooks' 20-subject 64 px test split has 1256
slices. Usage:

    python benchmarks/ssim_memory.py [--n 1256] [--size 64]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time


def _run(n: int, size: int, chunk: int | None, out) -> None:
    import torch

    from medgen_nb.metrics import ssim, translation

    if chunk is not None:
        translation.SSIM_CHUNK = chunk
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, 1, size, size, generator=g), torch.rand(n, 1, size, size, generator=g)
    mask = torch.zeros(n, 1, size, size, dtype=torch.bool)
    mask[..., size // 8 : -size // 8, size // 8 : -size // 8] = True
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    ssim(x, y, data_range=1.0, mask=mask, reduction="none")
    seconds = time.perf_counter() - start
    out.put((before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1256)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")  # a fresh process each: ru_maxrss is a high-water mark
    rows = {}
    for label, chunk in (("chunked (package default)", None), ("one chunk", args.n)):
        q = ctx.Queue()
        p = ctx.Process(target=_run, args=(args.n, args.size, chunk, q))
        p.start()
        rows[label] = q.get()
        p.join()
    print(f"SSIM of {args.n} images of {args.size} x {args.size} px with a mask")
    for label, (before, peak, seconds) in rows.items():
        print(
            f"{label:>26s}: +{peak - before:7.0f} MB over {before:.0f} MB, {args.n / seconds:7.0f} images/s"
        )
    (b1, p1, _), (b2, p2, _) = rows.values()
    print(f"memory increase, one chunk / chunked: {(p2 - b2) / max(p1 - b1, 1.0):.1f}x")


if __name__ == "__main__":
    main()
