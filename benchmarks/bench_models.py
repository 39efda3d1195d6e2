"""Speed of every registered model at its lab-mode size (64x64, 1 channel; 3-D models 32³
patches) on a small CPU.

Prints, per model: training steps/s and sampling images/s; the model-FLOP utilisation (MFU) of
each family's training step; then the bf16-autocast / fp32 training-speed ratio on CPU (what
``fit(precision="auto")`` relies on) and, when a diffusion model is registered, the DDIM-vs-DDPM
sampling speed ratio.

MFU = (FLOPs of one training step x steps/s) / peak FLOP/s of this machine. The FLOPs come from
``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions, forward and backward, a
multiply-add counted as 2); the peak is *measured* here, as the best of a large fp32 matmul and a
3x3 convolution, so the figure says how much of what this machine can do a step uses.

    python benchmarks/bench_models.py                 # all models, 2 threads
    python benchmarks/bench_models.py --models dcgan vae --seconds 5 --threads 2
    python benchmarks/bench_models.py --channels-last --compile --skip-bf16 --skip-mfu

``--channels-last`` adds the training-speed ratio of the channels-last memory layout
(``fit(channels_last=True)``) to the default one, which decides ``fit``'s automatic choice;
``--compile`` the ratio of ``torch.compile``'d training (``fit(torch_compile=True)``) to eager.

Timings take the best of ``--repeats`` rounds (the minimum is the least disturbed by other work
on a shared machine). Diffusion sampling in the throughput table uses DDIM with 50 steps (what
lab mode uses); the DDIM-vs-DDPM ratio times one full T-step DDPM chain against one 50-step DDIM
chain at 32x32, since a full 1000-step chain at 64x64 takes minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import inspect
import time
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from medgen_nb.compiling import CompiledStep
from medgen_nb.models import available, create, registry
from medgen_nb.models.base import StepContext
from medgen_nb.train import to_channels_last

SIZE, CHANNELS = 64, 1
DEVICE = torch.device("cpu")  # --device

# Lab mode: what a 2-core laptop / Binder can train meaningfully in a few minutes at 64x64.
# Spectral-norm discriminators at lr 5e-4: on a simulated two-mode 64x64 set DCGAN reached both
# modes (median nearest-mode MSE 0.006) in 200 steps, while the batch-norm D at lr 2e-4 had
# overpowered G and not moved it after 300 steps.
_SN_GAN = dict(in_channels=1, size=64, latent_dim=64, base_channels=32, spectral_norm=True, lr=5e-4)
LAB_CONFIGS: dict[str, dict] = {
    "vae": dict(in_channels=1, size=64, latent_dim=32, base_channels=32),
    "cvae": dict(in_channels=1, size=64, latent_dim=32, base_channels=32, num_classes=2),
    "gan": dict(in_channels=1, size=64, latent_dim=64, base_channels=16),
    "dcgan": dict(_SN_GAN),
    "cgan": dict(_SN_GAN, num_classes=2),
    "acgan": dict(_SN_GAN, num_classes=2),
    "infogan": dict(_SN_GAN, latent_dim=62, categorical_dim=4, continuous_dim=2),
    "wgan_gp": dict(in_channels=1, size=64, latent_dim=64, base_channels=32, n_critic=2),
    "pix2pix": dict(in_channels=1, out_channels=1, size=64),
    "cyclegan": dict(in_channels=1, out_channels=1, size=64),
    "unit": dict(in_channels=1, out_channels=1, size=64),
    "ddpm": dict(in_channels=1, size=64, base_channels=32, channel_mults=(1, 2, 2)),
    # the lab recipe of the 3-D task (python -m medgen_nb.train_cli --task brain_t1w_to_t2w_3d)
    "pix2pix3d": dict(in_channels=1, out_channels=1, size=32, depth=4),
    "cyclegan3d": dict(in_channels=1, out_channels=1, size=32),
    "ddpm3d": dict(in_channels=1, size=32, cond_channels=1),  # T1w -> T2w patches
    "vae3d": dict(in_channels=1, size=32),  # whole 32³ volumes
}
# Models whose lab inputs are not 64x64 images: 3-D models train on 32³ patches.
SPATIAL: dict[str, tuple[int, ...]] = {
    name: (32, 32, 32) for name in ("pix2pix3d", "cyclegan3d", "ddpm3d", "vae3d")
}
DDIM_STEPS = 50
LAB_BATCH = 16


def _batch(n: int, name: str = "") -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    spatial = SPATIAL.get(name, (SIZE, SIZE))
    batch = {
        "image": torch.rand(n, CHANNELS, *spatial, generator=g),
        "target": torch.rand(n, CHANNELS, *spatial, generator=g),
        "label": torch.randint(0, 2, (n,), generator=g),
    }
    return {k: v.to(DEVICE) for k, v in batch.items()}


class _CountFlops(TorchDispatchMode):
    """FLOPs of the aten ops torch.utils.flop_counter knows (matmuls, convolutions, attention).

    FlopCounterMode itself also tracks modules with backward hooks, which autograd.grad with
    create_graph (WGAN-GP's gradient penalty) rejects; counting at the dispatcher needs no hooks
    and uses the same per-op formulas.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **(kwargs or {}), out_val=out)
        return out


