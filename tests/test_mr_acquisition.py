"""MR acquisition physics of the brain phantom: protocols, signed IR mixing, k-space, coils, noise,
field strength, B1+, gadolinium outside the tumour, water-driven PD/T1 (2 mm grid)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from medgen_nb.data import brain_anatomy, brain_enhancement
from medgen_nb.data import brain_imaging as imaging
from medgen_nb.data import mr_acquisition as mra
from medgen_nb.data.brain_anatomy import TISSUES, T
from medgen_nb.data.brain_phantom import BrainPhantomConfig, simulate_brain_subject
from medgen_nb.data.mr_acquisition import MRScanner, MRSequence

FIELDS = (1.5, 3.0)


def literature_signal(name: str, field_t: float, kappa: float = 1.0) -> dict[str, float]:
    """Signed signal of each tissue for protocol ``name`` with the literature tissue table."""
    seq = mra.protocol(name, field_t)
    ti = seq.ti_ms
    if seq.inversion and ti is None:
        ti = mra.null_ti(seq.recovery_ms, imaging.T1_MS[field_t][T["csf"]])
    tables = (imaging.T1_MS, imaging.T2_MS, imaging.T2S_MS)
    t1, t2, t2s = (tab[field_t] for tab in tables)
    s = mra.signal(seq, imaging.PROTON_DENSITY, t1, t2, t2s, ti, kappa)
    return {n: float(s[T[n]]) for n in TISSUES}


# ------------------------------------------------------------------ protocols: tissue order


@pytest.mark.parametrize("field_t", FIELDS)
@pytest.mark.parametrize("name", ["se", "spgr", "mprage"])
def test_t1_weighted_protocols(name, field_t):
    # T1w (SE, FLASH, MPRAGE): WM > GM > CSF and fat (marrow, scalp) brighter than WM (Bernstein,
    # King & Zhou, Handbook of MRI Pulse Sequences, 2004, ch. 14 and 17).
    s = literature_signal(name, field_t)
    assert s["wm"] > s["gm"] > 1.5 * s["csf"]
    assert min(s["soft_tissue"], s["cancellous_bone"]) > s["wm"]


@pytest.mark.parametrize("field_t", FIELDS)
def test_mprage_grey_white_ratio(field_t):
    # Grey-white contrast of MPRAGE, 100 (W - G) / ((W + G) / 2), is ~15-35 % in vivo with partial
    # volume (Salat et al., NeuroImage 48:21-28, 2009); pure tissues give more: WM/GM 1.15-1.8.
    s = literature_signal("mprage", field_t)
    assert 1.15 <= s["wm"] / s["gm"] <= 1.8


@pytest.mark.parametrize("field_t", FIELDS)
def test_t2_and_pd_protocols(field_t):
    # T2w TSE: CSF > GM > WM, lesions and oedema brighter than WM (long T2). PD: GM > WM by
    # ~10-20 % (water content 0.8 vs 0.7) and CSF within +-40 % of GM.
    t2 = literature_signal("tse", field_t)
    assert t2["csf"] > 1.5 * t2["gm"] and t2["gm"] > 1.3 * t2["wm"]
    assert min(t2["oedema"], t2["wm_lesion"]) > 1.5 * t2["wm"]
    pd = literature_signal("pd_tse", field_t)
    assert 1.05 < pd["gm"] / pd["wm"] < 1.3 and 0.6 < pd["csf"] / pd["gm"] < 1.4


@pytest.mark.parametrize("field_t", FIELDS)
def test_flair_nulls_csf_lesions_bright(field_t):
    s = literature_signal("flair", field_t)
    assert abs(s["csf"]) < 0.05 * s["wm"]
    assert min(s["oedema"], s["wm_lesion"]) > 1.3 * max(s["gm"], s["wm"])


@pytest.mark.parametrize("field_t", FIELDS)
def test_stir_nulls_fat_keeps_fluid_bright(field_t):
    # STIR nulls fat (marrow) at TI ~ T1_fat ln 2 (~150-260 ms at 1.5-3 T); fluid stays bright.
    seq = mra.protocol("stir", field_t)
    assert 150 <= seq.ti_ms <= 280
    s = {k: abs(v) for k, v in literature_signal("stir", field_t).items()}
    assert s["cancellous_bone"] < 0.1 * s["wm"] and s["soft_tissue"] < 0.5 * s["wm"]
    assert s["csf"] > s["gm"] > s["wm"]


def test_b1_changes_flip_dependent_signal_and_cubic_fit_is_accurate():
    seq = mra.protocol("spgr", 3.0)
    pd, t1 = imaging.PROTON_DENSITY, imaging.T1_MS[3.0]
    t2, t2s = imaging.T2_MS[3.0], imaging.T2S_MS[3.0]
    hi = mra.signal(seq, pd, t1, t2, t2s, None, 1.25)
    lo = mra.signal(seq, pd, t1, t2, t2s, None, 0.75)
    # 25 deg is above WM's Ernst angle (~12.5 deg at TR 20 ms): a stronger B1+ lowers the signal.
    assert lo[T["wm"]] > 1.1 * hi[T["wm"]]
    coeffs = mra.signal_coefficients(seq, pd, t1, t2, t2s, None, 0.3)
    for kappa in (0.72, 0.9, 1.0, 1.15, 1.3):
        exact = mra.signal(seq, pd, t1, t2, t2s, None, kappa)
        fit = sum(coeffs[j] * (kappa - 1) ** j for j in range(4))
        assert np.allclose(fit, exact, rtol=0.01, atol=1e-4)


# ------------------------------------------------------------------ signed IR partial volume


def test_signed_ir_mixing_darkens_gm_wm_boundary():
    # At TI = 750 ms (3 T) WM (T1 832 ms, null 577 ms) has recovered past zero and GM (1331 ms,
    # null 922 ms) has not: opposite signs, so a half-and-half voxel cancels (dark line).
    k = len(TISSUES)
    frac = np.zeros((k, 3, 4, 4), np.float32)
    frac[T["gm"], 0], frac[T["wm"], 2] = 1.0, 1.0
    frac[T["gm"], 1] = frac[T["wm"], 1] = 0.5
    table = {
        "pd": imaging.PROTON_DENSITY,
        "t1": imaging.T1_MS[3.0],
        "t2": imaging.T2_MS[3.0],
        "t2s": imaging.T2S_MS[3.0],
    }
    seq = MRSequence(5000.0, 15.0, inversion=True, ti_ms=750.0)
    bias = np.ones(frac.shape[1:], np.float32)
    rng = np.random.default_rng(0)
    img = imaging.simulate_mr(frac, table, seq, 3.0, bias, 1e6, rng)
    gm, edge, wm = img[0].mean(), img[1].mean(), img[2].mean()
    assert edge < 0.5 * min(gm, wm)


# ------------------------------------------------------------------ k-space, coils, noise


def test_gibbs_ringing_with_small_matrix_only():
    cube = np.zeros((64, 64, 64), np.float32)
    cube[16:48, 16:48, 16:48] = 1.0
    small = np.abs(mra.acquire_kspace(cube, (32, 32, 32)))
    assert small.max() > 1.05  # overshoot at the edge (Gibbs: ~9 % for a step)
    assert np.allclose(np.abs(mra.acquire_kspace(cube, (64, 64, 64))), cube, atol=1e-5)
    # Through the simulator: a cube of CSF in air rings at a 24^3 matrix, not at the full 48^3.
    frac = np.zeros((len(TISSUES), 48, 48, 48), np.float32)
    frac[T["air"]] = 1.0
    frac[T["air"], 12:36, 12:36, 12:36], frac[T["csf"], 12:36, 12:36, 12:36] = 0.0, 1.0
    table = {"pd": imaging.PROTON_DENSITY, "t1": imaging.T1_MS[3.0], "t2": imaging.T2_MS[3.0]}
    table["t2s"] = imaging.T2S_MS[3.0]
    bias = np.ones(frac.shape[1:], np.float32)
    seq = mra.protocol("pd_tse", 3.0)
    out = {}
    for matrix in ((48, 48, 48), (24, 24, 24)):
        scanner = MRScanner(n_coils=1, matrix=matrix)
        rng = np.random.default_rng(0)
        img = imaging.simulate_mr(frac, table, seq, 3.0, bias, 1e6, rng, scanner=scanner)
        out[matrix] = img[24, 24, 12:36] / img[24, 24, 24]  # profile across the cube
    assert np.allclose(out[(48, 48, 48)], 1.0, atol=1e-3)
    assert out[(24, 24, 24)].max() > 1.04


def _phantom_mr(matrix, field_t=3.0, seed=0, snr=1e6, n_coils=1, name="pd_tse"):
    tp = brain_anatomy.load_template(2.0)
    table = {
        "pd": imaging.PROTON_DENSITY,
        "t1": imaging.T1_MS[field_t],
        "t2": imaging.T2_MS[field_t],
        "t2s": imaging.T2S_MS[field_t],
    }
    bias = np.ones(tp.fractions.shape[1:], np.float32)
    scanner = MRScanner(n_coils=n_coils, matrix=matrix, prescan_normalize=False)
    seq = mra.protocol(name, 3.0)  # the same protocol at both fields
    rng = np.random.default_rng(seed)
    return imaging.simulate_mr(tp.fractions, table, seq, field_t, bias, snr, rng, scanner=scanner)


@pytest.mark.parametrize("n_coils", [1, 8])
def test_background_follows_noncentral_chi(n_coils):
    # Where there is no signal, the SoS magnitude of n coils is chi with 2n degrees of freedom:
    # mean sigma sqrt(2) Gamma(n + 1/2) / Gamma(n) (Constantinides et al., MRM 38:852, 1997).
    rng = np.random.default_rng(1)
    mag = mra.sos_magnitude(np.zeros((64, 64, 64), np.float32), 0.5, n_coils, rng)
    expected = mra.noncentral_chi_mean_background(0.5, n_coils)
    assert abs(mag.mean() / expected - 1) < 0.01
    # One coil: Rayleigh mean sigma sqrt(pi / 2).
    assert n_coils > 1 or math.isclose(expected, 0.5 * math.sqrt(math.pi / 2), rel_tol=1e-9)


def test_two_draw_sos_matches_explicit_coils():
    # The rotated sampling equals explicit coils s_i m + n_i with sum s_i^2 = 1 in distribution.
    rng = np.random.default_rng(2)
    n, sigma, m = 4, 1.0, 2.0
    s = rng.uniform(0.2, 1.0, n)
    s /= np.linalg.norm(s)
    noise = rng.standard_normal((2, n, 200_000)) * sigma
    explicit = np.sqrt(((s[:, None] * m + noise[0]) ** 2 + noise[1] ** 2).sum(0))
    fast = mra.sos_magnitude(np.full(200_000, m, np.float32), sigma, n, rng)
    assert abs(fast.mean() - explicit.mean()) < 0.01 and abs(fast.std() - explicit.std()) < 0.01


def test_snr_roughly_doubles_from_1_5_to_3_tesla():
    # At a fixed protocol SNR grows ~linearly with B0 (Hoult & Richards 1976): measured from two
    # noise realisations in deep WM (PD TSE, whose signal hardly depends on relaxation).
    tp = brain_anatomy.load_template(2.0)
    wm = ndimage.binary_erosion(tp.fractions[T["wm"]] > 0.95, iterations=1)
    snr = {}
    for field_t in FIELDS:
        a, b = (_phantom_mr(None, field_t, seed, 20.0, 8) for seed in (0, 1))
        snr[field_t] = a[wm].mean() / ((a - b)[wm].std() / math.sqrt(2))
    assert 1.7 <= snr[3.0] / snr[1.5] <= 2.3


def test_undersampling_aliases_signal_into_background():
    tp = brain_anatomy.load_template(2.0)
    air = ndimage.binary_erosion(tp.fractions[T["air"]] > 0.99, iterations=2)
    clean = _phantom_mr(None, snr=200.0, n_coils=4)
    rng = np.random.default_rng(0)
    table = {k: v[3.0] for k, v in (("t1", imaging.T1_MS), ("t2", imaging.T2_MS))}
    table |= {"pd": imaging.PROTON_DENSITY, "t2s": imaging.T2S_MS[3.0]}
    bias = np.ones(air.shape, np.float32)
    scanner = MRScanner(n_coils=4, acceleration=3, prescan_normalize=False)
    seq = mra.protocol("pd_tse", 3.0)
    fast = imaging.simulate_mr(tp.fractions, table, seq, 3.0, bias, 200.0, rng, scanner=scanner)
    assert fast[air].mean() > 1.5 * clean[air].mean()  # ghosts of the head fill the air


# ------------------------------------------------------------------ gadolinium, water content


@pytest.fixture(scope="module")
def unwarped_t1ce():
    cfg = BrainPhantomConfig(
        glioma_probability=0.0,
        wm_lesion_probability=0.0,
        deformation_mm=0.0,
        rotation_deg=0.0,
        scale_jitter=0.0,
        translation_mm=0.0,
        modalities=("t1w", "t1ce"),
    )
    s = simulate_brain_subject(4, cfg)
    tp = brain_anatomy.load_template(2.0)
    # The subject's cortical-vein pattern comes from its own stream (as simulate_brain_subject draws it).
    veins = np.random.default_rng(np.random.SeedSequence([4, 0x6D]))
    structures = brain_enhancement.enhancing_structures(tp.fractions, tp.affine, veins)
    return s, structures


def test_t1ce_enhances_vessels_dura_choroid_not_parenchyma(unwarped_t1ce):
    s, structures = unwarped_t1ce
    pre, post = (s.intensity[m].inverse(s.images[m]) for m in ("t1w", "t1ce"))
    diff = post - pre
    brain = ndimage.binary_erosion(np.isin(s.labels["tissue"], (2, 3)), iterations=2)
    noise = diff[brain].std()
    names = (
        "sagittal_sinus",
        "straight_sinus",
        "choroid_plexus",
        "dura",
        "cortical_veins",
        "arteries",
    )
    for name in names:
        region = structures.dense(name) > 0.2
        assert diff[region].mean() > 0.1 * pre[brain].mean(), name
        assert diff[region].mean() > 5 * noise / math.sqrt(region.sum()), name
    # Intact blood-brain barrier: deep GM/WM unchanged up to noise (3 standard errors).
    anywhere = np.zeros(pre.shape, bool).reshape(-1)
    anywhere[structures.index] = True
    near = ndimage.binary_dilation(anywhere.reshape(pre.shape), iterations=3)
    away = brain & ~near
    assert abs(diff[away].mean()) < 3 * diff[away].std() / math.sqrt(away.sum())
    c = brain_enhancement.gadolinium_map(
        brain_anatomy.load_template(2.0).fractions, structures, 1.0, 0.4
    )
    assert c[away].max() == 0.0 and 0.5 < c.max() <= 1.0


def test_cortical_veins_run_in_surface_csf_and_differ_between_subjects():
    tp = brain_anatomy.load_template(2.0)
    a, b = (
        brain_enhancement.enhancing_structures(tp.fractions, tp.affine, np.random.default_rng(k))
        for k in (1, 2)
    )
    va, vb = a.dense("cortical_veins"), b.dense("cortical_veins")
    csf = tp.fractions[T["csf"]]
    assert va.sum() > 50 and (csf[va > 0] > 0.2).all()  # only CSF-rich voxels hold them
    overlap = np.minimum(va, vb).sum() / np.maximum(va, vb).sum()
    assert overlap < 0.5  # each subject has its own pattern
    # They lie under the inner table: within a few mm of the skull, never deep in the brain.
    icv = 1.0 - tp.fractions[
        [T["air"], T["cortical_bone"], T["cancellous_bone"], T["soft_tissue"]]
    ].sum(0)
    depth_mm = ndimage.distance_transform_edt(icv > 0.5) * 2.0
    assert depth_mm[va > 0].max() <= 10.0


def test_pd_and_t1_follow_one_water_content():
    # Both track water (Fatouros et al., MRM 17:402, 1991): their per-subject jitters correlate.
    rng = np.random.default_rng(0)
    draws = [imaging.tissue_table(3.0, rng, 0.05) for _ in range(300)]
    log_pd = np.log([d["pd"][T["wm"]] for d in draws])
    log_t1 = np.log([d["t1"][T["wm"]] for d in draws])
    assert np.corrcoef(log_pd, log_t1)[0, 1] > 0.7


# ------------------------------------------------------------------ bad input, one per raise


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "epi"}, "kind"),
        ({"flip_deg": 0.0}, "flip_deg"),
        ({"echo_train_length": 0}, "echo_train_length"),
        ({"kind": "tse", "echo_train_length": 8}, "echo_spacing_ms"),
        ({"kind": "tse", "echo_train_length": 4, "echo_spacing_ms": 10.0}, "effective te_ms"),
        ({"kind": "spgr", "inversion": True}, "inversion=True"),
        ({"kind": "mprage", "echo_spacing_ms": 7.0, "echo_train_length": 100}, "mprage ti_ms"),
        ({"inversion": True, "ti_ms": 3100.0}, "inversion time"),
    ],
)
def test_bad_sequence(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MRSequence(3000.0, 80.0, **kwargs)


def test_unknown_protocol_name():
    with pytest.raises(ValueError, match="protocol name"):
        mra.protocol("bold")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mr_matrix": (64, 64)}, "mr_matrix"),
        ({"mr_acceleration": 0}, "mr_acceleration"),
        ({"mr_undersampling": "spiral"}, "mr_undersampling"),
        ({"mr_coils": 0}, "mr_coils"),
        ({"mr_b1_inhomogeneity": 0.9}, "mr_b1_inhomogeneity"),
        ({"mr_intensity_scale": 0.0}, "mr_intensity_scale"),
        ({"gd_blood_mM": -1.0}, "gd_blood_mM"),
        ({"t1w": "mprage"}, "t1w"),
    ],
)
def test_bad_mr_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BrainPhantomConfig(**kwargs)
