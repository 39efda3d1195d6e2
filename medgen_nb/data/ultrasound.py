"""Simulated B-mode ultrasound (US-like) images from CT slices and tissue labels.

The review counts CT -> US among its translation tasks (Pang et al. 2025, translation table); real
paired CT/US data are rare, so this module makes a US-like image from a CT slice with a ray model
along the scan lines of a sector (phased-array) probe:

1. Each pixel gets an acoustic impedance ``Z = rho c`` (MRayl) from HU (density ``1 + HU/1000``
   g/cm^3; sound speed 343 m/s in air, 1540 in soft tissue, ~3500 in bone), an attenuation
   coefficient ``alpha`` (dB/cm/MHz: ~0.5 soft tissue, 0.2 blood, ~20 bone, ~40 lung) and a
   backscatter strength (echogenicity) from its tissue class.
2. Along each scan line, interfaces reflect ``R = ((Z2 - Z1) / (Z2 + Z1))^2`` of the intensity;
   what lies beyond is reached only by the transmitted fraction ``prod(1 - R)`` - the acoustic
   shadow behind bone and air - and by ``10^(-2 alpha f z / 20)`` in amplitude (two-way
   attenuation; ``f`` in MHz, ``z`` in cm). A time-gain compensation can give back part of it.
3. Fully developed speckle multiplies the echo by a Rayleigh-distributed factor (the magnitude of a
   complex Gaussian, mean 1).
4. The envelope is log-compressed to a ``dynamic_range_db`` window and scan-converted into the fan;
   pixels outside the fan are 0.

Images are in [0, 1] ("us" in :mod:`medgen_nb.data.intensity`). This is a teaching simulator, not
a wave solver (no diffraction, no reverberation); everything it makes is *simulated*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from medgen_nb.data.checks import check_count

# Attenuation coefficients, dB / (cm MHz) (Szabo, Diagnostic Ultrasound Imaging, 2nd ed., tables).
ALPHA_SOFT = 0.54
ALPHA_BLOOD = 0.18
ALPHA_BONE = 20.0
ALPHA_LUNG = 40.0


@dataclass(frozen=True)
class UltrasoundConfig:
    """Probe and image settings.

    Attributes:
        frequency_mhz: centre frequency (abdominal/cardiac probes: 2-5 MHz).
        sector_deg: opening angle of the fan.
        apex_depth_mm: the fan's virtual apex lies this far above the top image row.
        max_depth_mm: imaging depth below the apex.
        n_lines, n_depth: scan lines and samples per line (the polar grid).
        dynamic_range_db: log compression window.
        tgc_fraction: share of the soft-tissue attenuation given back by time-gain compensation
            (0 = none, 1 = all); below 1 the image darkens with depth as on an untuned scanner.
        speckle: multiply by Rayleigh speckle (False gives the mean echo, for tests and figures).
    """

    frequency_mhz: float = 3.5
    sector_deg: float = 70.0
    apex_depth_mm: float = 10.0
    max_depth_mm: float = 220.0
    n_lines: int = 128
    n_depth: int = 256
    dynamic_range_db: float = 60.0
    tgc_fraction: float = 0.5
    speckle: bool = True

    def __post_init__(self) -> None:
        check_count(self.n_lines, "n_lines", minimum=2)
        check_count(self.n_depth, "n_depth", minimum=2)
        for name in ("frequency_mhz", "dynamic_range_db"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 < self.sector_deg < 180:
            raise ValueError(f"sector_deg must lie in (0, 180), got {self.sector_deg!r}")
        if not 0 <= self.apex_depth_mm < self.max_depth_mm:
            raise ValueError(
                "need 0 <= apex_depth_mm < max_depth_mm, got "
                f"{self.apex_depth_mm!r} and {self.max_depth_mm!r}"
            )
        if not 0 <= self.tgc_fraction <= 1:
            raise ValueError(f"tgc_fraction must lie in [0, 1], got {self.tgc_fraction!r}")


def acoustic_properties(
    hu: torch.Tensor, echogenicity: torch.Tensor, blood: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-pixel ``(Z in MRayl, alpha in dB/cm/MHz, backscatter)`` stacked on a new dim 1.

    Args:
        hu: ``(N, H, W)`` CT in HU.
        echogenicity: ``(N, H, W)`` backscatter strength in [0, 1] (tissue class, see callers).
        blood: ``(N, H, W)`` bool, where blood lies (low attenuation), or None.

    Returns:
        ``(N, 3, H, W)`` float32.
    """
    density = (1.0 + hu / 1000.0).clamp(min=1.2e-3)  # g/cm^3; air 1.2e-3
    # Sound speed: 343 m/s in air, 1540 in soft tissue, rising to ~3500 in cortical bone (1900 HU).
    speed = torch.where(
        hu < -100,
        343.0 + (1540.0 - 343.0) * ((hu + 1000.0) / 900.0).clamp(0, 1),
        1540.0 + (3500.0 - 1540.0) * ((hu - 100.0) / 1800.0).clamp(0, 1),
    )
    impedance = density * speed / 1000.0  # MRayl (10^6 kg m^-2 s^-1)
    alpha = torch.full_like(hu, ALPHA_SOFT)
    if blood is not None:
        alpha = torch.where(blood, torch.full_like(alpha, ALPHA_BLOOD), alpha)
    alpha = torch.where(hu > 250, torch.full_like(alpha, ALPHA_BONE), alpha)
    alpha = torch.where(hu < -400, torch.full_like(alpha, ALPHA_LUNG), alpha)
    return torch.stack((impedance, alpha, echogenicity.float()), 1)


