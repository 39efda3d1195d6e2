"""Training speed of the translation models (Pix2Pix, CycleGAN, UNIT) at lab-mode size.

Usage: ``python benchmarks/bench_translation_models.py [--size 64] [--batch 8] [--steps 5]``.
Random tensors stand in for data: only the cost of ``train_step`` is measured. Prints steps/s
and, as a load-independent figure, the convolution multiply-accumulates (GMAC) of the forward
passes inside one step (backward costs about twice as much again).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from medgen_nb.models.base import StepContext
from medgen_nb.models.cyclegan import CycleGAN
from medgen_nb.models.pix2pix import Pix2Pix
from medgen_nb.models.unit import UNIT

MODELS = {"pix2pix": Pix2Pix, "cyclegan": CycleGAN, "unit": UNIT}


def count_forward_macs(model: nn.Module, run) -> int:
    """Multiply-accumulates of every Conv2d / ConvTranspose2d call made while ``run()`` executes."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1] // module.groups
        if isinstance(module, nn.ConvTranspose2d):
            total += inputs[0].numel() * module.out_channels * k
        else:
            total += output.numel() * module.in_channels * k

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
    ]
    run()
    for h in handles:
        h.remove()
    return total


def measure(name: str, size: int, batch: int, steps: int, device: str) -> tuple[float, float, int]:
    """(steps per second, forward GMAC per step, parameters) for the default config at ``size``."""
    torch.manual_seed(0)
    model = MODELS[name](in_channels=1, out_channels=1, size=size).to(device)
    optimizers = model.configure_optimizers()
    data = {
        "image": torch.rand(batch, 1, size, size, device=device),
        "target": torch.rand(batch, 1, size, size, device=device),
    }
    macs = count_forward_macs(model, lambda: model.train_step(data, optimizers, StepContext()))
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for step in range(steps):
        model.train_step(data, optimizers, StepContext(step=step))
    if device == "cuda":
        torch.cuda.synchronize()
    n_params = sum(p.numel() for p in model.parameters())
    return steps / (time.perf_counter() - start), macs / 1e9, n_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    args = parser.parse_args()
    print(
        f"device={args.device} threads={torch.get_num_threads()} "
        f"size={args.size} batch={args.batch} steps={args.steps}"
    )
    for name in args.models:
        rate, gmac, n_params = measure(name, args.size, args.batch, args.steps, args.device)
        print(
            f"{name:10s} {rate:7.2f} steps/s  {gmac:7.2f} forward GMAC/step  "
            f"{n_params / 1e6:.2f} M parameters"
        )


if __name__ == "__main__":
    main()