def step_flops(model, batch) -> int:
    """FLOPs (multiply-add = 2) of one ``train_step``: forward, backward; optimiser steps add none."""
    model.train()
    opts = model.configure_optimizers()
    with _CountFlops() as counter:
        model.train_step(batch, opts, StepContext(step=0))
    return counter.total


def measured_peak_flops(seconds: float = 1.0) -> dict[str, float]:
    """FLOP/s of a 2048^2 fp32 matmul and of a 64->64-channel 3x3 convolution (batch 16, 64^2).

    These are the ops that dominate the models' steps, at sizes where the library reaches its
    best throughput, so their best rate stands for this machine's attainable peak.
    """
    n = 2048
    a, b = torch.randn(n, n, device=DEVICE), torch.randn(n, n, device=DEVICE)
    x, w = torch.randn(16, 64, 64, 64, device=DEVICE), torch.randn(64, 64, 3, 3, device=DEVICE)
    conv_flops = 2 * x.shape[0] * w.shape[0] * w.shape[1] * 9 * 64 * 64
    with torch.no_grad():
        matmul = best_rate(lambda: torch.mm(a, b), 2 * n**3, seconds, 3)
        conv = best_rate(
            lambda: torch.nn.functional.conv2d(x, w, padding=1), conv_flops, seconds, 3
        )
    return {"matmul": matmul, "conv": conv}


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def best_rate(fn: Callable[[], None], work: int, seconds: float, repeats: int) -> float:
    """Best-of-``repeats`` items per second of ``fn`` (each round runs >= ``seconds`` / repeats)."""
    fn()  # warm-up (allocations, oneDNN kernel selection)
    best = 0.0
    for _ in range(repeats):
        _sync()
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            _sync()  # CUDA launches are asynchronous: time the work, not the queueing
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds / repeats and n >= 2:
                break
        best = max(best, n * work / elapsed)
    return best


def _build(name: str, **overrides):
    if name not in LAB_CONFIGS:
        raise SystemExit(f"no lab config for {name!r}: add one to LAB_CONFIGS in {__file__}")
    return create(name, **{**LAB_CONFIGS[name], **overrides}).to(DEVICE)


def _train_fn(model, batch, precision: str = "fp32") -> Callable[[], None]:
    model.train()
    opts = model.configure_optimizers()
    state = {"step": 0}
    dtype = torch.bfloat16 if precision == "bf16" else None

    def step() -> None:
        with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=dtype is not None):
            model.train_step(batch, opts, StepContext(step=state["step"]))
        state["step"] += 1

    return step


def _sample_fn(name: str, model, n: int) -> Callable[[], None] | None:
    labels = (
        (torch.arange(n, device=DEVICE) % 2)
        if LAB_CONFIGS.get(name, {}).get("num_classes")
        else None
    )
    if getattr(model, "config", {}).get("cond_channels"):  # conditional diffusion translates
        x = _batch(n, name)["image"]
        return lambda: model.translate(x, steps=DDIM_STEPS)
    if hasattr(model, "sample"):
        params = inspect.signature(model.sample).parameters
        if "sampler" in params:  # diffusion: the lab-mode sampler
            return lambda: model.sample(n, sampler="ddim", steps=DDIM_STEPS)
        if "labels" in params:
            return lambda: model.sample(n, labels=labels)
        return lambda: model.sample(n)
    if hasattr(model, "translate"):
        x = _batch(n, name)["image"]
        return lambda: model.translate(x)
    return None


