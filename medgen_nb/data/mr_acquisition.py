"""MR acquisition of the simulated brain phantom: named protocols, signal equations, k-space, coils.

Stages of one MR volume (used by :func:`medgen_nb.data.brain_imaging.simulate_mr`):

1. **Protocol signal equation** per compartment, signed (longitudinal magnetisation after an
   inversion can be negative), as a cubic polynomial in the local transmit flip-angle scale
   ``kappa = B1+ / B1+_nominal`` (:func:`signal_coefficients`).
2. **Partial-volume mix of the signed signals**, then magnitude later, so that compartments of
   opposite sign cancel inside a voxel (the dark boundary lines of inversion recovery).
3. **k-space**: the ideal image is Fourier transformed, truncated to the acquisition matrix (Gibbs
   ringing) and optionally undersampled along the phase-encode axis with zero filling
   (:func:`acquire_kspace`).
4. **Multi-coil receive** with smooth loop-coil sensitivities and sum-of-squares reconstruction,
   whose magnitude follows a noncentral chi distribution with ``2 n_coils`` degrees of freedom
   (Constantinides, Atalar & McVeigh, MRM 38:852-857, 1997) (:func:`sos_magnitude`).

Protocols (:data:`PROTOCOLS`, each ``factory(field_t) -> MRSequence``): ``"se"`` spin echo,
``"tse"`` turbo spin echo (T2w), ``"pd_tse"``, ``"spgr"`` spoiled gradient echo (FLASH),
``"mprage"``, ``"flair"`` (IR-TSE nulling CSF) and ``"stir"`` (IR-TSE nulling fat). Timings are
typical clinical values; sources are given in each factory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

SEQUENCE_KINDS: tuple[str, ...] = ("se", "tse", "spgr", "mprage")
UNDERSAMPLING: tuple[str, ...] = ("regular", "random")
MPRAGE_INVERSION_EFFICIENCY = 0.96  # adiabatic inversion, B1-insensitive (approx.)
_KAPPA_NODES = np.cos(np.pi * (np.arange(9) + 0.5) / 9)  # Chebyshev nodes on [-1, 1]


@dataclass(frozen=True)
class MRSequence:
    """Timing of one MR acquisition (times in ms, flip angle in degrees).

    ``kind``: ``"se"`` spin echo, ``"tse"`` turbo spin echo (``te_ms`` is the *effective* TE, the
    echo that fills the centre of k-space; ``echo_train_length`` echoes ``echo_spacing_ms`` apart),
    ``"spgr"`` spoiled gradient echo (``flip_deg``; decays with T2*), ``"mprage"`` (``tr_ms`` is the
    time between inversions, ``ti_ms`` the time from inversion to the k-space centre,
    ``echo_train_length`` readout pulses of ``flip_deg`` every ``echo_spacing_ms``).
    ``inversion=True`` prepares a spin echo / TSE with a 180 deg inversion (FLAIR, STIR);
    ``ti_ms=None`` then means "null CSF": ``TI = T1_csf ln(2 / (1 + e^(-T_rec/T1_csf)))``.
    """

    tr_ms: float
    te_ms: float
    inversion: bool = False
    ti_ms: float | None = None
    kind: str = "se"
    flip_deg: float = 90.0
    echo_train_length: int = 1
    echo_spacing_ms: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in SEQUENCE_KINDS:
            raise ValueError(f"kind must be one of {SEQUENCE_KINDS}, got {self.kind!r}")
        if not (self.tr_ms > 0 and self.te_ms > 0):
            raise ValueError(
                f"tr_ms and te_ms must be > 0 ms, got TR={self.tr_ms}, TE={self.te_ms}"
            )
        if self.te_ms >= self.tr_ms:
            raise ValueError(
                f"echo time te_ms={self.te_ms} must be shorter than repetition time tr_ms={self.tr_ms}"
            )
        if not 0 < self.flip_deg <= 180:
            raise ValueError(f"flip_deg must lie in (0, 180], got {self.flip_deg!r}")
        if int(self.echo_train_length) != self.echo_train_length or self.echo_train_length < 1:
            raise ValueError(
                f"echo_train_length must be an int >= 1, got {self.echo_train_length!r}"
            )
        train = self.echo_train_length > 1 or self.kind == "mprage"
        if train and not (self.echo_spacing_ms or 0) > 0:
            raise ValueError(
                f"echo_spacing_ms must be > 0 for kind={self.kind!r} with echo_train_length="
                f"{self.echo_train_length}, got {self.echo_spacing_ms!r}"
            )
        if self.inversion and self.kind not in ("se", "tse"):
            raise ValueError(f"inversion=True needs kind 'se' or 'tse', got kind={self.kind!r}")
        if self.ti_ms is not None and not (self.inversion or self.kind == "mprage"):
            raise ValueError(f"ti_ms={self.ti_ms} given but inversion=False; set inversion=True")
        if self.kind == "tse" and self.te_ms > self.train_ms:
            raise ValueError(
                f"effective te_ms={self.te_ms} lies beyond the echo train "
                f"({self.echo_train_length} x {self.echo_spacing_ms} ms)"
            )
        if self.kind == "mprage":
            half = self.train_ms / 2
            if self.ti_ms is None or not half <= self.ti_ms <= self.tr_ms - half:
                raise ValueError(
                    f"mprage ti_ms={self.ti_ms} must lie in [{half:g}, tr_ms - {half:g}] "
                    "(half the readout train before and after the k-space centre)"
                )
        elif self.ti_ms is not None and not 0 < self.ti_ms < self.tr_ms - self.train_ms:
            raise ValueError(
                f"inversion time ti_ms={self.ti_ms} must lie in (0, tr_ms={self.tr_ms} minus the "
                f"echo train {self.train_ms:g} ms)"
            )

    @property
    def train_ms(self) -> float:
        """Duration of the echo / readout train (ms); 0 for a single echo."""
        if self.echo_train_length == 1 and self.kind != "mprage":
            return 0.0
        return self.echo_train_length * float(self.echo_spacing_ms)

    @property
    def recovery_ms(self) -> float:
        """Free T1 recovery time from the end of the train to the next excitation/inversion."""
        return self.tr_ms - (self.train_ms if self.kind == "tse" else 0.0)


def null_ti(recovery_ms: float, t1_ms: float) -> float:
    """Inversion time (ms) that nulls a tissue of ``t1_ms``, recovering ``recovery_ms`` per TR."""
    return t1_ms * math.log(2.0 / (1.0 + math.exp(-recovery_ms / t1_ms)))


# --------------------------------------------------------------------------- named protocols
# Typical clinical timings at 1.5 T and 3 T. General ranges: Bernstein, King & Zhou, *Handbook of
# MRI Pulse Sequences* (Elsevier 2004), ch. 14 (gradient echo), 16 (RARE/TSE), 17 (SE); MPRAGE:
# ADNI protocols (Jack et al., JMRI 27:685-691, 2008). Marrow T1 for the STIR null: 288 ms at
# 1.5 T, 371 ms at 3 T (Gold et al., AJR 183:343-351, 2004).
_MARROW_T1_MS = {1.5: 288.0, 3.0: 371.0}


def spin_echo(field_t: float = 3.0) -> MRSequence:
    """T1-weighted 2D spin echo: TR 500 ms (1.5 T) / 600 ms (3 T, longer T1), TE 10 ms."""
    return MRSequence(tr_ms=500.0 if field_t < 2 else 600.0, te_ms=10.0)


def turbo_spin_echo(field_t: float = 3.0) -> MRSequence:
    """T2-weighted TSE: TR 4000/5000 ms, effective TE 100 ms, echo train 15 x 10 ms."""
    tr = 4000.0 if field_t < 2 else 5000.0
    return MRSequence(tr, 100.0, kind="tse", echo_train_length=15, echo_spacing_ms=10.0)


def pd_turbo_spin_echo(field_t: float = 3.0) -> MRSequence:
    """Proton-density TSE: TR 3000/3500 ms, effective TE 15 ms (first echo), train 5 x 15 ms."""
    tr = 3000.0 if field_t < 2 else 3500.0
    return MRSequence(tr, 15.0, kind="tse", echo_train_length=5, echo_spacing_ms=15.0)


def spgr(field_t: float = 3.0) -> MRSequence:
    """3D spoiled gradient echo (FLASH/SPGR) T1w: TR 25/20 ms, TE 5/4 ms, flip 30/25 deg."""
    if field_t < 2:
        return MRSequence(25.0, 5.0, kind="spgr", flip_deg=30.0)
    return MRSequence(20.0, 4.0, kind="spgr", flip_deg=25.0)


def mprage(field_t: float = 3.0) -> MRSequence:
    """MPRAGE (ADNI, Jack et al. 2008): 3 T TR 2300, TI 900, TE 2.98 ms, flip 9 deg; 1.5 T TR 2400,
    TI 1000, TE 3.6 ms, flip 8 deg. 160 readout pulses per inversion, 7.1 / 8.6 ms apart."""
    if field_t < 2:
        return MRSequence(2400.0, 3.6, None, 1000.0, "mprage", 8.0, 160, 8.6)
    return MRSequence(2300.0, 2.98, None, 900.0, "mprage", 9.0, 160, 7.1)


def flair(field_t: float = 3.0) -> MRSequence:
    """T2 FLAIR (IR-TSE): TR 9000 ms, effective TE 120 ms, train 16 x 10 ms, TI nulls CSF (None:
    computed from the CSF T1 of the tissue table, ~2.4-2.5 s)."""
    del field_t  # the same timings are used at 1.5 T and 3 T; TI follows CSF's T1
    return MRSequence(9000.0, 120.0, True, None, "tse", echo_train_length=16, echo_spacing_ms=10.0)


def stir(field_t: float = 3.0) -> MRSequence:
    """STIR (IR-TSE): TR 4000 ms, effective TE 40 ms, train 8 x 10 ms, TI nulling marrow fat
    (~200 ms at 1.5 T, ~257 ms at 3 T from the marrow T1 of Gold et al. 2004)."""
    tr, train = 4000.0, 80.0
    ti = null_ti(tr - train, _MARROW_T1_MS[1.5 if field_t < 2 else 3.0])
    return MRSequence(
        tr, 40.0, True, round(ti, 1), "tse", echo_train_length=8, echo_spacing_ms=10.0
    )


PROTOCOLS = {
    "se": spin_echo,
    "tse": turbo_spin_echo,
    "pd_tse": pd_turbo_spin_echo,
    "spgr": spgr,
    "mprage": mprage,
    "flair": flair,
    "stir": stir,
}
# The default protocol of each phantom contrast (t1ce: the same MPRAGE after gadolinium).
DEFAULT_PROTOCOL = {
    "t1w": "mprage",
    "t2w": "tse",
    "pd": "pd_tse",
    "flair": "flair",
    "t1ce": "mprage",
}


def protocol(name: str, field_t: float = 3.0) -> MRSequence:
    """The named protocol (a key of :data:`PROTOCOLS`) at ``field_t`` tesla."""
    if name not in PROTOCOLS:
        raise ValueError(f"protocol name must be one of {tuple(PROTOCOLS)}, got {name!r}")
    return PROTOCOLS[name](field_t)


# --------------------------------------------------------------------------- signal equations


def signal(seq: MRSequence, pd, t1_ms, t2_ms, t2s_ms, ti_ms: float | None, kappa=1.0):
    """Signed transverse magnetisation at the k-space-centre echo (a.u.); arrays broadcast.

    ``kappa`` scales every RF flip angle (B1+ inhomogeneity). With ``a = kappa flip``,
    ``b = kappa 180 deg``, ``E(t) = e^(-t/T1)``:

    * SE / TSE: ``Mz = (1 - E(T_rec)) / (1 - E(T_rec) cos a cos b)`` (SE; the TSE train leaves
      ``Mz ~ 0``, so its denominator is 1), ``S = PD Mz sin a sin^2(b/2) e^(-TE/T2)``; ``T_rec`` is
      TR minus the train. At ``kappa = 1`` this is ``PD (1 - e^(-TR/T1)) e^(-TE/T2)``.
    * IR-SE / IR-TSE: ``Mz(TI) = 1 - (1 - cos(b) (1 - E(T_rec - TI))) E(TI)``, signed; at
      ``kappa = 1``: ``1 - 2 E(TI) + E(T_rec)``.
    * SPGR (Ernst): ``S = PD sin a (1 - E1) / (1 - cos a E1) e^(-TE/T2*)``, ``E1 = E(TR)``.
    * MPRAGE: the recursive steady state of Deichmann, Good, Josephs, Ashburner & Turner
      (NeuroImage 12:112-127, 2000; as in Wang et al., PLoS One 9:e96899, 2014): inversion
      (efficiency 0.96, adiabatic), recovery for ``TA = TI - N tau / 2``, ``N`` pulses ``a`` every
      ``tau`` (``M -> M cos a E(tau) + 1 - E(tau)``), recovery ``TD = TR - TI - N tau / 2``; the
      signal is the magnetisation at the centre pulse ``N/2`` times ``sin a e^(-TE/T2*)``.
    """
    kappa = np.asarray(kappa, dtype=np.float64)
    a = np.deg2rad(seq.flip_deg) * kappa
    if seq.kind == "spgr":
        e1 = np.exp(-seq.tr_ms / t1_ms)
        return pd * np.sin(a) * (1 - e1) / (1 - np.cos(a) * e1) * np.exp(-seq.te_ms / t2s_ms)
    if seq.kind == "mprage":
        return _mprage(seq, pd, t1_ms, t2s_ms, a)
    b = np.pi * kappa
    echo = np.sin(a) * np.sin(b / 2) ** 2 * np.exp(-seq.te_ms / t2_ms)
    if seq.inversion:
        mz_start = 1 - np.exp(-(seq.recovery_ms - ti_ms) / t1_ms)
        mz = 1 - (1 - np.cos(b) * mz_start) * np.exp(-ti_ms / t1_ms)
    else:
        e_rec = np.exp(-seq.recovery_ms / t1_ms)
        residual = 0.0 if seq.kind == "tse" else np.cos(a) * np.cos(b)
        mz = (1 - e_rec) / (1 - e_rec * residual)
    return pd * mz * echo


def _mprage(seq: MRSequence, pd, t1_ms, t2s_ms, a):
    n, tau = seq.echo_train_length, float(seq.echo_spacing_ms)
    ta = seq.ti_ms - n * tau / 2
    td = seq.tr_ms - seq.ti_ms - n * tau / 2
    e_tau, e_a, e_d = np.exp(-tau / t1_ms), np.exp(-ta / t1_ms), np.exp(-td / t1_ms)
    q = np.cos(a) * e_tau  # per-pulse decay of the deviation from the train's steady state
    m_star = (1 - e_tau) / (1 - q)
    inv = -MPRAGE_INVERSION_EFFICIENCY
    # M_pre (before inversion) solves M_pre = 1 - (1 - B) e_d, B = end of train (linear in M_pre).
    qn = q**n
    num = 1 - e_d + e_d * (m_star * (1 - qn) + qn * (1 - e_a))
    m_pre = num / (1 - e_d * qn * inv * e_a)
    m_start = 1 - (1 - inv * m_pre) * e_a  # at the first readout pulse
    m_centre = m_star + (m_start - m_star) * q ** (n // 2)
    return pd * m_centre * np.sin(a) * np.exp(-seq.te_ms / t2s_ms)


def signal_coefficients(
    seq: MRSequence, pd, t1_ms, t2_ms, t2s_ms, ti_ms: float | None, kappa_range: float
) -> np.ndarray:
    """``(4, K)`` cubic coefficients ``c_j`` with ``S_k(kappa) ~ sum_j c_jk (kappa - 1)^j``.

    Fitted on Chebyshev nodes over ``|kappa - 1| <= kappa_range`` (exact at ``kappa_range = 0``:
    only ``c_0`` is non-zero), so that a voxel-wise B1+ field costs four fraction mixes, not one
    signal equation per voxel and compartment.
    """
    if kappa_range <= 0:
        coeffs = np.zeros((4, len(pd)))
        coeffs[0] = signal(seq, pd, t1_ms, t2_ms, t2s_ms, ti_ms)
        return coeffs
    delta = _KAPPA_NODES * kappa_range  # (9,)
    s = signal(seq, pd, t1_ms, t2_ms, t2s_ms, ti_ms, 1 + delta[:, None])  # (9, K)
    vander = np.vander(delta, 4, increasing=True)  # (9, 4)
    return np.linalg.lstsq(vander, s, rcond=None)[0]


def mix_polynomial(frac: np.ndarray, coeffs: np.ndarray, delta: np.ndarray | None) -> np.ndarray:
    """``sum_k frac_k S_k(1 + delta)``: ``(K, *S)``, ``(4, K)``, ``(*S)`` -> ``(*S)`` float32."""
    if delta is None or not np.any(coeffs[1:]):
        return np.tensordot(coeffs[0].astype(np.float32), frac, axes=(0, 0))
    m = np.tensordot(coeffs.astype(np.float32), frac, axes=(1, 0))  # (4, *S)
    return m[0] + delta * (m[1] + delta * (m[2] + delta * m[3]))  # Horner


# --------------------------------------------------------------------------- scanner fields


def _head_coordinates(shape: tuple[int, ...], spacing_mm: tuple[float, ...]) -> np.ndarray:
    """``(3, X, Y, Z)`` mm from the grid centre, for voxel sizes ``spacing_mm`` per axis."""
    axes = [(np.arange(n) - (n - 1) / 2) * d for n, d in zip(shape, spacing_mm, strict=True)]
    return np.stack(np.meshgrid(*axes, indexing="ij", sparse=False)).astype(np.float32)


@lru_cache(maxsize=8)
def b1_profile(shape: tuple[int, ...], spacing_mm: tuple[float, ...]) -> np.ndarray:
    """Unit transmit-field profile ``(X, Y, Z)`` float32: +1 at the head centre, -1 at its surface.

    ``kappa = 1 + amplitude * profile``. At 3 T the RF wavelength in tissue (~12 cm) is comparable
    to the head, and standing-wave (dielectric) effects make B1+ highest in the centre and lowest
    at the periphery, by roughly +-20-30 % (Vaughan et al., MRM 46:24-30, 2001; Bernstein, Huston &
    Ward, JMRI 24:735-746, 2006). Modelled as ``1 - 2 rho^2`` over an ellipsoid of semi-axes 75, 95,
    85 mm (a head), clipped at its surface.
    """
    x, y, z = _head_coordinates(shape, spacing_mm)
    rho2 = (x / 75.0) ** 2 + (y / 95.0) ** 2 + (z / 85.0) ** 2
    return (1.0 - 2.0 * np.minimum(rho2, 1.0)).astype(np.float32)


@lru_cache(maxsize=8)
def coil_sensitivities(
    shape: tuple[int, ...], spacing_mm: tuple[float, ...], n_coils: int
) -> np.ndarray:
    """``(n_coils, X, Y, Z)`` float32 receive sensitivities of loop coils around the head.

    Loops of radius ``a = 80`` mm sit on one ring (two rings above 8 coils, 40 mm apart) 130 mm
    from the head axis; each has the on-axis loop field ``a^2 / (a^2 + d^2)^(3/2)`` at distance
    ``d`` (Biot-Savart), which gives the brighter periphery of phased-array images (Roemer et al.,
    MRM 16:192-225, 1990). Scaled so that ``sqrt(sum_i s_i^2)`` averages 1 in the central head.
    """
    coords = _head_coordinates(shape, spacing_mm)
    rings = [0.0] if n_coils <= 8 else [-20.0, 20.0]
    per_ring = math.ceil(n_coils / len(rings))
    a = 80.0
    maps = []
    for i in range(n_coils):
        ring, k = divmod(i, per_ring)
        phi = 2 * np.pi * (k + 0.5 * ring) / per_ring
        centre = np.array([130 * np.cos(phi), 130 * np.sin(phi), rings[ring]], np.float32)
        d2 = ((coords - centre[:, None, None, None]) ** 2).sum(0)
        maps.append(a**2 / (a**2 + d2) ** 1.5)
    s = np.stack(maps).astype(np.float32)
    central = (coords**2).sum(0) < 60.0**2
    s /= np.sqrt((s**2).sum(0))[central].mean()
    return s


# --------------------------------------------------------------------------- k-space and noise


@dataclass(frozen=True)
class MRScanner:
    """Scanner-side settings of an MR acquisition (set from ``BrainPhantomConfig``).

    ``matrix``: acquisition matrix over the phantom field of view per grid axis (None: the grid).
    ``acceleration``: undersampling factor along the phase-encode axis (Y, anterior-posterior);
    ``undersampling``: ``"regular"`` (every R-th line) or ``"random"`` lines, both keeping a fully
    sampled centre of 16 lines, reconstructed by zero filling. ``n_coils`` receive channels,
    sum-of-squares. ``b1_amplitude``: peak relative B1+ deviation (:func:`b1_profile`).
    ``prescan_normalize``: divide the image by the combined receive profile (the vendor body-coil
    normalisation), which leaves the noise spatially varying. ``intensity_scale``: vendor scale.
    """

    n_coils: int = 8
    matrix: tuple[int, int, int] | None = None
    acceleration: int = 1
    undersampling: str = "regular"
    b1_amplitude: float = 0.0
    prescan_normalize: bool = True
    intensity_scale: float = 1.0


def _centred_crop(n: int, m: int) -> slice:
    start = n // 2 - m // 2  # fft-shifted DC sits at n // 2
    return slice(start, start + m)


def phase_encode_mask(n_lines: int, acceleration: int, pattern: str, rng) -> np.ndarray:
    """``(n_lines,)`` bool mask of acquired phase-encode lines (fft-shifted: centre at n // 2)."""
    mask = np.zeros(n_lines, bool)
    centre = _centred_crop(n_lines, min(16, n_lines))
    mask[centre] = True
    if pattern == "regular":
        mask[(np.arange(n_lines) - n_lines // 2) % acceleration == 0] = True
    else:
        n_more = max(0, n_lines // acceleration - int(mask.sum()))
        free = np.flatnonzero(~mask)
        mask[rng.choice(free, size=min(n_more, len(free)), replace=False)] = True
    return mask


def acquire_kspace(image: np.ndarray, matrix: tuple[int, int, int]) -> np.ndarray:
    """Ideal image ``(X, Y, Z)`` -> complex image ``matrix`` (reconstructed at the acquired size).

    Only the centred ``matrix`` block of the image's k-space is acquired: truncation gives coarser
    voxels and Gibbs ringing (~9 % overshoot at edges). ``norm="forward"`` keeps the mean intensity.
    """
    k = torch.fft.fftshift(torch.fft.fftn(torch.from_numpy(image), norm="forward"))
    sl = tuple(_centred_crop(n, m) for n, m in zip(image.shape, matrix, strict=True))
    return torch.fft.ifftn(torch.fft.ifftshift(k[sl]), norm="forward").numpy()


def sos_magnitude(
    amplitude: np.ndarray, sigma: float, n_coils: int, rng: np.random.Generator
) -> np.ndarray:
    """Sum-of-squares magnitude of ``n_coils`` noisy coil images, sampled in two draws per voxel.

    Coil ``i`` sees ``s_i m + n_i`` with complex white noise of ``sigma`` per channel. The
    ``2 n_coils`` real components form a Gaussian vector with isotropic covariance ``sigma^2 I``
    and mean of length ``|m| sqrt(sum_i s_i^2) = amplitude``; rotating it so that the mean lies on
    the first axis changes neither its law nor its length, so the SoS magnitude is exactly
    ``sqrt((amplitude + sigma z)^2 + sigma^2 chi^2_{2 n_coils - 1})`` (noncentral chi with
    ``2 n_coils`` degrees of freedom; Constantinides et al. 1997). Independent per voxel because
    the noise is white. ``amplitude`` ``(*S)`` >= 0 (the coil-combined signal), returns ``(*S)``.
    """
    z = rng.standard_normal(amplitude.shape, dtype=np.float32)
    chi2 = 2.0 * rng.standard_gamma((2 * n_coils - 1) / 2.0, amplitude.shape, dtype=np.float32)
    first = amplitude + sigma * z
    return np.sqrt(first * first + (sigma * sigma) * chi2)


def noncentral_chi_mean_background(sigma: float, n_coils: int) -> float:
    """Mean SoS magnitude where there is no signal: ``sigma sqrt(2) Gamma(n + 1/2) / Gamma(n)``."""
    return sigma * math.sqrt(2.0) * math.exp(math.lgamma(n_coils + 0.5) - math.lgamma(n_coils))


def accelerated_sos(
    image: np.ndarray, sens: np.ndarray, sigma: float, acceleration: int, pattern: str, rng
) -> np.ndarray:
    """Explicit coils for undersampled data: each coil image ``s_i m`` gets white k-space noise on
    the acquired lines only and is zero-filled, so its aliases carry that coil's own weighting.

    ``image`` ``(X, Y, Z)`` complex at the acquisition matrix, ``sens`` ``(C, X, Y, Z)``; returns
    the SoS magnitude ``(X, Y, Z)``. ``norm="ortho"``: noise ``sigma`` per sample = per voxel.
    """
    coils = torch.from_numpy(sens * image[None])  # (C, X, Y, Z)
    k = torch.fft.fftshift(torch.fft.fftn(coils, dim=(1, 2, 3), norm="ortho"), dim=(1, 2, 3))
    shape = k.shape
    noise = rng.standard_normal((2, *shape), dtype=np.float32) * sigma
    k = k + torch.complex(torch.from_numpy(noise[0]), torch.from_numpy(noise[1]))
    mask = phase_encode_mask(shape[2], acceleration, pattern, rng)
    k = k * torch.from_numpy(mask)[None, None, :, None]
    img = torch.fft.ifftn(torch.fft.ifftshift(k, dim=(1, 2, 3)), dim=(1, 2, 3), norm="ortho")
    return torch.sqrt((img.abs() ** 2).sum(0)).numpy()


def resample_to_grid(volume: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Trilinear resampling of an image on the acquisition matrix onto the phantom grid (same FOV),
    as datasets resample scanner images onto a common voxel grid."""
    if volume.shape == tuple(shape):
        return volume
    t = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None]
    out = torch.nn.functional.interpolate(t, size=shape, mode="trilinear", align_corners=False)
    return out[0, 0].numpy()
