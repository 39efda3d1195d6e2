"""Speed of the lab-mode diffusion model on this machine: training steps/s and sampled images/s.

Lab mode: 64x64 (or 32x32) single-channel images, U-Net base 32, channel_mults (1, 2, 2),
T = 1000 steps. Prints training steps/s at batch 16, and images/s for DDPM (all T steps) vs
DDIM (50 steps) -- the sampling-time gap Pang et al. 2025 §7.1.2 discuss.

    python benchmarks/diffusion_speed.py --size 64 --threads 2
"""

from __future__ import annotations

import argparse
import time

import torch

from medgen_nb.models.base import StepContext
from medgen_nb.models.diffusion import DiffusionModel


def _timed(fn, repeats: int) -> float:
    """Seconds per call (after one warm-up call)."""
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--samples", type=int, default=16, help="images drawn per sampler call")
    parser.add_argument("--ddpm-samples", type=int, default=2, help="images per DDPM call (slow)")
    parser.add_argument("--ddim-steps", type=int, default=50)
    parser.add_argument("--timesteps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = DiffusionModel(
        size=args.size, base_channels=32, channel_mults=(1, 2, 2), timesteps=args.timesteps
    )
    params = sum(p.numel() for p in model.network.parameters())
    print(
        f"lab model: {args.size}x{args.size}x1, {params / 1e6:.2f} M parameters, T={args.timesteps}, "
        f"torch threads={torch.get_num_threads()}"
    )

    batch = {"image": torch.rand(args.batch, 1, args.size, args.size)}
    optimizers = model.configure_optimizers()
    step = _timed(lambda: model.train_step(batch, optimizers, StepContext()), args.train_steps)
    print(
        f"training: {1 / step:.2f} steps/s at batch {args.batch} ({args.batch / step:.1f} images/s)"
    )

    model.eval()
    gen = torch.Generator().manual_seed(0)
    ddim = _timed(
        lambda: model.sample(args.samples, sampler="ddim", steps=args.ddim_steps, generator=gen), 1
    )
    print(
        f"DDIM {args.ddim_steps} steps: {args.samples / ddim:.2f} images/s ({ddim:.1f} s for {args.samples})"
    )
    # DDPM runs all T steps; one timed call (no warm-up, the DDIM call warmed the same kernels)
    start = time.perf_counter()
    model.sample(args.ddpm_samples, sampler="ddpm", generator=gen)
    ddpm = time.perf_counter() - start
    print(
        f"DDPM {args.timesteps} steps: {args.ddpm_samples / ddpm:.4f} images/s "
        f"({ddpm:.1f} s for {args.ddpm_samples})"
    )
    ratio = (args.samples / ddim) / (args.ddpm_samples / ddpm)
    print(f"DDIM/DDPM images/s ratio: {ratio:.1f}x")


if __name__ == "__main__":
    main()
