"""Small multilayer perceptrons for the two-dimensional intuition experiments.

:func:`mlp` builds the generators and discriminators of notebook 03's ring-of-Gaussians GANs;
with ``copies = R`` it builds R independent networks evaluated in one batched product, so R
training runs of a design (each with its own initial weights and noise) share one loop and one
set of kernel launches (``benchmarks/bench_ring_ensemble.py``: 1.3x the steps/s of R = 3 runs
one after another on one core).

:class:`TimeMLP` is the noise predictor eps_theta(x_t, t) of notebook 05's two-moons diffusion,
used with the same :class:`~medgen_nb.models.schedulers.NoiseSchedule` as the image models.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from medgen_nb.models.unet_time import sinusoidal_embedding


class EnsembleLinear(nn.Module):
    """``copies`` independent affine maps at once: ``(R, B, in_dim) -> (R, B, out_dim)``, R = copies.

    Each copy is initialised as :class:`torch.nn.Linear` is (weight and bias uniform in
    ``+-1/sqrt(in_dim)``). A loss that sums the copies' losses gives each copy the gradient of
    its own loss, and Adam updates element by element, so R copies trained together follow the
    same algorithm as R separate runs.
    """

    def __init__(self, copies: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        if min(copies, in_dim, out_dim) < 1:
            raise ValueError(
                f"copies, in_dim and out_dim must be >= 1, got {copies}, {in_dim}, {out_dim}"
            )
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(copies, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(copies, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        copies, in_dim = self.weight.shape[:2]
        if x.ndim != 3 or x.shape[0] != copies or x.shape[2] != in_dim:
            raise ValueError(f"expected input (copies={copies}, B, {in_dim}), got {tuple(x.shape)}")
        return torch.baddbmm(self.bias, x, self.weight)  # bias + x @ W, per copy

    def extra_repr(self) -> str:
        copies, in_dim, out_dim = self.weight.shape
        return f"copies={copies}, in_dim={in_dim}, out_dim={out_dim}"


def mlp(
    in_dim: int, out_dim: int, hidden: int = 128, layers: int = 2, copies: int | None = None
) -> nn.Sequential:
    """``layers`` hidden ReLU layers of width ``hidden``: ``(B, in_dim) -> (B, out_dim)``.

    ``copies = R``: R independent networks of that shape, ``(R, B, in_dim) -> (R, B, out_dim)``
    (see :class:`EnsembleLinear`).
    """
    if min(in_dim, out_dim, hidden, layers) < 1 or (copies is not None and copies < 1):
        raise ValueError(
            f"in_dim, out_dim, hidden, layers and copies must be >= 1, got {in_dim}, "
            f"{out_dim}, {hidden}, {layers}, {copies}"
        )

    def linear(a: int, b: int) -> nn.Module:
        return nn.Linear(a, b) if copies is None else EnsembleLinear(copies, a, b)

    blocks: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        blocks += [linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*blocks, linear(width, out_dim))


class TimeMLP(nn.Module):
    """eps_theta(x_t, t) for points: ``(B, dim)`` and timesteps ``(B,)`` -> ``(B, dim)``.

    The timestep enters as a sinusoidal embedding (the image U-Net's), concatenated to the point.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3, t_dim: int = 32) -> None:
        super().__init__()
        self.t_dim = t_dim
        self.net = mlp(dim + t_dim, dim, hidden, layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or t.shape != (x.shape[0],):
            raise ValueError(
                f"expected x (B, dim) and t (B,), got {tuple(x.shape)} and {tuple(t.shape)}"
            )
        return self.net(torch.cat([x, sinusoidal_embedding(t, self.t_dim)], 1))
