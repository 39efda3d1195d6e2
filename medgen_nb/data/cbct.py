"""CBCT acquisition and reconstruction: scatter, quantum noise, beam hardening and filtered back-projection.

A CBCT is made the way a scanner makes it, so its artefacts depend on the object:

1. line integrals ``p`` of every axial slice over ``V`` gantry angles
   (:func:`medgen_nb.data.drr.axial_parallel_projections`, Joseph sampling);
2. beam hardening left over by the water pre-correction, ``p' = p - beta p^2`` (a harder beam behind
   more material reads too little; Brooks & Di Chiro 1976, Phys Med Biol 21:390);
3. primary counts ``I0 exp(-p')`` plus a smooth scatter fluence whose scatter-to-primary ratio
   (SPR) grows with the object's water-equivalent thickness (:func:`scatter_counts`): SPR > 100 %
   for a pelvis at a 6 degree cone angle (Siewerdsen & Jaffray 2001, Med Phys 28:220);
4. quantum noise (Gaussian approximation of Poisson counts, valid above ~20 photons per bin);
5. ``-log(I / I0)`` without scatter correction, so scatter lowers the line integrals most behind
   the thickest parts: cupping, and dark streaks between dense structures;
6. filtered back-projection (:func:`fbp`): ramp filter with an apodisation window, then linear
   back-projection over 180 degrees of parallel views (Kak & Slaney 1988, *Principles of
   Computerized Tomographic Imaging*, ch. 3, eqs. 61-62 for the band-limited discrete ramp).

Parallel beam stands in for the fan of each detector row (fan data rebin to parallel); the cone
only enters through the scatter it collects (:func:`scatter_counts` blurs across detector rows).
Everything here works in attenuation (1/mm); :mod:`medgen_nb.data.ct_physics` converts HU.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from medgen_nb.data.drr import axial_parallel_projections

APODISATIONS: tuple[str, ...] = ("ramlak", "shepp-logan", "cosine", "hamming", "hann")
# Reference object for the noise and scatter settings: a water cylinder of 200 mm diameter.
REFERENCE_DIAMETER_MM = 200.0


def apodisation(f: torch.Tensor, window: str, cutoff: float) -> torch.Tensor:
    """Apodisation window ``W(f)`` of the ramp filter (0 beyond ``cutoff``, same unit as ``f``).

    Ram-Lak (none), Shepp-Logan ``sinc(f / 2 fc)``, cosine ``cos(pi f / 2 fc)``, Hamming
    ``0.54 + 0.46 cos(pi f / fc)`` and Hann ``0.5 (1 + cos(pi f / fc))`` (Kak & Slaney 1988, ch. 3).
    """
    if window not in APODISATIONS:
        raise ValueError(f"window must be one of {APODISATIONS}, got {window!r}")
    if not cutoff > 0:
        raise ValueError(f"cutoff must be > 0, got {cutoff!r}")
    x = f.abs() / cutoff
    if window == "ramlak":
        w = torch.ones_like(x)
    elif window == "shepp-logan":
        w = torch.sinc(x / 2)
    elif window == "cosine":
        w = torch.cos(math.pi * x / 2)
    elif window == "hamming":
        w = 0.54 + 0.46 * torch.cos(math.pi * x)
    else:
        w = 0.5 * (1 + torch.cos(math.pi * x))
    return torch.where(x <= 1, w, torch.zeros_like(w))


def ramp_response(n_bins: int, bin_mm: float, window: str, cutoff: float) -> torch.Tensor:
    """Frequency response ``(n_pad // 2 + 1,)`` of the apodised band-limited ramp, ``n_pad >= 2 n_bins``.

    The spatial Ram-Lak kernel ``h[0] = 1 / (4 d^2)``, ``h[n odd] = -1 / (pi n d)^2``, ``h[n even] =
    0`` (Kak & Slaney eq. 61) avoids the DC error of sampling ``|f|`` directly; ``cutoff`` is a
    fraction of the detector Nyquist frequency ``1 / (2 d)``.
    """
    n_pad = 1 << int(math.ceil(math.log2(2 * n_bins)))
    n = torch.arange(n_pad, dtype=torch.float64)
    n = torch.where(n > n_pad // 2, n - n_pad, n)  # signed offsets, circular
    h = torch.where(n.remainder(2) == 1, -1.0 / (math.pi * n * bin_mm) ** 2, torch.zeros_like(n))
    h[0] = 1.0 / (4 * bin_mm**2)
    response = torch.fft.rfft(h).real  # (n_pad // 2 + 1,) real: h is even
    f = torch.fft.rfftfreq(n_pad, d=bin_mm)  # cycles/mm
    return (response * apodisation(f, window, cutoff / (2 * bin_mm))).float()


def filter_projections(p: torch.Tensor, bin_mm: float, window: str, cutoff: float) -> torch.Tensor:
    """Ramp-filter ``(..., T)`` projections along the detector: ``q = d (p * h)`` (zero padded)."""
    n_bins = p.shape[-1]
    response = ramp_response(n_bins, bin_mm, window, cutoff).to(p.device)
    n_pad = 2 * (len(response) - 1)
    spectrum = torch.fft.rfft(p, n=n_pad, dim=-1) * response
    return torch.fft.irfft(spectrum, n=n_pad, dim=-1)[..., :n_bins] * bin_mm


def backproject(
    q: torch.Tensor,
    angles_rad: torch.Tensor,
    bin_mm: float,
    shape: tuple[int, int],
    pixel_mm: tuple[float, float],
    views_per_call: int = 4,
) -> torch.Tensor:
    """Linear back-projection of filtered parallel projections over 180 degrees.

    ``mu(u, v) = (pi / V) sum_theta q_theta(u cos theta + v sin theta)`` (Kak & Slaney eq. 45),
    sampled with ``grid_sample`` a few views at a time, never holding ``(V, Z, H, W)``.

    Args:
        q: ``(V, Z, T)`` filtered projections, detector centred on the rotation axis.
        shape, pixel_mm: slice size ``(H, W)`` and pixel size ``(row, column)`` in mm.

    Returns:
        ``(Z, H, W)`` attenuation (1/mm).
    """
    n_views, n_slices, n_bins = q.shape
    u = (torch.arange(shape[0], dtype=q.dtype) - (shape[0] - 1) / 2) * pixel_mm[0]
    v = (torch.arange(shape[1], dtype=q.dtype) - (shape[1] - 1) / 2) * pixel_mm[1]
    uu, vv = torch.meshgrid(u, v, indexing="ij")  # (H, W) mm
    half_t = max((n_bins - 1) / 2 * bin_mm, 1e-6)
    rows = q[:, :, None, :].contiguous(memory_format=torch.channels_last)  # (V, Z, 1, T)
    image = torch.zeros((1, n_slices, *shape), dtype=q.dtype)
    for first in range(0, n_views, views_per_call):
        theta = angles_rad[first : first + views_per_call].to(q.dtype)
        t = uu * theta.cos()[:, None, None] + vv * theta.sin()[:, None, None]  # (v, H, W) mm
        grid = torch.stack((t / half_t, torch.zeros_like(t)), -1)  # (v, H, W, 2)
        image += F.grid_sample(
            rows[first : first + views_per_call], grid, mode="bilinear", align_corners=True
        ).sum(0, keepdim=True)
    return image[0] * (math.pi / n_views)


def gaussian_blur_2d(x: torch.Tensor, sigma_bins: tuple[float, float]) -> torch.Tensor:
    """Blur ``(..., A, B)`` with a normalised Gaussian (sd in bins per axis) via FFT.

    Axis ``A`` (detector rows) is extended by repeating its edge rows, as if the object went on
    beyond the simulated slices; axis ``B`` (bins) is zero padded (air beyond the detector).
    """
    for dim, sigma in zip((-2, -1), sigma_bins, strict=True):
        n = x.shape[dim]
        pad = int(3 * sigma) + 1
        if dim == -2:
            first, last = x.narrow(dim, 0, 1), x.narrow(dim, n - 1, 1)
            x = torch.cat(
                (first.repeat_interleave(pad, dim), x, last.repeat_interleave(pad, dim)), dim
            )
        n_fft = x.shape[dim] + (2 * pad if dim == -1 else 0)
        f = torch.fft.rfftfreq(n_fft)
        gain = torch.exp(-2 * (math.pi * f * sigma) ** 2)  # FT of the unit-area Gaussian
        shape = [1] * x.ndim
        shape[dim] = len(gain)
        x = torch.fft.irfft(
            torch.fft.rfft(x, n=n_fft, dim=dim) * gain.view(shape), n=n_fft, dim=dim
        )
        x = x.narrow(dim, pad, n) if dim == -2 else x.narrow(dim, 0, n)
    return x


# Scattered photons leave the body at wide angles, through on average about half the path left
# to the ray's exit (approx.), so the first-order scatter of a ray is ~p exp(-SCATTER_EXIT p).
SCATTER_EXIT = 0.5


def _scatter_source(p):
    """Scatter sent towards the detector by a ray per incident photon: ``p exp(-p / 2)``.

    A ray interacts ``~p`` times per photon in the thin limit; the scattered photons are then
    attenuated over about half the remaining path (:data:`SCATTER_EXIT`). This keeps the scatter
    profile behind a thick body peaked at its centre, as measured behind water cylinders.
    """
    return (
        p * (-SCATTER_EXIT * p).exp()
        if isinstance(p, torch.Tensor)
        else p * np.exp(-SCATTER_EXIT * p)
    )


@lru_cache(maxsize=32)
def scatter_amplitude(spr: float, sigma_mm: float, mu_water: float) -> float:
    """Scale ``k`` of :func:`scatter_counts` giving ``spr`` behind the centre of the reference cylinder.

    Computed on a fine 1D profile of a z-uniform 200 mm water cylinder (its scatter blur across
    detector rows is then the identity).
    """
    step = 0.25  # mm
    t = np.arange(-600.0, 600.0 + step, step)
    radius = REFERENCE_DIAMETER_MM / 2
    p = 2 * mu_water * np.sqrt(np.clip(radius**2 - t**2, 0, None))
    source = _scatter_source(p)
    kernel = np.exp(-0.5 * (t / sigma_mm) ** 2)
    kernel /= kernel.sum()
    centre = float(np.sum(source * kernel[::-1]))  # the convolution at t = 0
    return spr * math.exp(-p[len(t) // 2]) / centre


def scatter_counts(
    p: torch.Tensor,
    i0: float,
    spr_reference: float,
    sigma_mm: float,
    bin_mm: float,
    row_mm: float,
    mu_water: float,
) -> torch.Tensor:
    """Scatter fluence ``S = k G * (I0 p e^{-p})`` on the detector, ``(V, Z, T)`` counts per bin.

    ``G`` is a normalised Gaussian of ``sigma_mm`` over detector bins and rows (scatter reaching a
    flat panel is a broad, slowly varying distribution; Boone & Seibert 1988, Med Phys 15:713), and
    ``k`` makes the SPR behind the centre of a 200 mm water cylinder equal ``spr_reference``. The
    SPR then grows with object size as measured (Siewerdsen & Jaffray 2001): thick objects both
    send more scatter and let fewer primaries through.
    """
    k = scatter_amplitude(float(spr_reference), float(sigma_mm), float(mu_water))
    source = i0 * _scatter_source(p)  # (V, Z, T)
    return k * gaussian_blur_2d(source, (sigma_mm / row_mm, sigma_mm / bin_mm)).clamp_min(0.0)


def photons_for_noise(
    noise_mu: float,
    n_views: int,
    bin_mm: float,
    n_bins: int,
    window: str,
    cutoff: float,
    mu_water: float,
) -> float:
    """Unattenuated photons per detector bin and view that give ``noise_mu`` (1/mm) sd at the centre
    of the 200 mm reference water cylinder (scatter-free).

    The centre pixel reads every view at ``t = 0``, so ``Var = (pi / V)^2 V d^2 sum_k h_k^2 Var(p)``
    with ``Var(p) = e^{p_0} / I0`` (Poisson counts, ``p_0`` the central line integral); linear
    interpolation between bins averages that variance by ``E[(1 - a)^2 + a^2] = 2/3`` over the
    pixels of a region.
    """
    response = ramp_response(n_bins, bin_mm, window, cutoff).double()
    n_pad = 2 * (len(response) - 1)
    full = torch.cat((response, response[1:-1].flip(0)))  # the whole spectrum of a real kernel
    sum_h2 = float((full**2).sum()) / n_pad  # Parseval
    p0 = mu_water * REFERENCE_DIAMETER_MM
    return (2 / 3) * (math.pi**2 / n_views) * bin_mm**2 * sum_h2 * math.exp(p0) / noise_mu**2


def fbp(
    p: torch.Tensor,
    angles_rad: torch.Tensor,
    bin_mm: float,
    shape: tuple[int, int],
    pixel_mm: tuple[float, float],
    window: str = "hann",
    cutoff: float = 1.0,
) -> torch.Tensor:
    """Filtered back-projection ``(V, Z, T)`` line integrals -> ``(Z, H, W)`` attenuation (1/mm)."""
    q = filter_projections(p, bin_mm, window, cutoff)
    return backproject(q, angles_rad, bin_mm, shape, pixel_mm)


def project_slices(
    mu: torch.Tensor, pixel_mm: tuple[float, float], n_views: int, fov_radius_mm: float
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Sinogram of ``(Z, H, W)`` attenuation over ``n_views`` angles in [0, pi).

    Detector bins of ``min(pixel_mm)`` cover the field of view, ``|t| <= fov_radius_mm`` (rays
    beyond it are not measured); rays are only integrated over the object's support, and bins
    beyond it are zero without sampling.

    Returns:
        ``(p, angles, bin_mm, support_mm)``: ``(V, Z, T)`` line integrals, ``(V,)`` angles, bin
        width (mm), and the object's radius; beyond ``fov_radius_mm`` the projections are
        truncated (see :func:`extend_truncated`).
    """
    bin_mm = min(pixel_mm)
    angles = torch.arange(n_views, dtype=torch.float32) * (math.pi / n_views)
    n_half = int(math.ceil(fov_radius_mm / bin_mm))
    n_bins = 2 * n_half + 1
    # Support radius: farthest non-air pixel centre over all slices, plus 2 pixels of bilinear reach.
    occupied = mu.amax(0) > 0
    if not occupied.any():
        return torch.zeros((n_views, mu.shape[0], n_bins)), angles, bin_mm, 0.0
    h, w = mu.shape[1:]
    u = (torch.arange(h) - (h - 1) / 2) * pixel_mm[0]
    v = (torch.arange(w) - (w - 1) / 2) * pixel_mm[1]
    r = torch.sqrt(u[:, None] ** 2 + v[None, :] ** 2)
    support = float(r[occupied].max()) + 2 * max(pixel_mm)
    n_used = min(n_half, int(math.ceil(support / bin_mm)))
    p_used = axial_parallel_projections(mu, pixel_mm, angles, 2 * n_used + 1, bin_mm, support)
    pad = n_half - n_used
    return F.pad(p_used, (pad, pad)), angles, bin_mm, support


def extend_truncated(p: torch.Tensor, n_extra: int) -> torch.Tensor:
    """Extend truncated projections ``(..., T)`` by ``n_extra`` bins a side, fading the edge values
    to 0 with a cosine taper, so the ramp filter does not see a cliff (a standard truncation
    correction; without it the rim of the field of view reads thousands of HU too high).
    """
    fade = torch.cos(0.5 * math.pi * torch.arange(1, n_extra + 1) / (n_extra + 1)) ** 2
    left = p[..., :1] * fade.flip(0)
    right = p[..., -1:] * fade
    return torch.cat((left, p, right), -1)
