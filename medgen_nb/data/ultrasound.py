"""Simulated B-mode ultrasound (US-like) images from CT slices and tissue labels.

The review counts CT -> US among its translation tasks (Pang et al. 2025, translation table); real
paired CT/US data are rare, so this module makes a US-like image from a CT slice with a ray model
along the scan lines of a sector (phased-array) probe:

1. Each pixel gets an acoustic impedance ``Z = rho c`` (MRayl) from HU: density from the CT
   calibration of Schneider, Bortfeld & Schlegel (Phys Med Biol 45:459-478, 2000; adipose ~0.93-0.98,
   soft tissue ~1.0-1.07, cortical bone ~1.92 g/cm^3), not ``1 + HU/1000``; sound speed 343 m/s in
   air, ~1450-1480 in fat, 1540 in soft tissue, ~1580 in muscle/blood-rich organs and ~3500 in
   cortical bone (Duck, *Physical Properties of Tissue*, 1990; Szabo, *Diagnostic Ultrasound
   Imaging*, 2nd ed., 2014, appendix tables); an attenuation coefficient ``alpha`` (dB/cm/MHz:
   ~0.5 soft tissue, 0.2 blood, ~20 bone, ~40 lung; same sources) and a backscatter strength
   (echogenicity) from its tissue class.
2. Along each scan line, interfaces reflect ``R = ((Z2 - Z1) / (Z2 + Z1))^2`` of the intensity;
   what lies beyond is reached only by the transmitted fraction ``prod(1 - R)`` - the acoustic
   shadow behind bone and air - and by ``10^(-2 alpha f z / 20)`` in amplitude (two-way
   attenuation; ``f`` in MHz, ``z`` in cm). A time-gain compensation can give back part of it.
3. Fully developed speckle multiplies the echo by a Rayleigh-distributed factor (the magnitude of a
   complex Gaussian, mean 1).
4. The envelope is log-compressed to a ``dynamic_range_db`` window and scan-converted into the fan;
   pixels outside the fan are 0.

Probe placement (:func:`place_probe`, ``UltrasoundConfig.window``): the probe sits on the skin at
an acoustic window - left parasternal (intercostal) or subcostal - and is steered towards the
heart or liver along a line that avoids the sternum and ribs where it can; real cardiac and upper
abdominal scans never image through the sternum (Feigenbaum's Echocardiography, 7th ed., 2010,
ch. 4: parasternal, apical, subcostal and suprasternal windows). ``window="anterior"`` keeps the
old probe on the anterior midline.

Images are in [0, 1] ("us" in :mod:`medgen_nb.data.intensity`). This is a teaching simulator, not
a wave solver (no diffraction, no reverberation); everything it makes is *simulated*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from medgen_nb.data.checks import check_count

# Attenuation coefficients, dB / (cm MHz) (Szabo, Diagnostic Ultrasound Imaging, 2nd ed., tables).
ALPHA_SOFT = 0.54
ALPHA_BLOOD = 0.18
ALPHA_BONE = 20.0
ALPHA_LUNG = 40.0
# HU -> mass density (g/cm^3), piecewise linear through the tissue points of Schneider et al. 2000
# (air; adipose -100 HU 0.93 ... their fitted soft-tissue line to 1.07 at 100 HU; cortical bone
# 1.92 g/cm^3 (ICRU 46) reached at ~1500 HU and kept above).
DENSITY_HU = (-1000.0, -100.0, 0.0, 100.0, 1500.0)
DENSITY_G_CM3 = (0.0012, 0.93, 1.00, 1.07, 1.92)
# HU -> sound speed (m/s): air 343; lung tissue mixes air and tissue (a steep rise); fat 1450 at
# -150 HU to 1480 at -50 HU (Duck 1990: 1450-1480); soft tissue 1540 at 20 HU; muscle/liver ~1580
# at 100 HU; cortical bone ~3500 at 1500 HU (Duck 1990; Szabo 2014).
SPEED_HU = (-1000.0, -150.0, -50.0, 20.0, 100.0, 1500.0)
SPEED_M_S = (343.0, 1450.0, 1480.0, 1540.0, 1580.0, 3500.0)
WINDOWS: tuple[str, ...] = ("anterior", "parasternal", "subcostal")
# Candidate probe positions of each window: lateral offsets (mm) from the body's midline, + towards
# the patient's right (image columns follow +X = right), and the preferred offset. Parasternal: the
# left sternal border to ~7 cm left in the 2nd-5th intercostal spaces; subcostal: the epigastrium
# below the xiphoid, towards the right costal margin (Feigenbaum 2010, ch. 4).
WINDOW_OFFSETS_MM: dict[str, tuple[float, float, float]] = {
    "anterior": (0.0, 0.0, 0.0),
    "parasternal": (-70.0, -15.0, -30.0),
    "subcostal": (-20.0, 60.0, 0.0),
}


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
        window: acoustic window of the probe for :func:`place_probe` (chest US): ``"parasternal"``
            (default), ``"subcostal"`` or ``"anterior"`` (v1: anterior midline, through the
            sternum).
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
    window: Literal["anterior", "parasternal", "subcostal"] = "parasternal"

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
        if self.window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {self.window!r}")


def _interp(x: torch.Tensor, xp: tuple[float, ...], fp: tuple[float, ...]) -> torch.Tensor:
    """Piecewise-linear ``np.interp`` for tensors (flat beyond the end points)."""
    out = torch.full_like(x, fp[0])
    for x0, x1, f0, f1 in zip(xp[:-1], xp[1:], fp[:-1], fp[1:], strict=True):
        out += (f1 - f0) / (x1 - x0) * (x - x0).clamp(0.0, x1 - x0)  # each segment's rise
    return out


def density_g_cm3(hu: torch.Tensor) -> torch.Tensor:
    """Mass density (g/cm^3) from HU (Schneider et al. 2000), any shape."""
    return _interp(hu.float(), DENSITY_HU, DENSITY_G_CM3)


def speed_m_s(hu: torch.Tensor) -> torch.Tensor:
    """Sound speed (m/s) from HU (Duck 1990; Szabo 2014), any shape."""
    return _interp(hu.float(), SPEED_HU, SPEED_M_S)


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
    density = _interp(hu, DENSITY_HU, DENSITY_G_CM3)  # g/cm^3
    speed = _interp(hu, SPEED_HU, SPEED_M_S)  # m/s
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


def ray_points(
    probe_rc: torch.Tensor, direction: torch.Tensor, depth_mm: float, pixel_mm: float, n: int = 64
) -> torch.Tensor:
    """``(N, n, 2)`` (row, col) pixel positions along each probe's central scan line, from the
    skin (``probe_rc``, ``(N, 2)``) to ``depth_mm`` along the unit ``direction`` ``(N, 2)``."""
    t = torch.linspace(0.0, depth_mm / pixel_mm, n, dtype=probe_rc.dtype)
    return probe_rc[:, None, :] + t[None, :, None] * direction[:, None, :]


def _hits(mask: np.ndarray, points: np.ndarray) -> int:
    """How many of ``points`` ``(..., 2)`` (row, col) fall on True pixels of ``mask`` ``(H, W)``."""
    r = np.clip(np.rint(points[..., 0]).astype(int), 0, mask.shape[0] - 1)
    c = np.clip(np.rint(points[..., 1]).astype(int), 0, mask.shape[1] - 1)
    return int(mask[r, c].sum())


def place_probe(
    body: torch.Tensor,
    bone: torch.Tensor,
    target: torch.Tensor,
    pixel_mm: float,
    config: UltrasoundConfig = UltrasoundConfig(),
    check_depth_mm: float = 60.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Probe position on the skin and beam direction for every slice, at ``config.window``.

    Slices have depth down the rows (row 0 anterior) and columns along +X (the patient's right).
    Candidates lie on the anterior skin (the first body pixel of each column) at the window's
    lateral offsets from the body midline (:data:`WINDOW_OFFSETS_MM`); each aims at the centroid
    of ``target`` in its slice (straight posterior without one), steered at most 50 deg. The
    candidate whose central line and the lines at +-1/4 of the sector cross the fewest ``bone``
    pixels over the first ``check_depth_mm`` wins; ties go to the window's preferred offset.

    Args:
        body, bone, target: ``(N, H, W)`` bool masks (body, bone labels, organ to image).
        pixel_mm: square pixel size (mm).

    Returns:
        ``(probe_rc, direction)``: ``(N, 2)`` float (row, col) skin points and unit (row, col)
        beam directions.
    """
    lo, hi, preferred = WINDOW_OFFSETS_MM[config.window]
    body_np, bone_np, target_np = (m.cpu().numpy().astype(bool) for m in (body, bone, target))
    n_slices, h, w = body_np.shape
    probes, directions = np.zeros((n_slices, 2)), np.zeros((n_slices, 2))
    probes[:, 1] = (w - 1) / 2
    directions[:, 0] = 1.0
    quarter = math.radians(config.sector_deg) / 4
    depth = np.linspace(0.0, check_depth_mm / pixel_mm, 32)
    max_steer = math.radians(50.0)
    offsets = np.arange(lo, hi + 1e-6, max(pixel_mm, 1.0))  # (C,) mm
    spread = np.array([-quarter, 0.0, quarter])  # the three checked lines
    skin_rows = np.argmax(body_np, axis=1)  # (N, W) first body row of each column
    has_body = body_np.any(1)  # (N, W)
    for k in range(n_slices):
        if not has_body[k].any():
            continue
        mid = body_np[k].nonzero()[1].mean() if config.window != "anterior" else (w - 1) / 2
        cols = np.rint(mid + offsets / pixel_mm).astype(int)
        ok = (cols >= 0) & (cols < w)
        ok[ok] = has_body[k, cols[ok]]
        if not ok.any():
            continue
        cols, offs = cols[ok], offsets[ok]
        rows = skin_rows[k, cols].astype(float)  # (C,) the skin under each candidate
        if target_np[k].any() and config.window != "anterior":
            tr, tc = np.argwhere(target_np[k]).mean(0)
            angle = np.arctan2(tc - cols, np.maximum(tr - rows, 1e-6))  # from straight posterior
        else:
            angle = np.zeros(len(cols))
        angle = np.clip(angle, -max_steer, max_steer)
        a = angle[:, None] + spread[None]  # (C, 3)
        pts = np.stack(
            (
                rows[:, None, None] + depth[None, None] * np.cos(a)[..., None],
                cols[:, None, None] + depth[None, None] * np.sin(a)[..., None],
            ),
            -1,
        )  # (C, 3, D, 2)
        r = np.clip(np.rint(pts[..., 0]).astype(int), 0, h - 1)
        c = np.clip(np.rint(pts[..., 1]).astype(int), 0, w - 1)
        hits = bone_np[k][r, c].sum((1, 2))  # (C,)
        best = np.lexsort((np.abs(offs - preferred), hits))[0]
        probes[k] = (rows[best], cols[best])
        directions[k] = (math.cos(angle[best]), math.sin(angle[best]))
    return torch.from_numpy(probes).float(), torch.from_numpy(directions).float()


