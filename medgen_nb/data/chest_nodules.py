"""Synthetic lung nodules for detection data: soft-edged spheres of chosen size and density.

Solid nodules read about -100..+100 HU and ground-glass ones about -700..-300 HU; screening
reports them from ~4 mm diameter (Lung-RADS). A nodule is placed where the lung is at least its
radius deep, so it sits inside the parenchyma. Everything here is simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from medgen_nb.data.checks import check_count
from medgen_nb.data.chest_base import ORGAN_GROUPS


@dataclass(frozen=True)
class NoduleConfig:
    """Attributes:
    min_count, max_count: nodules per subject, drawn uniformly in [min_count, max_count].
    radius_mm: range of radii (mm). hu_range: range of densities (HU), ground glass to solid.
    edge_mm: width of the soft edge (partial volume).
    """

    min_count: int = 0
    max_count: int = 3
    radius_mm: tuple[float, float] = (3.0, 10.0)
    hu_range: tuple[float, float] = (-500.0, 60.0)
    edge_mm: float = 1.0

    def __post_init__(self) -> None:
        check_count(self.min_count, "min_count", minimum=0)
        check_count(self.max_count, "max_count", minimum=0)
        if not 0 <= self.min_count <= self.max_count:
            raise ValueError(
                f"need 0 <= min_count <= max_count, got {self.min_count}, {self.max_count}"
            )
        if not 0 < self.radius_mm[0] <= self.radius_mm[1]:
            raise ValueError(f"radius_mm must be (lo, hi) with 0 < lo <= hi, got {self.radius_mm}")
        if not self.hu_range[0] <= self.hu_range[1]:
            raise ValueError(f"hu_range must be (lo, hi) with lo <= hi, got {self.hu_range}")
        if not self.edge_mm >= 0:
            raise ValueError(f"edge_mm must be >= 0, got {self.edge_mm!r}")


def insert_nodules(
    hu: torch.Tensor,
    organs: torch.Tensor,
    spacing_mm: tuple[float, float, float],
    cfg: NoduleConfig,
    g: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """Blend nodules into the lungs of a ``(X, Y, Z)`` HU volume.

    Returns:
        ``(hu, nodules, meta)``: the new HU volume, a ``(X, Y, Z)`` uint8 instance map (1..K) and
        one dict per nodule: ``center_vox``, ``center_mm``, ``radius_mm``, ``hu``, ``box_vox``
        (``[x0, y0, z0, x1, y1, z1]``, end exclusive).
    """
    nodules = torch.zeros(hu.shape, dtype=torch.uint8)
    count = int(torch.randint(cfg.min_count, cfg.max_count + 1, (), generator=g))
    lungs = (organs == ORGAN_GROUPS["lungs"]).numpy()
    if count == 0 or not lungs.any():
        return hu, nodules, []
    # Depth inside the lungs, computed in their bounding box plus one voxel of background: every
    # lung voxel's nearest background voxel is then inside the box, so the result is exact.
    lung_voxels = np.argwhere(lungs)
    lo = np.maximum(lung_voxels.min(0) - 1, 0)
    hi = np.minimum(lung_voxels.max(0) + 2, lungs.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    depth_mm = np.zeros(lungs.shape)
    depth_mm[box] = ndimage.distance_transform_edt(np.pad(lungs[box], 1), sampling=spacing_mm)[
        1:-1, 1:-1, 1:-1
    ]
    hu = hu.clone()
    sp = torch.tensor(spacing_mm)
    meta = []
    for k in range(1, count + 1):
        radius = float(
            cfg.radius_mm[0] + (cfg.radius_mm[1] - cfg.radius_mm[0]) * torch.rand((), generator=g)
        )
        density = float(
            cfg.hu_range[0] + (cfg.hu_range[1] - cfg.hu_range[0]) * torch.rand((), generator=g)
        )
        candidates = np.argwhere((depth_mm >= radius + cfg.edge_mm) & (nodules.numpy() == 0))
        if len(candidates) == 0:
            break
        centre = candidates[int(torch.randint(len(candidates), (), generator=g))]
        reach = np.ceil((radius + 2 * cfg.edge_mm) / np.array(spacing_mm)).astype(int)
        lo = np.maximum(centre - reach, 0)
        hi = np.minimum(centre + reach + 1, hu.shape)
        axes = [
            (torch.arange(a, b) - c) * s for a, b, c, s in zip(lo, hi, centre, sp, strict=False)
        ]
        xx, yy, zz = torch.meshgrid(*axes, indexing="ij")
        dist = torch.sqrt(xx**2 + yy**2 + zz**2)
        weight = ((radius - dist) / cfg.edge_mm + 0.5).clamp(0, 1)  # 0.5 at the surface
        box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
        hu[box] = hu[box] * (1 - weight) + density * weight
        inside = weight >= 0.5
        nodules[box][inside] = k
        where = np.argwhere(inside.numpy()) + lo
        meta.append(
            {
                "center_vox": [int(c) for c in centre],
                "center_mm": [
                    float((c - (n - 1) / 2) * s)
                    for c, n, s in zip(centre, hu.shape, spacing_mm, strict=False)
                ],
                "radius_mm": radius,
                "hu": density,
                "box_vox": [int(v) for v in (*where.min(0), *(where.max(0) + 1))],
            }
        )
    return hu, nodules, meta
