"""Training throughput of the package's diffusion U-Net against MONAI's DiffusionModelUNet.

Both networks are built at the same parameter count: MONAI's with ``channels=(32, 64, 64)``,
one residual block per level, attention only in its middle block and 8 groups per GroupNorm has
exactly the layout of :class:`medgen_nb.models.unet_time.TimeUNet` with ``base_channels=32,
channel_mults=(1, 2, 2)`` (1,062,497 parameters each; checked below). One training step is
what DDPM training does: draw t and noise, predict the noise, MSE, backward, Adam.

Rounds alternate between the two networks so both see the same background load; the best
round of each counts. Prints images/s and the ratio ours / MONAI (> 1: ours faster), in fp32
and in bf16 autocast, at 32² and 64².

    pip install -e ".[bench]"          # MONAI and einops: an optional extra, never a core dependency
    python benchmarks/bench_vs_monai.py                      # CPU, 2 threads
    python benchmarks/bench_vs_monai.py --device cuda --batch 64
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from medgen_nb.models.unet_time import TimeUNet

T = 1000  # diffusion steps the timesteps are drawn from


def networks() -> dict[str, torch.nn.Module]:
    try:
        from monai.networks.nets import DiffusionModelUNet
    except ImportError as err:  # pragma: no cover - depends on the optional extra
        raise SystemExit(
            f"MONAI is not installed ({err}); pip install -e '.[bench]' (MONAI and einops)"
        ) from None
    ours = TimeUNet(in_channels=1, base_channels=32, channel_mults=(1, 2, 2), num_res_blocks=1)
    monai = DiffusionModelUNet(
        spatial_dims=2, in_channels=1, out_channels=1, num_res_blocks=1, channels=(32, 64, 64),
        attention_levels=(False, False, False), norm_num_groups=8, num_head_channels=64,
    )  # fmt: skip
    counts = {name: sum(p.numel() for p in net.parameters()) for name, net in
              (("ours", ours), ("monai", monai))}  # fmt: skip
    if abs(counts["ours"] - counts["monai"]) > 0.01 * counts["ours"]:
        raise SystemExit(f"parameter counts differ by more than 1 %: {counts}")
    return {"ours": ours, "monai": monai}


def train_step(
    name: str, net: torch.nn.Module, size: int, batch: int, device: torch.device, bf16: bool
) -> Callable[[], None]:
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    g = torch.Generator(device=device).manual_seed(0)
    x0 = torch.rand(batch, 1, size, size, generator=g, device=device) * 2 - 1

    def step() -> None:
        t = torch.randint(0, T, (batch,), generator=g, device=device)
        noise = torch.randn(x0.shape, generator=g, device=device)
        x_t = 0.7 * x0 + 0.7 * noise  # the mixing weights do not change the cost
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            pred = net(x_t, t) if name == "ours" else net(x_t, timesteps=t)
            loss = F.mse_loss(pred.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def rate(step: Callable[[], None], seconds: float, device: torch.device) -> float:
    """Steps per second over about ``seconds`` (after one warm-up step)."""
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--seconds", type=float, default=4.0, help="per round and network")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    nets = networks()
    n_params = sum(p.numel() for p in nets["ours"].parameters())
    print(
        f"== diffusion U-Net training, {n_params:,} parameters each, batch {args.batch}, "
        f"{device}{'' if device.type == 'cuda' else f', {torch.get_num_threads()} threads'} =="
    )
    print(
        f"{'size':>5s} {'precision':>9s} {'ours img/s':>11s} {'MONAI img/s':>12s} {'ours/MONAI':>11s}"
    )
    for size in args.sizes:
        for bf16 in (False, True):
            steps = {
                n: train_step(n, net, size, args.batch, device, bf16) for n, net in nets.items()
            }
            best = dict.fromkeys(steps, 0.0)
            for _ in range(args.repeats):  # interleaved rounds
                for name, step in steps.items():
                    best[name] = max(best[name], rate(step, args.seconds, device))
            ours, monai = (best[k] * args.batch for k in ("ours", "monai"))
            print(
                f"{size:>4d}² {'bf16' if bf16 else 'fp32':>9s} {ours:11.1f} {monai:12.1f} "
                f"{ours / monai:11.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
