"""Imaging physics of the simulated brain phantom: MRI signal equations, CT in HU, FDG-PET.

Every modality is computed from the same partial-volume fractions ``(K, X, Y, Z)`` over
:data:`medgen_nb.data.brain_anatomy.TISSUES`, so all of them are co-registered by construction.
Partial volume follows the physics of each modality: MR signals, X-ray attenuation (linear in HU)
and tracer activity all add up over the compartments of a voxel, so each image is the
fraction-weighted sum of per-tissue values, then blurred, biased and made noisy like a scanner would.

Tissue values (per tissue, in :data:`TISSUES` order):

* MR relaxation times in ms. 3 T grey/white matter: Wansapura et al., JMRI 9:531-538, 1999
  (T1 1331/832 ms, T2 110/80 ms). 1.5 T grey/white matter T2 95/72 ms after Stanisz et al., MRM
  54:507-512, 2005; their 1.5 T WM T1 (884 ms) is longer than most in vivo reports, so 1.5 T T1 uses
  approximate in vivo values (GM ~1100 ms, WM ~650 ms, a GM/WM ratio ~1.7 close to the 3 T one).
  CSF is close to free water (T1 ~4 s, T2 ~2 s; approximate). Fat (scalp, marrow) after Gold et al.,
  AJR 183:343-351, 2004 and Bottomley et al., Med Phys 11:425, 1984. Lesion values are approximate
  literature ranges (oedema and white-matter lesions have longer T1 and T2 than WM; necrosis is
  fluid-like). Proton density is relative water content (GM ~0.8, WM ~0.7).
* Gadolinium: ``R1 = 1/T1 + r1 C`` and ``R2 = 1/T2 + r2 C`` with r1/r2 = 4.1/4.6 /mM/s at 1.5 T
  and 3.7/5.2 at 3 T (Rohrer et al., Invest Radiol 40:715-724, 2005). It reaches the enhancing
  tumour rim and, through :mod:`medgen_nb.data.brain_enhancement`, vessels, sinuses, dura, choroid
  plexus and soft tissue, not normal parenchyma (intact blood-brain barrier).
* MR acquisition (protocols, B1+, k-space, coils, noise): :mod:`medgen_nb.data.mr_acquisition`.
* CT numbers in HU: CSF ~5, GM ~40, WM ~30, cancellous (diploe) ~800, cortical bone ~1800.
* FDG uptake as SUV: true GM/WM ratio ~3.7, inside the 2.5-4 range reported for cortex over white
  matter; measured ratios are lower because of the scanner's partial-volume blur. The tumour rim is
  hypermetabolic (high-grade glioma), necrosis photopenic, oedema below normal WM.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from medgen_nb.data import mr_acquisition
from medgen_nb.data.brain_anatomy import TISSUES, T
from medgen_nb.data.brain_enhancement import (
    CONCENTRATION_RATIO,
    SOFT_TISSUE_RATIO,
    EnhancingStructures,
)
from medgen_nb.data.ct_physics import (
    AIR_HU,
    CT_KERNELS,
    CBCTArtefacts,
    CTProtocol,
    add_ct_noise,
    simulate_cbct,
)
from medgen_nb.data.mr_acquisition import MRScanner, MRSequence, null_ti
from medgen_nb.data.pet_physics import (
    MU_511_BONE_PER_MM,
    MU_511_WATER_PER_MM,
    PET_RECON_PRESETS,
    PETRecon,
    reconstruct_pet,
)

# Columns follow TISSUES: air, csf, gm, wm, cortical, cancellous, soft, necrosis, enh, oedema, wml.
PROTON_DENSITY = np.array([0.0, 1.0, 0.82, 0.70, 0.05, 0.60, 0.85, 0.95, 0.85, 0.88, 0.80])
T1_MS = {
    3.0: np.array([1.0, 4300, 1331, 832, 300, 380, 450, 2800, 1400, 1250, 1150]),
    1.5: np.array([1.0, 4000, 1100, 650, 250, 290, 350, 2500, 1000, 950, 900]),
}
T2_MS = {
    3.0: np.array([1.0, 1800, 110, 80, 1.0, 130, 60, 600, 120, 170, 140]),
    1.5: np.array([1.0, 2000, 95, 72, 1.0, 160, 70, 700, 120, 180, 150]),
}
# T2* (ms). GM/WM at 1.5 T 84/66 ms, at 3 T 66/53 ms (Peters et al., Magn Reson Imaging
# 25:748-753, 2007); the rest approximate: CSF long, trabecular marrow short (susceptibility of the
# bone lattice), cortical bone ultrashort, lesions between WM and fluid.
T2S_MS = {
    3.0: np.array([1.0, 500, 66, 53, 0.5, 10, 30, 300, 60, 90, 70]),
    1.5: np.array([1.0, 800, 84, 66, 0.8, 15, 40, 400, 75, 110, 85]),
}
CT_HU = np.array([AIR_HU, 5.0, 40.0, 30.0, 1800.0, 800.0, -20.0, 15.0, 42.0, 20.0, 25.0])
FDG_SUV = np.array([0.0, 0.3, 9.5, 2.6, 0.4, 0.6, 0.8, 0.7, 11.0, 2.0, 2.2])
# Gd-DTPA relaxivities in plasma (/mM/s), Rohrer et al., Invest Radiol 40:715-724, 2005.
RELAXIVITY_R1 = {1.5: 4.1, 3.0: 3.7}
RELAXIVITY_R2 = {1.5: 4.6, 3.0: 5.2}
REFERENCE_FIELD_T = 1.5  # the field at which BrainPhantomConfig.snr is stated
_PARENCHYMA = [T[n] for n in ("gm", "wm", "enhancing", "oedema", "wm_lesion")]
_CT_FWHM_MM = 1.2  # in-plane resolution of a head CT reconstruction kernel
_BONE = [T["cortical_bone"], T["cancellous_bone"]]
# 511 keV attenuation per tissue (1/mm): water-like soft tissues, cortical bone, diploe half-way,
# air 0 (NIST XCOM; see medgen_nb.data.pet_physics).
_MU_511 = np.full(len(TISSUES), MU_511_WATER_PER_MM)
_MU_511[T["air"]] = 0.0
_MU_511[T["cortical_bone"]] = MU_511_BONE_PER_MM
_MU_511[T["cancellous_bone"]] = 0.5 * (MU_511_WATER_PER_MM + MU_511_BONE_PER_MM)


def csf_null_ti(tr_ms: float, t1_csf_ms: float) -> float:
    """Inversion time (ms) that nulls a tissue of ``t1_csf_ms`` for repetition ``tr_ms``."""
    return null_ti(tr_ms, t1_csf_ms)


def mr_signal(
    seq: MRSequence, pd: np.ndarray, t1_ms: np.ndarray, t2_ms: np.ndarray, ti_ms: float | None
) -> np.ndarray:
    """Per-tissue signal magnitude (a.u.) of ``seq`` at nominal flip angles (T2* = T2 here).

    See :func:`medgen_nb.data.mr_acquisition.signal` for the signed equations;
    :func:`simulate_mr` mixes the signed values before taking the magnitude.
    """
    return np.abs(mr_acquisition.signal(seq, pd, t1_ms, t2_ms, t2_ms, ti_ms))


def _water_t1(field_t: float, water: np.ndarray) -> np.ndarray:
    """T1 (ms) of the brain compartments after scaling their water content by ``water``.

    Brain T1 follows water content through ``1/T1 = A + B/W`` (Fatouros et al., MRM 17:402-413,
    1991); B is fitted here through the GM and WM entries of the literature tables, which gives
    ``d ln T1 / d ln W = B T1 / W`` ~ 2.5 (WM) - 3.5 (GM).
    """
    t1, w = T1_MS[field_t], PROTON_DENSITY
    gm, wm = T["gm"], T["wm"]
    b = (1 / t1[wm] - 1 / t1[gm]) / (1 / w[wm] - 1 / w[gm])
    r1 = 1 / t1 + b * (1 / np.maximum(w * water, 1e-3) - 1 / np.maximum(w, 1e-3))
    out = t1 * water  # non-parenchymal compartments: T1 simply proportional
    out[_PARENCHYMA] = 1 / r1[_PARENCHYMA]
    return out


def tissue_table(field_t: float, rng: np.random.Generator, jitter: float) -> dict[str, np.ndarray]:
    """Per-subject tissue values: literature values times clipped log-normal jitters per tissue.

    PD and T1 share one water-content factor per tissue (relative sd ``jitter / 2``): PD is
    proportional to it and T1 follows it through :func:`_water_t1`; small independent residuals
    (sd ``jitter / 3``) remain on both. T2 (and T2* with it) moves by ``jitter``, SUV by
    ``2.5 jitter``; HU of soft tissues move by ``jitter * 100`` HU sd and bone by ``jitter`` relative.
    """

    def factor(n: int, sd: float) -> np.ndarray:
        return np.exp(np.clip(rng.standard_normal(n), -2, 2) * sd)

    k = len(TISSUES)
    hu = CT_HU + np.clip(rng.standard_normal(k), -2, 2) * jitter * 100
    hu[_BONE] = CT_HU[_BONE] * factor(2, jitter)
    hu[T["air"]] = AIR_HU
    water = factor(k, jitter / 2)
    t2_factor = factor(k, jitter)
    return {
        "pd": PROTON_DENSITY * water * factor(k, jitter / 3),
        "t1": _water_t1(field_t, water) * factor(k, jitter / 3),
        "t2": T2_MS[field_t] * t2_factor,
        "t2s": T2S_MS[field_t] * t2_factor,
        "hu": hu,
        "suv": FDG_SUV * factor(k, 2.5 * jitter),
    }


def mix(frac: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Fraction-weighted sum over compartments: ``(K, X, Y, Z)``, ``(K,)`` -> ``(X, Y, Z)`` float32."""
    return np.tensordot(values.astype(np.float32), frac, axes=(0, 0)).astype(np.float32)