def simulate_ultrasound_at(
    properties: torch.Tensor,
    probe_rc: torch.Tensor,
    direction: torch.Tensor,
    pixel_mm: float,
    config: UltrasoundConfig = UltrasoundConfig(),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """B-mode images of slices with the probe at ``probe_rc`` aiming along ``direction``.

    Each slice is resampled into the probe's frame (top row = the probe face through the skin
    point, depth down the rows), imaged by :func:`simulate_ultrasound` and resampled back.

    Args:
        properties: ``(N, 3, H, W)`` from :func:`acoustic_properties`.
        probe_rc, direction: ``(N, 2)`` from :func:`place_probe` (pixels; unit vectors).

    Returns:
        ``(image, fan)``: ``(N, H, W)`` in [0, 1] on the slice grid, and the ``(N, H, W)`` bool fan.
    """
    if properties.ndim != 4 or properties.shape[1] != 3:
        raise ValueError(f"properties must have shape (N, 3, H, W), got {tuple(properties.shape)}")
    n, _, h, w = properties.shape
    if probe_rc.shape != (n, 2) or direction.shape != (n, 2):
        raise ValueError(
            f"probe_rc and direction must have shape ({n}, 2), got {tuple(probe_rc.shape)} and "
            f"{tuple(direction.shape)}"
        )
    b = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-6)  # (N, 2) depth axis
    lateral = torch.stack((-b[:, 1], b[:, 0]), 1)  # (N, 2): +columns of the probe frame
    i = torch.arange(h, dtype=b.dtype)
    j = torch.arange(w, dtype=b.dtype) - (w - 1) / 2
    ii, jj = torch.meshgrid(i, j, indexing="ij")  # (H, W) frame pixel indices
    pos = (
        probe_rc[:, None, None, :]
        + ii[None, :, :, None] * b[:, None, None, :]
        + jj[None, :, :, None] * lateral[:, None, None, :]
    )  # (N, H, W, 2) slice (row, col) of each frame pixel
    to_grid = lambda rc: torch.stack(  # noqa: E731 - (row, col) -> grid_sample (x, y)
        (rc[..., 1] / (w - 1) * 2 - 1, rc[..., 0] / (h - 1) * 2 - 1), -1
    )
    frame = F.grid_sample(
        properties, to_grid(pos), mode="bilinear", padding_mode="border", align_corners=True
    )
    image, fan = simulate_ultrasound(frame, pixel_mm, config, generator)  # (N, H, W), (H, W)
    # Back: each slice pixel's (depth, lateral) in the probe frame.
    rr, cc = torch.meshgrid(
        torch.arange(h, dtype=b.dtype), torch.arange(w, dtype=b.dtype), indexing="ij"
    )
    rel = torch.stack((rr, cc), -1)[None] - probe_rc[:, None, None, :]  # (N, H, W, 2)
    depth = (rel * b[:, None, None, :]).sum(-1)
    across = (rel * lateral[:, None, None, :]).sum(-1) + (w - 1) / 2
    back = to_grid(torch.stack((depth, across), -1))
    both = torch.stack((image, fan.expand(n, -1, -1).to(image.dtype)), 1)  # (N, 2, H, W)
    out = F.grid_sample(both, back, mode="bilinear", padding_mode="zeros", align_corners=True)
    inside = out[:, 1] > 0.5
    return out[:, 0] * inside, inside
