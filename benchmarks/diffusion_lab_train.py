"""Lab-mode check: does the small DDPM learn recognisable brain slices in a few CPU minutes?

Trains :class:`~medgen_nb.models.diffusion.DiffusionModel` (base 32, mults (1, 2, 2)) on axial
slices of the real ICBM152 2009a T1 template (``fetch("mni152_2009a_t1")``, skull-stripped) for a
fixed wall-clock budget, prints loss and steps/s, and saves a grid of DDIM samples next to real
slices so a person can judge them.

    python benchmarks/diffusion_lab_train.py --size 32 --minutes 5 --schedule cosine --out /tmp/ddpm_lab.png
"""

from __future__ import annotations

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from medgen_nb.data.io import load_nifti  # noqa: E402
from medgen_nb.data.sources import fetch  # noqa: E402
from medgen_nb.models.base import StepContext  # noqa: E402
from medgen_nb.models.diffusion import DiffusionModel  # noqa: E402


def brain_slices(size: int) -> torch.Tensor:
    """Axial slices with brain in them, ``(N, 1, size, size)`` in [0, 1] (uint8 template / 255)."""
    volume, _ = load_nifti(fetch("mni152_2009a_t1"))  # (X, Y, Z), 1 mm
    vol = torch.from_numpy(volume).float() / 255.0
    axial = vol.permute(2, 1, 0).flip(1)[:, None]  # (Z, 1, Y, X), anterior up
    keep = (axial > 0.1).float().mean(dim=(1, 2, 3)) > 0.15  # slices with enough brain
    return F.interpolate(axial[keep], size=(size, size), mode="area").clamp(0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--schedule", default="linear", choices=("linear", "cosine"))
    parser.add_argument("--prediction", default="epsilon", choices=("epsilon", "v"))
    parser.add_argument("--out", default="ddpm_lab_samples.png")
    parser.add_argument("--weights", default="", help="save the trained weights here (safetensors)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = brain_slices(args.size)
    model = DiffusionModel(
        size=args.size,
        base_channels=32,
        channel_mults=(1, 2, 2),
        schedule=args.schedule,
        prediction=args.prediction,
        lr=1e-3,
    )
    optimizers = model.configure_optimizers()
    print(
        f"{len(data)} real slices at {args.size}x{args.size}; torch threads={torch.get_num_threads()}"
    )

    start, step, losses = time.perf_counter(), 0, []
    while time.perf_counter() - start < 60 * args.minutes:
        idx = torch.randint(0, len(data), (args.batch,))
        image = data[idx].flip(-1) if step % 2 else data[idx]  # left-right flips
        ctx = StepContext(step=step, grad_clip=1.0)
        losses.append(model.train_step({"image": image}, optimizers, ctx)["loss"])
        step += 1
        if step % 100 == 0:
            elapsed = time.perf_counter() - start
            print(f"step {step}: loss {sum(losses[-100:]) / 100:.4f}, {step / elapsed:.2f} steps/s")
    elapsed = time.perf_counter() - start
    print(f"trained {step} steps in {elapsed:.0f} s ({step / elapsed:.2f} steps/s)")
    if args.weights:
        save_file(model.state_dict(), args.weights)

    t0 = time.perf_counter()
    samples = model.sample(16, sampler="ddim", steps=50, generator=torch.Generator().manual_seed(1))
    print(f"DDIM 50 steps: 16 samples in {time.perf_counter() - t0:.1f} s")
    fig, axes = plt.subplots(4, 8, figsize=(12, 6))
    real = data[torch.linspace(0, len(data) - 1, 16).long()]
    for i, ax in enumerate(axes.flat):
        img = samples[i] if i < 16 else real[i - 16]
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
    axes[0, 0].set_title("DDIM samples (rows 1-2)", loc="left")
    axes[2, 0].set_title("real ICBM152 slices (rows 3-4)", loc="left")
    fig.savefig(args.out, dpi=80, bbox_inches="tight")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