def bench_all(names: list[str], seconds: float, repeats: int) -> None:
    print(
        f"\n== lab mode: {SIZE}x{SIZE}x{CHANNELS} (3-D models: 32³ patches), batch {LAB_BATCH}, "
        f"{torch.get_num_threads()} threads =="
    )
    print(
        f"{'model':10s} {'params':>9s} {'train steps/s':>14s} {'img/s trained':>14s} {'sample img/s':>13s}"
    )
    for name in names:
        batch = _batch(LAB_BATCH, name)
        torch.manual_seed(0)
        model = _build(name)
        n_params = sum(p.numel() for p in model.parameters())
        train = best_rate(_train_fn(model, batch), 1, seconds, repeats)
        model.eval()
        sample = _sample_fn(name, model, LAB_BATCH)
        with torch.no_grad():
            s_rate = best_rate(sample, LAB_BATCH, seconds, repeats) if sample else float("nan")
        print(
            f"{name:10s} {n_params:9d} {train:14.2f} {train * LAB_BATCH:14.1f} {s_rate:13.1f}",
            flush=True,
        )


def bench_mfu(names: list[str], seconds: float, repeats: int) -> None:
    """Model-FLOP utilisation of each family's lab-mode training step (fp32)."""
    peaks = measured_peak_flops(seconds / 2)
    peak = max(peaks.values())
    print(
        f"\n== model-FLOP utilisation, fp32 training, batch {LAB_BATCH} at {SIZE}x{SIZE} (3-D: 32³): "
        f"measured "
        f"peak {peaks['matmul'] / 1e9:.0f} GFLOP/s (matmul 2048^2), {peaks['conv'] / 1e9:.0f} "
        f"GFLOP/s (conv 3x3, 64 ch); MFU against the larger =="
    )
    print(f"{'model':10s} {'GFLOP/step':>11s} {'steps/s':>8s} {'GFLOP/s':>8s} {'MFU':>6s}")
    for name in names:
        batch = _batch(LAB_BATCH, name)
        torch.manual_seed(0)
        flops = step_flops(_build(name), batch)
        torch.manual_seed(0)
        rate = best_rate(_train_fn(_build(name), batch), 1, seconds, repeats)
        achieved = flops * rate
        print(
            f"{name:10s} {flops / 1e9:11.3f} {rate:8.2f} {achieved / 1e9:8.1f} "
            f"{achieved / peak:6.1%}",
            flush=True,
        )


def interleaved_rates(
    fns: dict[str, Callable[[], None]], seconds: float, repeats: int
) -> dict[str, float]:
    """Best steps/s of each function over ``repeats`` rounds that alternate between them, so
    every variant sees the same background load."""
    rates = dict.fromkeys(fns, 0.0)
    for _ in range(repeats):
        for key, fn in fns.items():
            rates[key] = max(rates[key], best_rate(fn, 1, seconds / repeats, 1))
    return rates


def bench_bf16(names: list[str], seconds: float, repeats: int) -> None:
    """Interleaved fp32 / bf16 rounds (so both see the same background load); best of each."""
    print("\n== CPU training speed: bf16 autocast vs fp32 (ratio > 1: bf16 faster) ==")
    for name in names:
        batch = _batch(LAB_BATCH, name)
        steps = {}
        for precision in ("fp32", "bf16"):
            torch.manual_seed(0)
            steps[precision] = _train_fn(_build(name), batch, precision)
        rates = interleaved_rates(steps, seconds, repeats)
        print(
            f"{name:10s} fp32 {rates['fp32']:6.2f} steps/s  bf16 {rates['bf16']:6.2f} steps/s  "
            f"ratio {rates['bf16'] / rates['fp32']:.2f}",
            flush=True,
        )


