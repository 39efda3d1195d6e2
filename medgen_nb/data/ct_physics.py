"""CT physics shared by every CT-based simulator: HU <-> attenuation, CT noise, protocols and CBCT.

Hounsfield units are defined by ``HU = 1000 (mu - mu_water) / (mu_water - mu_air)``; with
``mu_air ~ 0`` this inverts to ``mu = mu_water (1 + HU / 1000)``.

* CT noise after filtered back-projection is not white: its noise power spectrum rises like the
  ramp filter, ``NPS(f) ~ |f| W(f)^2`` with ``W`` the reconstruction kernel's apodisation
  (Kak & Slaney 1988, ch. 5; measured on clinical scanners by Boedeker et al. 2007, Phys Med Biol
  52:4027). :func:`add_ct_noise` shapes white noise that way, slice by slice.
* :class:`CTProtocol` holds the scanner settings (kVp, kernel, dose as noise) and
  :data:`CT_KERNELS` the kernel presets.
* :func:`simulate_cbct` rebuilds a CBCT from projections of the CT (:mod:`medgen_nb.data.cbct`),
  so scatter cupping, beam hardening and streaks follow the object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from medgen_nb.data import cbct as _cbct
from medgen_nb.data.checks import check_count

# Linear attenuation coefficient of water at ~70 keV effective energy, in 1/mm
# (NIST XCOM: mu/rho = 0.193 cm^2/g at 70 keV, rho = 1 g/cm^3 -> 0.0193 /mm).
MU_WATER_PER_MM = 0.0193
AIR_HU = -1000.0
NPS_SHAPES: tuple[str, ...] = ("ramp", "white")


def hu_to_mu(hu: torch.Tensor, mu_water: float = MU_WATER_PER_MM) -> torch.Tensor:
    """Hounsfield units -> linear attenuation in 1/mm (air and below clipped to 0)."""
    return (mu_water * (1.0 + hu / 1000.0)).clamp_min(0.0)


def mu_to_hu(mu: torch.Tensor, mu_water: float = MU_WATER_PER_MM) -> torch.Tensor:
    """Linear attenuation in 1/mm -> Hounsfield units."""
    return 1000.0 * (mu / mu_water - 1.0)


# ----------------------------------------------------------------------------- protocols


@dataclass(frozen=True)
class CTKernel:
    """A reconstruction kernel: the ramp filter's apodisation and what it does to the image.

    Attributes:
        window: apodisation (one of :data:`medgen_nb.data.cbct.APODISATIONS`).
        cutoff_per_mm: frequency where the window reaches 0 (cycles/mm). A Hann window's MTF falls
            to 50 % at half the cutoff.
        fwhm_mm: in-plane FWHM of a Gaussian with the same MTF50 (``0.441 / f50`` mm), the blur
            applied to a simulated CT reconstructed with this kernel.
    """

    window: str
    cutoff_per_mm: float

    @property
    def mtf50_per_mm(self) -> float:
        """Frequency (cycles/mm) where the apodisation falls to 0.5 (bisection on the window)."""
        lo, hi = 0.0, self.cutoff_per_mm
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            w = float(_cbct.apodisation(torch.tensor(mid), self.window, self.cutoff_per_mm))
            lo, hi = (mid, hi) if w > 0.5 else (lo, mid)
        return 0.5 * (lo + hi)

    @property
    def fwhm_mm(self) -> float:
        # Gaussian MTF exp(-2 pi^2 sigma^2 f^2) = 0.5  ->  FWHM = 2.355 sqrt(ln 2 / 2) / (pi f50).
        return 2.355 * math.sqrt(math.log(2) / 2) / (math.pi * self.mtf50_per_mm)

    def noise_variance(self) -> float:
        """``integral NPS d^2f ~ integral_0^fc f^2 W(f)^2 df`` (relative; 2D, NPS ~ |f| W^2)."""
        f = torch.linspace(0.0, self.cutoff_per_mm, 2001, dtype=torch.float64)
        w = _cbct.apodisation(f, self.window, self.cutoff_per_mm)
        return float(torch.trapezoid(f**2 * w**2, f))


# Clinical soft / standard / sharp (bone) kernels have MTF50 of roughly 0.3 / 0.4 / 0.65 cycles/mm
# (approx.; e.g. the kernel comparison of Solomon et al. 2012, Med Phys 39:4119, and vendor
# data). A Hann window reaches MTF50 at half its cutoff, so the cutoffs are twice those values.
CT_KERNELS: dict[str, CTKernel] = {
    "soft": CTKernel("hann", 0.6),
    "standard": CTKernel("hann", 0.8),
    "sharp": CTKernel("hann", 1.3),
}
# Image noise at a fixed tube current-time product relative to 120 kVp, ~ (kVp / 120)^-1.45
# (approx.): tube output grows ~kVp^2 (Bushberg et al., The Essential Physics of Medical Imaging,
# 3rd ed., ch. 6) and a harder beam crosses a ~20-30 cm body better, partly offset by the lower
# contrast per photon; measured noise ratios 80:120 kVp at equal mAs are ~1.7-2 (approx.).
KVP_NOISE_EXPONENT = -1.45
KVPS: tuple[int, ...] = (80, 100, 120, 140)


@dataclass(frozen=True)
class CTProtocol:
    """Scanner settings of a CT acquisition.

    Attributes:
        kvp: tube voltage, one of :data:`KVPS` (default 120, the usual adult protocol).
        kernel: reconstruction kernel, a key of :data:`CT_KERNELS` (default ``"standard"``).
        noise_hu: the dose setting, as the noise sd (HU) this dose gives at 120 kVp with the
            standard kernel (default 10 HU, a routine adult body CT; approx.).

    ``image_noise_hu`` is the sd the image actually gets: ``noise_hu`` times the kernel's and the
    kVp's noise factors (same mAs).
    """

    kvp: int = 120
    kernel: str = "standard"
    noise_hu: float = 10.0

    def __post_init__(self) -> None:
        if self.kvp not in KVPS:
            raise ValueError(f"kvp must be one of {KVPS}, got {self.kvp!r}")
        if self.kernel not in CT_KERNELS:
            raise ValueError(f"kernel must be one of {tuple(CT_KERNELS)}, got {self.kernel!r}")
        if not self.noise_hu >= 0:
            raise ValueError(f"noise_hu must be >= 0, got {self.noise_hu!r}")

    @property
    def kernel_noise_factor(self) -> float:
        """Noise sd of this kernel relative to ``"standard"`` at the same dose."""
        ref = CT_KERNELS["standard"].noise_variance()
        return math.sqrt(CT_KERNELS[self.kernel].noise_variance() / ref)

    @property
    def kvp_noise_factor(self) -> float:
        """Noise sd at this kVp relative to 120 kVp at the same mAs."""
        return (self.kvp / 120.0) ** KVP_NOISE_EXPONENT

    @property
    def image_noise_hu(self) -> float:
        return self.noise_hu * self.kernel_noise_factor * self.kvp_noise_factor


# ----------------------------------------------------------------------------- CT noise


def _in_plane(spacing_mm) -> tuple[float, float]:
    sp = (float(spacing_mm),) * 2 if isinstance(spacing_mm, int | float) else tuple(spacing_mm)
    if len(sp) not in (2, 3) or not all(s > 0 for s in sp):
        raise ValueError(
            f"spacing_mm must be a positive number or (row, col[, slice]) mm, got {spacing_mm!r}"
        )
    return float(sp[0]), float(sp[1])


def ct_noise(
    shape: tuple[int, ...],
    sigma_hu: float,
    generator: torch.Generator | None = None,
    kernel: str = "standard",
    spacing_mm=1.0,
) -> torch.Tensor:
    """Zero-mean CT noise ``(..., H, W)`` with a ramp-shaped NPS in the last two (axial) dims.

    White noise is filtered in 2D Fourier space by ``sqrt(NPS) = sqrt(|f|) W(|f|)``, with ``W`` the
    kernel's apodisation at the physical frequency (cycles/mm), and scaled so that its sd is
    exactly ``sigma_hu`` (Boedeker et al. 2007: ``NPS`` ~ 0 at ``f = 0``, peaking at mid
    frequencies).
    """
    if len(shape) < 2:
        raise ValueError(f"ramp-shaped CT noise needs (..., H, W) images, got shape {tuple(shape)}")
    if kernel not in CT_KERNELS:
        raise ValueError(f"kernel must be one of {tuple(CT_KERNELS)}, got {kernel!r}")
    s_row, s_col = _in_plane(spacing_mm)
    h, w = shape[-2:]
    white = torch.randn(shape, generator=generator)
    fy = torch.fft.fftfreq(h, d=s_row)[:, None]
    fx = torch.fft.rfftfreq(w, d=s_col)[None, :]
    f = torch.sqrt(fx**2 + fy**2)  # (H, W // 2 + 1) cycles/mm
    k = CT_KERNELS[kernel]
    amplitude = torch.sqrt(f) * _cbct.apodisation(f, k.window, k.cutoff_per_mm)
    shaped = torch.fft.irfft2(torch.fft.rfft2(white) * amplitude, s=(h, w))
    sd = shaped.flatten(-2).std(-1, keepdim=True).clamp_min(1e-12)[..., None]  # per slice
    return shaped / sd * sigma_hu


def add_ct_noise(
    hu: torch.Tensor,
    sigma_hu: float,
    generator: torch.Generator | None = None,
    *,
    nps: str = "ramp",
    kernel: str = "standard",
    spacing_mm=1.0,
) -> torch.Tensor:
    """Add zero-mean CT quantum noise of ``sigma_hu`` HU sd.

    Args:
        hu: ``(..., H, W)`` HU, the last two dims axial (in-plane).
        nps: ``"ramp"`` (default: filtered back-projection noise, :func:`ct_noise`) or ``"white"``
            (independent Gaussian pixels, v1's model).
        kernel, spacing_mm: reconstruction kernel (:data:`CT_KERNELS`) and in-plane pixel size
            (mm), which place the kernel's apodisation on the image's frequency axis.
    """
    if not sigma_hu >= 0:
        raise ValueError(f"sigma_hu must be >= 0, got {sigma_hu}")
    if nps not in NPS_SHAPES:
        raise ValueError(f"nps must be one of {NPS_SHAPES}, got {nps!r}")
    if nps == "white":
        noise = torch.randn(hu.shape, generator=generator, dtype=hu.dtype) * sigma_hu
    else:
        noise = ct_noise(tuple(hu.shape), sigma_hu, generator, kernel, spacing_mm).to(hu.dtype)
    return hu + noise.to(hu.device)


# ----------------------------------------------------------------------------- CBCT

# A linac-mounted kV CBCT in full-fan mode reconstructs a ~250 mm diameter field of view (head);
# half-fan (offset detector) mode reaches ~450 mm for thorax and pelvis (approx.; Varian OBI
# full-fan 25 cm / half-fan 45 cm, Elekta XVI S/M/L 27/41/50 cm).
FOV_RADIUS_FULL_FAN_MM = 125.0
FOV_RADIUS_HALF_FAN_MM = 225.0


@dataclass(frozen=True)
class CBCTArtefacts:
    """How the CBCT is acquired and reconstructed from the CT (see :func:`simulate_cbct`).

    Attributes:
        noise_hu: quantum-noise sd (HU) at the centre of a 200 mm water cylinder without scatter;
            sets the photons per detector bin. CBCT is noisier than diagnostic CT (default 30 HU).
        shading_hu, cupping_hu, streak_hu, n_streaks: deprecated (v2 painted these patterns);
            still accepted and checked, no longer used: scatter, beam hardening and the
            reconstruction now make them from the object.
        gain_range, offset_range_hu: HU miscalibration ``HU' = gain * HU + offset`` (drawn per
            subject): CBCT numbers are not calibrated like CT.
        fov_fraction: deprecated (v2's field of view as a fraction of half the image width);
            accepted and checked, replaced by ``fov_radius_mm``.
        fov_radius_mm: radius of the reconstructed circular field of view (mm); outside it the
            CBCT holds air. Default 125 mm, the ~250 mm diameter of a linac kV CBCT in full-fan
            mode (:data:`FOV_RADIUS_HALF_FAN_MM` = 225 mm for half-fan body scans).
        n_views: parallel views over 180 degrees (default 64, chosen for speed; clinical CBCT takes
            ~360-650 projections, so fine view-aliasing streaks appear beyond ~``n_views x
            pixel / pi`` mm from the centre).
        spr: scatter-to-primary ratio behind the centre of a 200 mm water cylinder (default 0.5;
            it then reaches ~1 at 320 mm, the > 100 % that Siewerdsen & Jaffray 2001 measured for
            a pelvis at a 6 degree cone angle). 0 turns scatter off.
        scatter_sigma_mm: width (sd, mm at the detector) of the scatter distribution (default
            60 mm: scatter is smooth; Boone & Seibert 1988, Med Phys 15:713, approx.).
        beam_hardening: line-integral deficit left by the water pre-correction at 300 mm of water
            (fraction, default 0.02, approx.); dense bone (here: dense water) darkens the paths
            through it (Brooks & Di Chiro 1976).
        window, cutoff: FBP apodisation (:data:`medgen_nb.data.cbct.APODISATIONS`) and its cutoff
            as a fraction of the detector Nyquist frequency (default Hann at Nyquist, as FDK
            reconstructions of CBCT commonly use).
    """

    noise_hu: float = 30.0
    shading_hu: float = 120.0
    cupping_hu: float = 40.0
    streak_hu: float = 60.0
    n_streaks: int = 12
    gain_range: tuple[float, float] = (0.92, 1.08)
    offset_range_hu: tuple[float, float] = (-60.0, 60.0)
    fov_fraction: float = 0.9
    fov_radius_mm: float = FOV_RADIUS_FULL_FAN_MM
    n_views: int = 64
    spr: float = 0.5
    scatter_sigma_mm: float = 60.0
    beam_hardening: float = 0.02
    window: str = "hann"
    cutoff: float = 1.0

    def __post_init__(self) -> None:
        # Checked here, when a config is made, not deep inside a simulation.
        for name in ("noise_hu", "shading_hu", "streak_hu", "spr"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not math.isfinite(self.cupping_hu):
            raise ValueError(f"cupping_hu must be a finite number, got {self.cupping_hu!r}")
        check_count(self.n_streaks, "n_streaks", minimum=0)
        check_count(self.n_views, "n_views", minimum=8)
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
        for name in ("fov_radius_mm", "scatter_sigma_mm"):
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)!r}")
        if not 0 <= self.beam_hardening < 0.5:
            raise ValueError(f"beam_hardening must lie in [0, 0.5), got {self.beam_hardening!r}")
        if self.window not in _cbct.APODISATIONS:
            raise ValueError(f"window must be one of {_cbct.APODISATIONS}, got {self.window!r}")
        if not 0 < self.cutoff <= 1:
            raise ValueError(
                f"cutoff must lie in (0, 1] (fraction of Nyquist), got {self.cutoff!r}"
            )


def fov_mask(shape: tuple[int, int], spacing_mm, radius_mm: float) -> torch.Tensor:
    """``(H, W)`` bool: pixel centres within ``radius_mm`` of the slice centre."""
    s_row, s_col = _in_plane(spacing_mm)
    u = (torch.arange(shape[0]) - (shape[0] - 1) / 2) * s_row
    v = (torch.arange(shape[1]) - (shape[1] - 1) / 2) * s_col
    return u[:, None] ** 2 + v[None, :] ** 2 <= radius_mm**2


def cbct_line_integrals(
    p: torch.Tensor,
    artefacts: CBCTArtefacts,
    bin_mm: float,
    row_mm: float,
    generator: torch.Generator | None,
    mu_water: float = MU_WATER_PER_MM,
) -> torch.Tensor:
    """Ideal line integrals ``(V, Z, T)`` -> what the CBCT measures, ``-log(I / I0)``.

    Beam-hardening residual, primary + scatter counts, quantum noise (Gaussian approximation of
    Poisson), log; no scatter correction.
    """
    a = artefacts
    p_ref = mu_water * 300.0  # 300 mm of water
    p_bh = p - (a.beam_hardening / p_ref) * p**2
    if a.noise_hu > 0:
        noise_mu = a.noise_hu * mu_water / 1000.0
        i0 = _cbct.photons_for_noise(
            noise_mu, p.shape[0], bin_mm, p.shape[-1], a.window, a.cutoff, mu_water
        )
    else:
        i0 = 1e6  # noiseless: any I0 gives the same log ratio
    counts = i0 * torch.exp(-p_bh)  # (V, Z, T) primaries
    if a.spr > 0:
        counts = counts + _cbct.scatter_counts(
            p, i0, a.spr, a.scatter_sigma_mm, bin_mm, row_mm, mu_water
        )
    if a.noise_hu > 0:
        counts = counts + counts.sqrt() * torch.randn(counts.shape, generator=generator)
    return -torch.log(counts.clamp_min(1.0) / i0)


def simulate_cbct(
    ct_hu: torch.Tensor,
    generator: torch.Generator | None = None,
    artefacts: CBCTArtefacts = CBCTArtefacts(),
    *,
    spacing_mm=1.0,
    mu_water: float = MU_WATER_PER_MM,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rebuild CT slices as a CBCT from simulated projections.

    Steps: HU -> mu; parallel projections of every axial slice over ``artefacts.n_views`` angles
    in 180 degrees; beam-hardening residual, scatter, quantum noise and log
    (:func:`cbct_line_integrals`); filtered back-projection; mu -> HU; a per-subject gain and
    offset; air outside the circular field of view. Cupping, streaks and noise therefore depend
    on the object's size and contents (:mod:`medgen_nb.data.cbct`).

    Args:
        ct_hu: ``(..., H, W)`` CT in HU; leading dimensions are axial slices of one subject, which
            share one scan (scatter spreads across them) and one miscalibration.
        generator: for reproducible noise and miscalibration.
        artefacts: acquisition and reconstruction settings.
        spacing_mm: pixel size, a number (isotropic) or ``(row, col[, slice])`` mm (default 1 mm;
            the slice spacing defaults to the row spacing).

    Returns:
        ``(cbct_hu, fov_mask)``: the CBCT in HU with the same shape, and the ``(H, W)`` bool field
        of view.
    """
    if ct_hu.ndim < 2:
        raise ValueError(f"ct_hu must have shape (..., H, W), got {tuple(ct_hu.shape)}")
    pixel = _in_plane(spacing_mm)
    three = not isinstance(spacing_mm, int | float) and len(spacing_mm) == 3
    slice_mm = float(spacing_mm[2]) if three else pixel[0]
    h, w = ct_hu.shape[-2:]
    g = generator
    a = artefacts
    device = ct_hu.device
    slices = ct_hu.detach().float().cpu().reshape(-1, h, w)  # (Z, H, W)
    mu = hu_to_mu(slices, mu_water)
    p, angles, bin_mm, support_mm = _cbct.project_slices(mu, pixel, a.n_views, a.fov_radius_mm)
    measured = cbct_line_integrals(p, a, bin_mm, slice_mm, g, mu_water)
    if support_mm > a.fov_radius_mm:  # the body reaches beyond the field of view: fade out
        n_extra = max(8, round((support_mm - a.fov_radius_mm) / bin_mm))  # over the missing part
        measured = _cbct.extend_truncated(measured, n_extra)
    mu_rec = _cbct.fbp(measured, angles, bin_mm, (h, w), pixel, a.window, a.cutoff)
    fov = fov_mask((h, w), pixel, a.fov_radius_mm)

    def uniform(lo: float, hi: float) -> float:
        return float(lo + (hi - lo) * torch.rand((), generator=g))

    gain = uniform(*a.gain_range)
    offset = uniform(*a.offset_range_hu)
    cbct = gain * mu_to_hu(mu_rec, mu_water) + offset
    cbct = torch.where(fov, cbct, torch.full_like(cbct, AIR_HU)).clamp(-1024.0, 3071.0)
    return cbct.reshape(ct_hu.shape).to(device), fov