def _fan_grid(h: int, w: int, pixel_mm: float, cfg: UltrasoundConfig, device) -> tuple:
    """Polar sample positions in grid_sample units, and the inverse map for scan conversion."""
    half = math.radians(cfg.sector_deg) / 2
    theta = torch.linspace(-half, half, cfg.n_lines, device=device)
    r = torch.linspace(cfg.apex_depth_mm, cfg.max_depth_mm, cfg.n_depth, device=device)
    rr, tt = torch.meshgrid(r, theta, indexing="ij")  # (n_depth, n_lines)
    # Image coordinates (mm): apex above the centre of the top row, depth downwards.
    x_mm = rr * torch.sin(tt)
    y_mm = rr * torch.cos(tt) - cfg.apex_depth_mm
    gx = x_mm / ((w - 1) / 2 * pixel_mm)
    gy = y_mm / ((h - 1) / 2 * pixel_mm) - 1.0
    polar = torch.stack((gx, gy), -1)  # (n_depth, n_lines, 2)
    # Inverse: each image pixel's (theta, r) in polar grid units.
    ys = torch.arange(h, device=device) * pixel_mm + cfg.apex_depth_mm
    xs = (torch.arange(w, device=device) - (w - 1) / 2) * pixel_mm
    py, px = torch.meshgrid(ys, xs, indexing="ij")
    pr = torch.sqrt(px**2 + py**2)
    pt = torch.atan2(px, py)
    inside = (pt.abs() <= half) & (pr <= cfg.max_depth_mm) & (pr >= cfg.apex_depth_mm)
    cart = torch.stack(
        (pt / half, 2 * (pr - cfg.apex_depth_mm) / (cfg.max_depth_mm - cfg.apex_depth_mm) - 1), -1
    )
    return polar, cart, inside


def simulate_ultrasound(
    properties: torch.Tensor,
    pixel_mm: float,
    config: UltrasoundConfig = UltrasoundConfig(),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """B-mode image of slices whose top row touches the probe (depth runs down the rows).

    Args:
        properties: ``(N, 3, H, W)`` from :func:`acoustic_properties`.
        pixel_mm: square pixel size in mm.
        config: probe settings.
        generator: for reproducible speckle.

    Returns:
        ``(image, fan)``: ``(N, H, W)`` simulated US in [0, 1], and the ``(H, W)`` bool fan mask.
    """
    if properties.ndim != 4 or properties.shape[1] != 3:
        raise ValueError(
            f"properties must have shape (N, 3, H, W), got {tuple(properties.shape)}; "
            "build it with acoustic_properties"
        )
    if pixel_mm <= 0:
        raise ValueError(f"pixel_mm must be > 0, got {pixel_mm}")
    if not 0.0 <= config.tgc_fraction <= 1.0:
        raise ValueError(f"tgc_fraction must lie in [0, 1], got {config.tgc_fraction}")
    n, _, h, w = properties.shape
    polar, cart, inside = _fan_grid(h, w, pixel_mm, config, properties.device)
    # Sample the tissue along each scan line: (N, 3, n_depth, n_lines); beyond the slice's edge
    # the border values continue.
    grid = polar[None].expand(n, -1, -1, -1)
    props = F.grid_sample(
        properties, grid, mode="bilinear", padding_mode="border", align_corners=True
    )
    z, alpha, scatter = props[:, 0], props[:, 1], props[:, 2]
    dr_cm = (config.max_depth_mm - config.apex_depth_mm) / (config.n_depth - 1) / 10.0
    # Interface reflection between successive samples, and the transmitted share beyond it.
    z_prev = torch.cat((z[:, :1], z[:, :-1]), 1)
    reflect = ((z - z_prev) / (z + z_prev).clamp_min(1e-6)) ** 2  # intensity reflection coefficient
    transmit = torch.cumprod(1.0 - reflect, 1)
    transmit = torch.cat(
        (torch.ones_like(transmit[:, :1]), transmit[:, :-1]), 1
    )  # before the sample
    # Two-way attenuation in dB, minus the time-gain compensation of a soft-tissue path.
    # (Exclusive sum: a sample's echo is attenuated by the tissue before it, so a surface stays bright.)
    loss_db = 2.0 * config.frequency_mhz * (torch.cumsum(alpha, 1) - alpha) * dr_cm
    depth_cm = torch.arange(config.n_depth, device=z.device, dtype=z.dtype)[:, None] * dr_cm
    loss_db = loss_db - config.tgc_fraction * 2.0 * config.frequency_mhz * ALPHA_SOFT * depth_cm
    amplitude = 10.0 ** (-loss_db / 20.0) * transmit  # amplitude of the wave arriving (two-way)
    # Echo: diffuse backscatter (with speckle) plus the specular echo of interfaces.
    # Diffuse scattering is far weaker than a specular echo: echogenicity 1 sits 14 dB below R = 1.
    diffuse = scatter * 0.2
    if config.speckle:
        re = torch.randn(diffuse.shape, generator=generator).to(z.device)
        im = torch.randn(diffuse.shape, generator=generator).to(z.device)
        diffuse = diffuse * torch.sqrt(re**2 + im**2) * math.sqrt(2.0 / math.pi)  # mean 1
    echo = (diffuse + torch.sqrt(reflect)) * amplitude  # (N, n_depth, n_lines)
    # Log compression: 0 dB = a perfect reflector at the probe.
    db = 20.0 * torch.log10(echo.clamp_min(1e-8))
    bmode = (1.0 + db / config.dynamic_range_db).clamp(0.0, 1.0)
    # Scan conversion back into the image plane; outside the fan is black.
    out = F.grid_sample(
        bmode[:, None], cart[None].expand(n, -1, -1, -1), mode="bilinear", align_corners=True
    )[:, 0]
    return out * inside, inside