def _channels_last(model, batch):
    fmt = to_channels_last(model)
    return {k: v.contiguous(memory_format=fmt) if v.ndim >= 4 else v for k, v in batch.items()}


def _compiled(model, batch):
    step = CompiledStep(model, {}, True)  # compiles the networks in place, as fit does
    assert step.compiled, "torch.compile is not available here"
    return batch


def bench_variant(names: list[str], seconds: float, repeats: int, variant: str) -> None:
    """Training speed of a variant of the step (``"channels_last"``: the layout that
    ``fit(channels_last=True)`` sets up; ``"compile"``: ``fit(torch_compile=True)``) against the
    default one, in interleaved rounds, best of each; bf16 on CUDA, fp32 on the CPU. The
    compile time is paid in a warm-up and reported apart."""
    prepare = {"channels_last": _channels_last, "compile": _compiled}[variant]
    precision = "bf16" if DEVICE.type == "cuda" else "fp32"
    print(f"\n== {variant} vs default training, {precision} (ratio > 1: {variant} faster) ==")
    for name in names:
        fns, warm_up = {}, 0.0
        for kind in ("default", variant):
            torch.manual_seed(0)
            model, batch = _build(name), _batch(LAB_BATCH, name)
            if kind == variant:
                batch = prepare(model, batch)
            fns[kind] = _train_fn(model, batch, precision)
            t0 = time.perf_counter()
            fns[kind]()  # the first step: a compile happens here
            _sync()
            warm_up = time.perf_counter() - t0
        rates = interleaved_rates(fns, seconds, repeats)
        print(
            f"{name:10s} default {rates['default']:6.2f} steps/s  {variant} {rates[variant]:6.2f} "
            f"steps/s  ratio {rates[variant] / rates['default']:.2f}  (first step {warm_up:.1f} s)",
            flush=True,
        )


def bench_ddim_vs_ddpm(names: list[str]) -> None:
    """Wall time of one full DDPM chain (T steps) vs one DDIM chain (50 steps), 32x32, one image."""
    for name in names:
        sample = getattr(registry()[name], "sample", None)
        if sample is None or "sampler" not in inspect.signature(sample).parameters:
            continue
        if LAB_CONFIGS.get(name, {}).get("cond_channels"):
            continue  # a translator: its sampling speed is in the table above
        model = _build(name, size=32).eval()
        timesteps = model.config["timesteps"]
        with torch.no_grad():
            model.sample(1, sampler="ddim", steps=5)  # warm-up
            t0 = time.perf_counter()
            model.sample(1, sampler="ddim", steps=DDIM_STEPS)
            ddim = time.perf_counter() - t0
            t0 = time.perf_counter()
            model.sample(1, sampler="ddpm")
            ddpm = time.perf_counter() - t0
        print(
            f"\n== {name} at 32x32: DDPM ({timesteps} steps) {ddpm:.1f} s/image, DDIM ({DDIM_STEPS} steps) "
            f"{ddim:.2f} s/image, DDIM/DDPM speed ratio {ddpm / ddim:.1f} =="
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None, help="model names (default: all)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--seconds", type=float, default=6.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the best one counts")
    parser.add_argument("--skip-bf16", action="store_true", help="skip the bf16/fp32 comparison")
    parser.add_argument("--skip-mfu", action="store_true", help="skip model-FLOP utilisation")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the GPU check)")
    parser.add_argument(
        "--channels-last", action="store_true", help="also compare the channels-last layout"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also compare torch.compile'd training"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global DEVICE
    DEVICE = torch.device(args.device)

    registered = available()
    names = args.models or registered
    unknown = sorted(set(names) - set(registered))
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {registered}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {DEVICE}")
    bench_all(names, args.seconds, args.repeats)
    if not args.skip_mfu:
        bench_mfu(names, args.seconds, args.repeats)
    if not args.skip_bf16:
        bench_bf16(names, args.seconds, args.repeats)
    for variant, wanted in (("channels_last", args.channels_last), ("compile", args.compile)):
        if wanted:
            bench_variant(names, args.seconds, args.repeats, variant)
    bench_ddim_vs_ddpm(names)


if __name__ == "__main__":
    main()