def smooth_field(shape: tuple[int, ...], rng: np.random.Generator, n_ctrl: int = 4) -> np.ndarray:
    """A smooth zero-mean random field with unit control-point sd, ``(X, Y, Z)`` float32."""
    ctrl = torch.from_numpy(rng.standard_normal((1, 1, n_ctrl, n_ctrl, n_ctrl))).float()
    field = torch.nn.functional.interpolate(ctrl, size=shape, mode="trilinear", align_corners=True)
    return field[0, 0].numpy()


def add_rician_noise(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise of ``sigma`` in both channels (Rician).

    The single-coil case of :func:`medgen_nb.data.mr_acquisition.sos_magnitude`.
    """
    re = signal + rng.standard_normal(signal.shape, dtype=np.float32) * sigma
    im = rng.standard_normal(signal.shape, dtype=np.float32) * sigma
    return np.sqrt(re * re + im * im)


def _relaxation(table: dict[str, np.ndarray], field_t: float, gd: np.ndarray):
    """T1, T2, T2* (ms) with gadolinium ``gd`` (mM per tissue): ``R = R0 + r C`` (fast exchange)."""
    r1, r2 = RELAXIVITY_R1[field_t], RELAXIVITY_R2[field_t]
    t1 = 1000.0 / (1000.0 / table["t1"] + r1 * gd)
    t2 = 1000.0 / (1000.0 / table["t2"] + r2 * gd)
    t2s = 1000.0 / (1000.0 / table["t2s"] + r2 * gd)  # r2* >= r2; r2 as a lower bound (approx.)
    return t1, t2, t2s


def simulate_mr(
    frac: np.ndarray,
    table: dict[str, np.ndarray],
    seq: MRSequence,
    field_t: float,
    bias: np.ndarray,
    snr: float,
    rng: np.random.Generator,
    gd_mM: float = 0.0,
    *,
    spacing_mm: float = 2.0,
    scanner: MRScanner | None = None,
    structures: EnhancingStructures | None = None,
    gd_blood_mM: float = 0.0,
) -> np.ndarray:
    """One MR volume ``(X, Y, Z)`` float32 (a.u.) on the grid of ``frac`` ``(K, X, Y, Z)``.

    1. Signed signal per compartment (:func:`~medgen_nb.data.mr_acquisition.signal`), as a cubic
       in the B1+ flip scale ``kappa = 1 + scanner.b1_amplitude * b1_profile``.
    2. Signed partial-volume mix; ``gd_mM`` in the enhancing tumour, and with ``gd_blood_mM > 0``
       gadolinium in soft tissue and in the ``structures`` (vessels, dura, choroid plexus).
    3. Times the bias field ``bias`` and ``B0 / 1.5 T``: at a fixed protocol, signal grows ~B0^2
       and body noise ~B0, so SNR grows ~linearly with B0 (Hoult & Richards, J Magn Reson
       24:71-85, 1976). The noise sigma is the mean CSF/GM/WM signal of this protocol with the
       1.5 T literature tissue values divided by ``snr`` (the SNR at the 1.5 T reference).
    4. k-space truncation to ``scanner.matrix``, coil sum of squares with noncentral chi noise
       (or explicit coils when undersampled), prescan normalisation, resampling onto the grid,
       and the vendor ``intensity_scale``.
    """
    scanner = scanner or MRScanner(n_coils=1, prescan_normalize=False)
    shape = frac.shape[1:]
    spacing = (spacing_mm,) * 3
    gd = np.zeros(len(TISSUES))
    gd[T["enhancing"]] = gd_mM
    gd[T["soft_tissue"]] += SOFT_TISSUE_RATIO * gd_blood_mM
    ti = seq.ti_ms
    if seq.inversion and ti is None:
        ti = null_ti(seq.recovery_ms, T1_MS[field_t][T["csf"]])
    amp = scanner.b1_amplitude
    delta = amp * mr_acquisition.b1_profile(shape, spacing) if amp > 0 else None

    def coeffs(c_mM: np.ndarray) -> np.ndarray:
        t1, t2, t2s = _relaxation(table, field_t, c_mM)
        return mr_acquisition.signal_coefficients(seq, table["pd"], t1, t2, t2s, ti, amp)

    base = coeffs(gd)
    signed = mr_acquisition.mix_polynomial(frac, base, delta)  # (X, Y, Z) signed
    if structures is not None and gd_blood_mM > 0 and len(structures.index):
        idx = structures.index
        sub = frac.reshape(len(TISSUES), -1)[:, idx]  # (K, n)
        d_sub = None if delta is None else delta.reshape(-1)[idx]
        plain = mr_acquisition.mix_polynomial(sub, base, d_sub)
        extra = np.zeros(len(idx), np.float32)
        for share, ratio in zip(structures.share, CONCENTRATION_RATIO.values(), strict=True):
            # Inside a structure's share every compartment holds that structure's concentration
            # (a voxel of vessel is blood, not blood on top of the tissue it displaces).
            c_in = np.maximum(gd, ratio * gd_blood_mM)
            enhanced = mr_acquisition.mix_polynomial(sub, coeffs(c_in), d_sub)
            extra += share * (enhanced - plain)
        signed.reshape(-1)[idx] += extra
    signed *= bias * np.float32(field_t / REFERENCE_FIELD_T)

    ref = mr_acquisition.signal(seq, PROTON_DENSITY, T1_MS[1.5], T2_MS[1.5], T2S_MS[1.5], ti)
    sigma = max(float(np.abs(ref[[T["csf"], T["gm"], T["wm"]]]).mean()), 1e-6) / snr
    matrix = tuple(min(m, n) for m, n in zip(scanner.matrix or shape, shape, strict=True))
    image = signed if matrix == shape else mr_acquisition.acquire_kspace(signed, matrix)
    acq_spacing = tuple(n * spacing_mm / m for n, m in zip(shape, matrix, strict=True))
    sens = mr_acquisition.coil_sensitivities(matrix, acq_spacing, scanner.n_coils)
    receive = np.sqrt((sens**2).sum(0))  # (X', Y', Z') combined receive profile
    if scanner.acceleration > 1:
        mag = mr_acquisition.accelerated_sos(
            image.astype(np.complex64),
            sens,
            sigma,
            scanner.acceleration,
            scanner.undersampling,
            rng,
        )
    else:
        mag = mr_acquisition.sos_magnitude(np.abs(image) * receive, sigma, scanner.n_coils, rng)
    if scanner.prescan_normalize:
        mag = mag / receive
    mag = mr_acquisition.resample_to_grid(mag.astype(np.float32), shape)
    return mag * np.float32(scanner.intensity_scale)


def simulate_ct(
    frac: np.ndarray,
    table: dict[str, np.ndarray],
    spacing_mm: float,
    noise_hu: float | None,
    rng,
    protocol: CTProtocol | None = None,
) -> np.ndarray:
    """CT in HU: attenuation mix, the kernel's in-plane blur, then ramp-spectrum quantum noise.

    ``protocol`` (default :class:`~medgen_nb.data.ct_physics.CTProtocol` with ``noise_hu``) sets
    the kernel (blur FWHM and noise texture) and the noise sd, ``protocol.image_noise_hu``; a
    ``noise_hu`` that is not ``None`` overrides the protocol's dose setting.
    """
    protocol = protocol or CTProtocol(noise_hu=5.0 if noise_hu is None else noise_hu)
    if noise_hu is not None and noise_hu != protocol.noise_hu:
        protocol = CTProtocol(protocol.kvp, protocol.kernel, noise_hu)
    hu = mix(frac, table["hu"])
    sigma_vox = CT_KERNELS[protocol.kernel].fwhm_mm / 2.355 / spacing_mm
    hu = ndimage.gaussian_filter(hu, sigma=(sigma_vox, sigma_vox, _CT_FWHM_MM / 2.355 / spacing_mm))
    g = torch.Generator().manual_seed(int(rng.integers(2**62)))
    axial = torch.from_numpy(hu).permute(2, 0, 1)  # (Z, X, Y): noise is shaped in-plane
    noisy = add_ct_noise(
        axial, protocol.image_noise_hu, g, kernel=protocol.kernel, spacing_mm=spacing_mm
    )
    return noisy.permute(1, 2, 0).contiguous().numpy()


def simulate_cbct_volume(
    ct_hu: np.ndarray, artefacts: CBCTArtefacts, rng, spacing_mm: float = 2.0
) -> np.ndarray:
    """CBCT in HU from the CT ``(X, Y, Z)`` by :func:`medgen_nb.data.ct_physics.simulate_cbct`.

    The axial slices are projected, degraded (scatter, beam hardening, noise) and reconstructed
    as one scan, with one miscalibration.
    """
    g = torch.Generator().manual_seed(int(rng.integers(2**62)))
    axial = torch.from_numpy(ct_hu).permute(2, 0, 1)  # (Z, X, Y): leading dim = axial slices
    cbct, _ = simulate_cbct(axial, g, artefacts, spacing_mm=spacing_mm)
    return cbct.permute(1, 2, 0).contiguous().numpy()


def simulate_pet(
    frac: np.ndarray,
    table: dict[str, np.ndarray],
    spacing_mm: float,
    fwhm_mm: float,
    voxel_mm: float,
    counts_per_suv: float,
    rng: np.random.Generator,
    recon: PETRecon | None = None,
    uptake_scale: float = 1.0,
) -> np.ndarray:
    """FDG-PET in SUV on the common grid: counts in projection space, OSEM, post-filter.

    Steps: true activity (SUV mix, times the subject's global ``uptake_scale``) -> average onto the
    coarser PET grid of ``voxel_mm`` -> 2-D projections per axial slice with the scanner's Gaussian
    resolution ``fwhm_mm`` and 511 keV attenuation -> Poisson counts (``counts_per_suv`` expected
    counts from a PET voxel of SUV 1) -> OSEM and post-filter of ``recon`` (default: the "osem"
    preset) -> trilinear resampling onto the common grid. See :mod:`medgen_nb.data.pet_physics`.
    """
    recon = recon or PET_RECON_PRESETS["osem"]
    activity = mix(frac, table["suv"]) * np.float32(uptake_scale)
    mu = mix(frac, _MU_511)
    factor = max(1, round(voxel_mm / spacing_mm))
    shape = activity.shape
    pad = [(0, (-s) % factor) for s in shape]
    both = torch.from_numpy(np.stack([np.pad(v, pad, mode="edge") for v in (activity, mu)]))
    coarse = torch.nn.functional.avg_pool3d(both[None], factor)[0].numpy()  # (2, x, y, z)
    suv = reconstruct_pet(
        coarse[0], coarse[1], factor * spacing_mm, fwhm_mm, counts_per_suv, recon, rng
    )
    fine = torch.nn.functional.interpolate(
        torch.from_numpy(suv)[None, None],
        scale_factor=factor,
        mode="trilinear",
        align_corners=False,
    )[0, 0]
    return fine[: shape[0], : shape[1], : shape[2]].contiguous().numpy()
