"""Throughput of the metrics on CPU: SSIM at 128 x 128 and FID (feature net) on 2,000 images.

Run: ``python benchmarks/bench_metrics.py [--threads 2]``. Prints images per second, and the extra
memory ``gaussian_blur`` needs for notebook 01's 850 held-out slices of 128 px, as a ratio to the
input's size. Inputs are simulated smooth random fields in [0, 1] (content does not change the cost).
"""

from __future__ import annotations

import argparse
import threading
import time

import torch
import torch.nn.functional as F

from medgen_nb.metrics import extract_features, fid, gaussian_blur, load_feature_net, psnr, ssim


def peak_extra_mb(fn) -> float:
    """Peak resident memory above the starting level while ``fn()`` runs (MB, sampled every 5 ms)."""
    import psutil

    me = psutil.Process()
    start = me.memory_info().rss
    peak, done = [start], threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.005)

    thread = threading.Thread(target=poll)
    thread.start()
    fn()
    done.set()
    thread.join()
    return (peak[0] - start) / 2**20


def smooth_fields(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = F.avg_pool2d(torch.rand(n, 1, size + 8, size + 8, generator=g), 9, 1)
    return (x - x.amin()) / (x.amax() - x.amin())


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-fid", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # benchmark setting only; the package never sets threads
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    x = smooth_fields(256, 128, 0)
    y = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    t = best_of(lambda: ssim(y, x, data_range=1.0, reduction="none"))
    print(f"SSIM 128x128 (per image):           {len(x) / t:8.0f} images/s")
    t = best_of(lambda: psnr(y, x, data_range=1.0, reduction="none"))
    print(f"PSNR 128x128 (per image):           {len(x) / t:8.0f} images/s")

    net = load_feature_net()
    real, fake = smooth_fields(args.n_fid, 64, 2), smooth_fields(args.n_fid, 64, 3) ** 1.5
    t_feat = best_of(lambda: extract_features(real, net), repeats=2)
    f_real, f_fake = extract_features(real, net), extract_features(fake, net)
    t_fid = best_of(lambda: fid(f_real, f_fake))
    total = 2 * t_feat + t_fid
    print(f"feature extraction 64x64:          {args.n_fid / t_feat:8.0f} images/s")
    print(
        f"FID on {args.n_fid} vs {args.n_fid} images:      {total:8.2f} s total "
        f"({2 * args.n_fid / total:.0f} images/s; Frechet step {t_fid * 1000:.0f} ms)"
    )

    heldout = smooth_fields(850, 128, 4)  # notebook 01's held-out set: 850 slices of 128 px
    extra = peak_extra_mb(lambda: gaussian_blur(heldout, 2.0))
    size_mb = heldout.numel() * heldout.element_size() / 2**20
    print(
        f"gaussian_blur, 850 x 128x128, sigma 2: {extra:6.0f} MB extra at peak "
        f"({extra / size_mb:.1f}x the {size_mb:.0f} MB input)"
    )


if __name__ == "__main__":
    main()
