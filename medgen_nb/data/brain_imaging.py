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
* Gadolinium: ``R1 = 1/T1 + r1 C`` and ``R2 = 1/T2 + r2 C`` with r1 ~ 4 /mM/s, r2 ~ 5 /mM/s at
  1.5-3 T (Rohrer et al., Invest Radiol 40:715-724, 2005); only the enhancing rim takes it up.
* CT numbers in HU: CSF ~5, GM ~40, WM ~30, cancellous (diploe) ~800, cortical bone ~1800.
* FDG uptake as SUV: true GM/WM ratio ~3.7, inside the 2.5-4 range reported for cortex over white
  matter; measured ratios are lower because of the scanner's partial-volume blur. The tumour rim is
  hypermetabolic (high-grade glioma), necrosis photopenic, oedema below normal WM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from medgen_nb.data.brain_anatomy import TISSUES, T
from medgen_nb.data.ct_physics import (
    AIR_HU,
    CT_KERNELS,
    CBCTArtefacts,
    CTProtocol,
    add_ct_noise,
    simulate_cbct,
)
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
CT_HU = np.array([AIR_HU, 5.0, 40.0, 30.0, 1800.0, 800.0, -20.0, 15.0, 42.0, 20.0, 25.0])
FDG_SUV = np.array([0.0, 0.3, 9.5, 2.6, 0.4, 0.6, 0.8, 0.7, 11.0, 2.0, 2.2])
R1_PER_MM_S = 4.0  # gadolinium relaxivities (/mM/s)
R2_PER_MM_S = 5.0
_CT_FWHM_MM = 1.2  # in-plane resolution of a head CT reconstruction kernel
_BONE = [T["cortical_bone"], T["cancellous_bone"]]
# 511 keV attenuation per tissue (1/mm): water-like soft tissues, cortical bone, diploe half-way,
# air 0 (NIST XCOM; see medgen_nb.data.pet_physics).
_MU_511 = np.full(len(TISSUES), MU_511_WATER_PER_MM)
_MU_511[T["air"]] = 0.0
_MU_511[T["cortical_bone"]] = MU_511_BONE_PER_MM
_MU_511[T["cancellous_bone"]] = 0.5 * (MU_511_WATER_PER_MM + MU_511_BONE_PER_MM)


@dataclass(frozen=True)
class MRSequence:
    """Timing of one MR acquisition in ms. ``ti_ms`` makes it inversion recovery (IR-SE).

    For inversion recovery ``ti_ms=None`` means "null CSF": ``TI = T1_csf ln(2 / (1 + e^(-TR/T1_csf)))``.
    """

    tr_ms: float
    te_ms: float
    inversion: bool = False
    ti_ms: float | None = None

    def __post_init__(self) -> None:
        if not (self.tr_ms > 0 and self.te_ms > 0):
            raise ValueError(
                f"tr_ms and te_ms must be > 0 ms, got TR={self.tr_ms}, TE={self.te_ms}"
            )
        if self.te_ms >= self.tr_ms:
            raise ValueError(
                f"echo time te_ms={self.te_ms} must be shorter than repetition time tr_ms={self.tr_ms}"
            )
        if self.ti_ms is not None:
            if not self.inversion:
                raise ValueError(
                    f"ti_ms={self.ti_ms} given but inversion=False; set inversion=True"
                )
            if not 0 < self.ti_ms < self.tr_ms:
                raise ValueError(
                    f"inversion time ti_ms={self.ti_ms} must lie in (0, tr_ms={self.tr_ms})"
                )


def csf_null_ti(tr_ms: float, t1_csf_ms: float) -> float:
    """Inversion time (ms) that nulls a tissue of ``t1_csf_ms`` for repetition ``tr_ms``."""
    return t1_csf_ms * math.log(2.0 / (1.0 + math.exp(-tr_ms / t1_csf_ms)))


def mr_signal(
    seq: MRSequence, pd: np.ndarray, t1_ms: np.ndarray, t2_ms: np.ndarray, ti_ms: float | None
) -> np.ndarray:
    """Per-tissue signal (a.u.) of a spin echo or inversion-recovery spin echo.

    Spin echo: ``S = PD (1 - e^(-TR/T1)) e^(-TE/T2)``; inversion recovery (magnitude):
    ``S = PD |1 - 2 e^(-TI/T1) + e^(-TR/T1)| e^(-TE/T2)``.
    """
    decay = np.exp(-seq.te_ms / t2_ms)
    if seq.inversion:
        return pd * np.abs(1 - 2 * np.exp(-ti_ms / t1_ms) + np.exp(-seq.tr_ms / t1_ms)) * decay
    return pd * (1.0 - np.exp(-seq.tr_ms / t1_ms)) * decay


def tissue_table(field_t: float, rng: np.random.Generator, jitter: float) -> dict[str, np.ndarray]:
    """Per-subject tissue values: literature values times a clipped log-normal jitter per tissue.

    ``jitter`` is the relative standard deviation (clipped at 2 sd) for PD, T1, T2 and SUV; HU of
    soft tissues move by ``jitter * 100`` HU sd and bone by ``jitter`` relative.
    """

    def factor(n: int, sd: float) -> np.ndarray:
        return np.exp(np.clip(rng.standard_normal(n), -2, 2) * sd)

    k = len(TISSUES)
    hu = CT_HU + np.clip(rng.standard_normal(k), -2, 2) * jitter * 100
    hu[_BONE] = CT_HU[_BONE] * factor(2, jitter)
    hu[T["air"]] = AIR_HU
    return {
        "pd": PROTON_DENSITY * factor(k, jitter),
        "t1": T1_MS[field_t] * factor(k, jitter),
        "t2": T2_MS[field_t] * factor(k, jitter),
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
    """Magnitude of a complex signal with Gaussian noise of ``sigma`` in both channels (Rician)."""
    re = signal + rng.standard_normal(signal.shape, dtype=np.float32) * sigma
    im = rng.standard_normal(signal.shape, dtype=np.float32) * sigma
    return np.sqrt(re * re + im * im)


def simulate_mr(
    frac: np.ndarray,
    table: dict[str, np.ndarray],
    seq: MRSequence,
    field_t: float,
    bias: np.ndarray,
    snr: float,
    rng: np.random.Generator,
    gd_mM: float = 0.0,
) -> np.ndarray:
    """One MR volume (a.u.): signal equation per tissue, partial-volume mix, bias field, Rician noise.

    ``gd_mM`` is the gadolinium concentration (mM) in the enhancing compartment (T1ce). The noise
    sigma is the mean brain (GM/WM/CSF) tissue signal divided by ``snr``.
    """
    r1, r2 = 1000.0 / table["t1"], 1000.0 / table["t2"]  # 1/s
    gd = np.zeros(len(TISSUES))
    gd[T["enhancing"]] = gd_mM
    t1 = 1000.0 / (r1 + R1_PER_MM_S * gd)
    t2 = 1000.0 / (r2 + R2_PER_MM_S * gd)
    ti = seq.ti_ms
    if seq.inversion and ti is None:
        ti = csf_null_ti(seq.tr_ms, T1_MS[field_t][T["csf"]])
    per_tissue = mr_signal(seq, table["pd"], t1, t2, ti)
    clean = mix(frac, per_tissue) * bias
    brain = [T["csf"], T["gm"], T["wm"]]
    reference = float(np.abs(per_tissue[brain]).mean())
    sigma = max(reference, 1e-6) / snr
    return add_rician_noise(clean, sigma, rng)


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
