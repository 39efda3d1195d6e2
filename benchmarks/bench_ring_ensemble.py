"""R ring-of-Gaussians GANs trained one after another vs side by side (``mlp(..., copies=R)``).

Notebook 03 trains each discriminator design R times. This times one GAN step (a D step and a G
step, non-saturating loss, Adam) of the notebook's networks (code 64, two hidden layers of 128,
batch 256) done R times with R separate network pairs, and once with one pair of R-copy
ensembles, and prints steps/s of R runs for both and their ratio.

    python benchmarks/bench_ring_ensemble.py                  # R = 3, 2 threads
    python benchmarks/bench_ring_ensemble.py --runs 1 3 6 --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch

from medgen_nb.data.points2d import ring_of_gaussians
from medgen_nb.models.gan_losses import nonsaturating_d_loss, nonsaturating_g_loss
from medgen_nb.models.mlp2d import mlp

Z_DIM, BATCH = 64, 256


def gan_step(G, D, opt_g, opt_d, shape, g):
    """One D step and one G step; ``shape`` is ``(B,)`` or ``(R, B)``."""
    real = ring_of_gaussians(int(torch.tensor(shape).prod()), generator=g)[0].reshape(*shape, 2)
    scale = shape[0] if len(shape) == 2 else 1  # R x the mean: the sum of the runs' losses
    loss_d = scale * nonsaturating_d_loss(
        D(real), D(G(torch.randn(*shape, Z_DIM, generator=g)).detach())
    )
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = scale * nonsaturating_g_loss(D(G(torch.randn(*shape, Z_DIM, generator=g))))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()


def pair(copies):
    G, D = mlp(Z_DIM, 2, copies=copies), mlp(2, 1, copies=copies)
    adam = dict(lr=1e-3, betas=(0.5, 0.999))
    return G, D, torch.optim.Adam(G.parameters(), **adam), torch.optim.Adam(D.parameters(), **adam)


def steps_per_s(runs: int, together: bool, seconds: float) -> float:
    g = torch.Generator().manual_seed(0)
    if together:
        nets = [pair(runs)]
        shape = (runs, BATCH)
    else:
        nets = [pair(None) for _ in range(runs)]
        shape = (BATCH,)
    for G, D, og, od in nets:  # warm-up
        gan_step(G, D, og, od, shape, g)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for G, D, og, od in nets:
            gan_step(G, D, og, od, shape, g)
        done += 1
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[3])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{torch.get_num_threads()} threads; steps/s of R runs together (one step of each run)")
    print(f"{'R':>3} {'one by one':>11} {'side by side':>13} {'ratio':>6}")
    for runs in args.runs:
        apart = steps_per_s(runs, False, args.seconds)
        together = steps_per_s(runs, True, args.seconds)
        print(f"{runs:>3} {apart:11.1f} {together:13.1f} {together / apart:6.2f}")


if __name__ == "__main__":
    main()
