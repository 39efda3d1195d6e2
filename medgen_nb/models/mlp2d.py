"""Small multilayer perceptrons for the two-dimensional intuition experiments.

:func:`mlp` builds the generators and discriminators of notebook 03's ring-of-Gaussians GANs;
:class:`TimeMLP` is the noise predictor eps_theta(x_t, t) of notebook 05's two-moons diffusion,
used with the same :class:`~medgen_nb.models.schedulers.NoiseSchedule` as the image models.
"""

from __future__ import annotations

import torch
from torch import nn

from medgen_nb.models.unet_time import sinusoidal_embedding


def mlp(in_dim: int, out_dim: int, hidden: int = 128, layers: int = 2) -> nn.Sequential:
    """``layers`` hidden ReLU layers of width ``hidden``: ``(B, in_dim) -> (B, out_dim)``."""
    if min(in_dim, out_dim, hidden, layers) < 1:
        raise ValueError(
            f"in_dim, out_dim, hidden and layers must be >= 1, got {in_dim}, {out_dim}, "
            f"{hidden}, {layers}"
        )
    blocks: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*blocks, nn.Linear(width, out_dim))


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
