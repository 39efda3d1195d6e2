"""CT physics shared by every CT-based simulator: HU <-> attenuation, CT noise, and CBCT artefacts.

Hounsfield units are defined by ``HU = 1000 (mu - mu_water) / (mu_water - mu_air)``; with
``mu_air ~ 0`` this inverts to ``mu = mu_water (1 + HU / 1000)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from medgen_nb.data.checks import check_count

# Linear attenuation coefficient of water at ~70 keV effective energy, in 1/mm
# (NIST XCOM: mu/rho = 0.193 cm^2/g at 70 keV, rho = 1 g/cm^3 -> 0.0193 /mm).
MU_WATER_PER_MM = 0.0193
AIR_HU = -1000.0


def hu_to_mu(hu: torch.Tensor, mu_water: float = MU_WATER_PER_MM) -> torch.Tensor:
    """Hounsfield units -> linear attenuation in 1/mm (air and below clipped to 0)."""
    return (mu_water * (1.0 + hu / 1000.0)).clamp_min(0.0)


def mu_to_hu(mu: torch.Tensor, mu_water: float = MU_WATER_PER_MM) -> torch.Tensor:
    """Linear attenuation in 1/mm -> Hounsfield units."""
    return 1000.0 * (mu / mu_water - 1.0)


def add_ct_noise(
    hu: torch.Tensor, sigma_hu: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Add zero-mean Gaussian noise of ``sigma_hu`` HU (quantum noise after reconstruction)."""
    if sigma_hu < 0:
        raise ValueError(f"sigma_hu must be >= 0, got {sigma_hu}")
    noise = torch.randn(hu.shape, generator=generator, dtype=hu.dtype) * sigma_hu
    return hu + noise.to(hu.device)


@dataclass(frozen=True)
class CBCTArtefacts:
    """Strength of the CBCT degradations applied to a CT (all in HU unless stated).

    Attributes:
        noise_hu: Gaussian noise; CBCT is noisier than diagnostic CT (~10 HU).
        shading_hu: low-frequency scatter shading that grows towards the edge of the field of view.
        cupping_hu: beam-hardening cupping, darkening the centre.
        streak_hu: amplitude of radial streaks, growing with radius.
        n_streaks: number of streak directions.
        gain_range, offset_range_hu: HU miscalibration ``HU' = gain * HU + offset`` (drawn per subject).
        fov_fraction: radius of the reconstructed field of view as a fraction of half the image width;
            outside it the CBCT holds air.
    """

    noise_hu: float = 30.0
    shading_hu: float = 120.0
    cupping_hu: float = 40.0
    streak_hu: float = 60.0
    n_streaks: int = 12
    gain_range: tuple[float, float] = (0.92, 1.08)
    offset_range_hu: tuple[float, float] = (-60.0, 60.0)
    fov_fraction: float = 0.9

    def __post_init__(self) -> None:
        # Checked here, when a config is made, not deep inside a simulation.
        for name in ("noise_hu", "shading_hu", "streak_hu"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not math.isfinite(self.cupping_hu):
            raise ValueError(f"cupping_hu must be a finite number, got {self.cupping_hu!r}")
        check_count(self.n_streaks, "n_streaks", minimum=0)
        lo, hi = self.gain_range
        if not 0 < lo <= hi:
            raise ValueError(
                f"gain_range must be (lo, hi) with 0 < lo <= hi, got {self.gain_range}"
            )
        lo, hi = self.offset_range_hu
        if not lo <= hi:
            raise ValueError(f"offset_range_hu must be (lo, hi) with lo <= hi, got {lo, hi}")
        if not 0.1 <= self.fov_fraction <= 1.5:
            raise ValueError(f"fov_fraction must lie in [0.1, 1.5], got {self.fov_fraction}")


def simulate_cbct(
    ct_hu: torch.Tensor,
    generator: torch.Generator | None = None,
    artefacts: CBCTArtefacts = CBCTArtefacts(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Degrade CT slices into CBCT-like slices.

    Args:
        ct_hu: ``(..., H, W)`` CT in HU; leading dimensions are axial slices of one subject, which
            share one miscalibration, one shading pattern and one field of view.
        generator: for reproducible artefacts.
        artefacts: strengths.

    Returns:
        ``(cbct_hu, fov_mask)``: the CBCT in HU with the same shape, and the ``(H, W)`` bool field of view.
    """
    if ct_hu.ndim < 2:
        raise ValueError(f"ct_hu must have shape (..., H, W), got {tuple(ct_hu.shape)}")
    h, w = ct_hu.shape[-2:]
    g = generator

    def uniform(lo: float, hi: float) -> float:
        return float(lo + (hi - lo) * torch.rand((), generator=g))

    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    r = torch.sqrt(xx**2 + yy**2)
    theta = torch.atan2(yy, xx)
    fov = r <= artefacts.fov_fraction

    # Scatter shading: a smooth random field weighted by r^2, so errors grow towards the periphery.
    coarse = torch.randn((1, 1, 4, 4), generator=g)
    smooth = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)[0, 0]
    shading = artefacts.shading_hu * smooth * r**2
    # Beam-hardening cupping: the centre reads low.
    cupping = -artefacts.cupping_hu * (1.0 - r.clamp(max=1.0) ** 2)
    # Streaks: a few random directions, amplitude growing linearly with radius.
    phases = torch.rand(artefacts.n_streaks, generator=g) * torch.pi
    streak_field = torch.zeros_like(r)
    for phase in phases:
        streak_field += torch.cos(theta - phase).abs() ** 40
    streaks = artefacts.streak_hu * streak_field * r * torch.sign(torch.randn((), generator=g))

    gain = uniform(*artefacts.gain_range)
    offset = uniform(*artefacts.offset_range_hu)
    ct = ct_hu.float()
    cbct = gain * ct + offset + shading + cupping + streaks
    cbct = add_ct_noise(cbct, artefacts.noise_hu, g)
    cbct = torch.where(fov.to(ct.device), cbct, torch.full_like(cbct, AIR_HU))
    return cbct.clamp(-1024.0, 3071.0), fov
