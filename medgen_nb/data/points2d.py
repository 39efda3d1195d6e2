"""Two-dimensional point sets for intuition experiments: a ring of Gaussians and two moons.

They are not images: they let a learner *see* a whole distribution and a whole model at once,
which no 1024-dimensional slice allows. Notebook 03 trains GANs on the ring (mode collapse is a
count of the modes a generator reaches); notebook 05 runs a diffusion model on the moons and
plots every reverse trajectory.
"""

from __future__ import annotations

import math

import torch


def ring_centres(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """``(modes, 2)`` centres spaced evenly on a circle of ``radius``, the first at angle 0."""
    if modes < 1 or radius <= 0:
        raise ValueError(f"need modes >= 1 and radius > 0, got {modes} and {radius}")
    angle = 2 * math.pi * torch.arange(modes) / modes
    return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], 1)


def ring_of_gaussians(
    n: int,
    *,
    modes: int = 8,
    radius: float = 2.0,
    std: float = 0.02,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points of an equal mixture of isotropic Gaussians on a ring.

    Returns ``(points (n, 2), mode (n,))``: each point and the index of the Gaussian it came from.
    The benchmark of Metz et al. (2017) and Srivastava et al. (2017) uses 8 modes, radius 2 and
    standard deviation 0.02.
    """
    if n < 1 or std <= 0:
        raise ValueError(f"need n >= 1 and std > 0, got {n} and {std}")
    mode = torch.randint(0, modes, (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator)
    return ring_centres(modes, radius)[mode] + std * noise, mode


def two_moons(
    n: int, *, noise: float = 0.05, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points of two interleaved half circles, centred and scaled to about unit spread.

    Returns ``(points (n, 2), moon (n,))`` with ``moon`` 0 for the upper and 1 for the lower arc.
    """
    if n < 1 or noise < 0:
        raise ValueError(f"need n >= 1 and noise >= 0, got {n} and {noise}")
    moon = torch.randint(0, 2, (n,), generator=generator)
    angle = math.pi * torch.rand(n, generator=generator)
    upper = torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    lower = torch.stack([1 - torch.cos(angle), 0.5 - torch.sin(angle)], 1)
    points = torch.where(moon[:, None] == 0, upper, lower)
    points = points + noise * torch.randn(n, 2, generator=generator)
    # centre (the union spans x in [-1, 2], y in [-0.5, 1]) and scale to about unit spread
    return (points - torch.tensor([0.5, 0.25])) / 0.75, moon
