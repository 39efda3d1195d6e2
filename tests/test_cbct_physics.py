"""CBCT rebuilt from projections, ramp-spectrum CT noise, CT protocols and the brain window.

Physics checked against: Siewerdsen & Jaffray 2001 (Med Phys 28:220: scatter-to-primary ratio grows
with object size; scatter causes cupping and streaks), Boedeker et al. 2007 (Phys Med Biol
52:4027: the noise power spectrum of FBP CT is ramp-shaped), Kak & Slaney 1988 (filtered
back-projection).
"""

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from medgen_nb.data import cbct
from medgen_nb.data.ct_physics import (
    AIR_HU,
    CT_KERNELS,
    CBCTArtefacts,
    CTProtocol,
    add_ct_noise,
    fov_mask,
    simulate_cbct,
)
from medgen_nb.data.intensity import CT_BRAIN_WINDOW_HU, CT_WINDOW_HU, ct_brain_window

SPACING = 2.0  # mm
SIDE = 200  # pixels: a 400 mm field
NEUTRAL = dict(gain_range=(1.0, 1.0), offset_range_hu=(0.0, 0.0), fov_radius_mm=190.0)
IDEAL = CBCTArtefacts(noise_hu=0.0, spr=0.0, beam_hardening=0.0, n_views=256, **NEUTRAL)


def radius_mm(side: int = SIDE, spacing: float = SPACING) -> torch.Tensor:
    u = (torch.arange(side) - (side - 1) / 2) * spacing
    return torch.sqrt(u[:, None] ** 2 + u[None, :] ** 2)


def cylinder(diameter_mm: float, n_slices: int = 3) -> torch.Tensor:
    r = radius_mm()
    return torch.where(r < diameter_mm / 2, 0.0, AIR_HU).expand(n_slices, SIDE, SIDE).clone()


def with_rods(ct: torch.Tensor, hu: float = 1500.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two 20 mm bone rods at x = +-50 mm; returns the CT and the water pixels > 10 mm from them."""
    u = (torch.arange(SIDE) - (SIDE - 1) / 2) * SPACING
    near = torch.zeros(SIDE, SIDE, dtype=torch.bool)
    out = ct.clone()
    for x0 in (-50.0, 50.0):
        d = torch.sqrt((u[:, None] - x0) ** 2 + u[None, :] ** 2)
        out[:, d < 10] = hu
        near |= d < 20
    return out, near


def cbct_of(ct, artefacts, seed=0):
    return simulate_cbct(ct, torch.Generator().manual_seed(seed), artefacts, spacing_mm=SPACING)[0]


def high_pass(img: torch.Tensor, sigma_px: float = 4.0) -> torch.Tensor:
    return img - torch.from_numpy(ndimage.gaussian_filter(img.numpy(), sigma_px))


# ---------------------------------------------------------------------------- reconstruction


def test_fbp_of_ideal_projections_reproduces_the_ct():
    """Noise-, scatter- and beam-hardening-free projections: FBP gives back the HU (Kak & Slaney)."""
    ct, _ = with_rods(cylinder(200.0))
    rec = cbct_of(ct, IDEAL)[1]
    r = radius_mm()
    water = (r < 85) & (rec.new_ones(rec.shape, dtype=torch.bool))
    u = (torch.arange(SIDE) - (SIDE - 1) / 2) * SPACING
    for x0 in (-50.0, 50.0):  # away from the rods' edges (the kernel blurs edges)
        water &= torch.sqrt((u[:, None] - x0) ** 2 + u[None, :] ** 2) > 16
    error = (rec - ct[1])[water]
    assert error.abs().mean() < 3.0 and error.abs().max() < 15.0
    rods = (rec - ct[1])[torch.sqrt((u[:, None] - 50.0) ** 2 + u[None, :] ** 2) < 4]
    assert rods.abs().mean() < 30.0  # bone centres within 2 % of 1500 HU


def test_projector_matches_analytic_line_integrals():
    """A 200 mm water disc: p(t) = 2 mu sqrt(R^2 - t^2) at every angle."""
    mu = (radius_mm() < 100).float()[None] * 0.0193
    p, angles, bin_mm, support = cbct.project_slices(mu, (SPACING, SPACING), 16, 150.0)
    assert 100.0 <= support <= 106.0
    t = (torch.arange(p.shape[-1]) - (p.shape[-1] - 1) / 2) * bin_mm
    exact = 2 * 0.0193 * torch.sqrt((100.0**2 - t**2).clamp_min(0))
    inner = t.abs() < 90
    assert (p[:, 0, inner] - exact[inner]).abs().max() < 0.02 * exact.max()


# ---------------------------------------------------------------------------- scatter: cupping


def cupping_hu(diameter_mm: float) -> tuple[float, float]:
    art = CBCTArtefacts(noise_hu=0.0, **NEUTRAL)
    rec = cbct_of(cylinder(diameter_mm), art)[1]
    r = radius_mm()
    centre = float(rec[r < 10].mean())
    periphery = float(rec[(r > 0.8 * diameter_mm / 2) & (r < 0.85 * diameter_mm / 2)].mean())
    return centre, periphery


def test_scatter_cupping_is_deepest_at_the_centre_and_grows_with_object_size():
    """Siewerdsen & Jaffray 2001: SPR and hence cupping grow with object size."""
    c160, p160 = cupping_hu(160.0)
    c320, p320 = cupping_hu(320.0)
    assert c160 < p160 < 0 and c320 < p320 < 0  # a deficit, largest at the centre
    assert (p320 - c320) > 1.5 * (p160 - c160)  # measured ~235 vs ~80 HU
    assert c320 < c160


def test_spr_grows_with_object_size_as_measured():
    """SPR > 100 % for a pelvis-sized (~320 mm) object (Siewerdsen & Jaffray 2001, abstract)."""
    ratios = []
    for d in (160.0, 200.0, 320.0):
        t = (torch.arange(401) - 200) * 1.0
        p = 2 * 0.0193 * torch.sqrt((d**2 / 4 - t**2).clamp_min(0))
        p = p[None, None].expand(1, 20, 401).clone()
        s = cbct.scatter_counts(p, 1.0, 0.5, 60.0, 1.0, 1.0, 0.0193)
        ratios.append(float(s[0, 10, 200] / torch.exp(-p[0, 10, 200])))
    assert ratios[1] == pytest.approx(0.5, rel=0.02)  # the calibration point
    assert ratios[0] < ratios[1] < ratios[2] and ratios[2] > 0.9


def test_cupping_on_the_brain_phantom():
    """The head: CBCT reads lower at the brain's centre than near the skull (same scan)."""
    from medgen_nb.data import brain_imaging as imaging
    from medgen_nb.data.brain_phantom import BrainPhantomConfig, simulate_brain_subject

    s = simulate_brain_subject(0, BrainPhantomConfig(modalities=("ct",)))
    ct = s.intensity["ct"].inverse(s.images["ct"]).astype(np.float32)
    art = CBCTArtefacts(noise_hu=0.0, gain_range=(1.0, 1.0), offset_range_hu=(0.0, 0.0))
    rec = imaging.simulate_cbct_volume(ct, art, np.random.default_rng(0), spacing_mm=2.0)
    deficit = ct - rec
    brain = (s.labels["tissue"] >= 1) & (s.labels["tissue"] <= 3) & (np.abs(ct) < 100)
    x, y = np.meshgrid(*(np.arange(n) - (n - 1) / 2 for n in ct.shape[:2]), indexing="ij")
    r = np.sqrt(x**2 + y**2)[..., None] * 2.0 * np.ones(ct.shape)  # mm from the axial centre
    z = slice(35, 55)  # mid-brain slices
    centre = deficit[:, :, z][(brain & (r < 25))[:, :, z]].mean()
    edge = deficit[:, :, z][(brain & (r > 55))[:, :, z]].mean()
    assert centre > edge + 10


# ---------------------------------------------------------------------------- streaks


def test_streaks_next_to_bone_rods_and_none_on_a_uniform_phantom():
    """Scatter and beam hardening through dense rods make streaks (Siewerdsen & Jaffray 2001).

    The artefact image is the CBCT minus the ideal reconstruction with the same views; its
    high-pass part (the smooth cupping removed) holds the streaks. Measured: ~6.3 HU next to the
    rods, ~1.7 HU on the uniform cylinder.
    """
    art = CBCTArtefacts(noise_hu=0.0, **NEUTRAL)
    ideal = dataclasses.replace(IDEAL, n_views=art.n_views)
    uniform = cylinder(200.0)
    rods, near = with_rods(uniform)
    inside = (radius_mm() < 85) & ~near

    def streaks(ct, artefacts):
        return float(high_pass(cbct_of(ct, artefacts)[1] - cbct_of(ct, ideal)[1])[inside].std())

    assert streaks(rods, art) > 3 * streaks(uniform, art)
    # With noise, the uniform phantom shows noise and nothing else.
    noisy = CBCTArtefacts(**NEUTRAL)
    noise_only = float(
        high_pass(cbct_of(uniform, noisy)[1] - cbct_of(uniform, art)[1])[inside].std()
    )
    assert streaks(uniform, noisy) <= 1.05 * noise_only


# ---------------------------------------------------------------------------- CBCT noise, FOV


def test_cbct_noise_matches_its_setting_at_the_reference_cylinder():
    art = CBCTArtefacts(noise_hu=30.0, spr=0.0, beam_hardening=0.0, **NEUTRAL)
    ct = cylinder(200.0, n_slices=4)
    clean = dataclasses.replace(art, noise_hu=0.0)
    noise = cbct_of(ct, art) - cbct_of(ct, clean)
    sd = float(noise[:, radius_mm() < 40].std())
    assert sd == pytest.approx(30.0, rel=0.15)


def test_fov_is_a_circle_of_the_set_radius_in_mm():
    art = dataclasses.replace(IDEAL, fov_radius_mm=60.0, n_views=128)
    u, v = (torch.arange(100) - 49.5) * 1.5, (torch.arange(80) - 39.5) * 2.0
    r = torch.sqrt(u[:, None] ** 2 + v[None, :] ** 2)
    disc = torch.where(r < 50, 0.0, AIR_HU).expand(2, 100, 80)  # water inside the field
    rec, fov = simulate_cbct(disc, None, art, spacing_mm=(1.5, 2.0))
    area_mm2 = float(fov.sum()) * 1.5 * 2.0
    assert area_mm2 == pytest.approx(math.pi * 60.0**2, rel=0.03)
    assert torch.equal(fov, fov_mask((100, 80), (1.5, 2.0), 60.0))
    assert (rec[:, ~fov] == AIR_HU).all() and rec[:, r < 40].abs().mean() < 5.0


def test_truncated_projections_stay_bounded():
    """A body wider than the field of view: the taper extension keeps the rim within ~15 %."""
    art = dataclasses.replace(IDEAL, fov_radius_mm=60.0, n_views=64)
    rec, fov = simulate_cbct(torch.zeros(2, 100, 100), None, art, spacing_mm=2.0)
    assert rec[:, fov].abs().max() < 300.0


def test_cbct_is_reproducible():
    ct, _ = with_rods(cylinder(160.0, 2))
    a = cbct_of(ct, CBCTArtefacts(), seed=3)
    assert torch.equal(a, cbct_of(ct, CBCTArtefacts(), seed=3))
    assert not torch.equal(a, cbct_of(ct, CBCTArtefacts(), seed=4))


# ---------------------------------------------------------------------------- CT noise (NPS)


def radial_nps(noise: torch.Tensor, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    spectrum = (torch.fft.fft2(noise).abs() ** 2).mean(0)
    n = noise.shape[-1]
    f = torch.fft.fftfreq(n, d=spacing)
    fr = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    return fr.flatten().numpy(), spectrum.flatten().numpy()


def test_ct_noise_nps_is_ramp_shaped_and_sd_matches():
    """Boedeker et al. 2007: FBP noise power ~ 0 at f = 0, rising with frequency."""
    g = torch.Generator().manual_seed(0)
    noise = add_ct_noise(torch.zeros(8, 256, 256), 12.0, g, kernel="standard", spacing_mm=0.7)
    assert float(noise.std()) == pytest.approx(12.0, rel=0.01)
    f, nps = radial_nps(noise, 0.7)
    low, mid = nps[(f > 0) & (f < 0.03)].mean(), nps[(f > 0.2) & (f < 0.3)].mean()
    assert low < 0.15 * mid  # ~|f| W(f)^2: expected ~0.1
    white = add_ct_noise(torch.zeros(8, 256, 256), 12.0, g, nps="white")
    f, nps = radial_nps(white, 0.7)
    assert nps[(f > 0) & (f < 0.03)].mean() > 0.7 * nps[(f > 0.2) & (f < 0.3)].mean()


def test_sharp_kernel_noisier_than_soft_at_the_same_dose_and_kvp_presets():
    soft, standard, sharp = (
        CTProtocol(kernel=k, noise_hu=10.0) for k in ("soft", "standard", "sharp")
    )
    assert soft.image_noise_hu < standard.image_noise_hu == 10.0 < sharp.image_noise_hu
    assert 2.0 < sharp.image_noise_hu / soft.image_noise_hu < 5.0  # bone vs soft kernels (approx.)
    assert CT_KERNELS["sharp"].fwhm_mm < CT_KERNELS["soft"].fwhm_mm
    noise = [CTProtocol(kvp=k).image_noise_hu for k in (80, 100, 120, 140)]
    assert noise == sorted(noise, reverse=True)
    assert 1.6 < noise[0] / noise[2] < 2.1  # 80 vs 120 kVp at equal mAs, ~1.7-2 (approx.)
    # The sharp kernel's noise texture is finer: more power above 0.4 cycles/mm.
    g = torch.Generator().manual_seed(1)
    fine = []
    for k in ("soft", "sharp"):
        f, nps = radial_nps(
            add_ct_noise(torch.zeros(8, 128, 128), 10.0, g, kernel=k, spacing_mm=0.5), 0.5
        )
        fine.append(nps[f > 0.4].sum() / nps.sum())
    assert fine[1] > 2 * fine[0]


def test_brain_window_and_default_window_unchanged():
    assert CT_BRAIN_WINDOW_HU == (0.0, 80.0) and CT_WINDOW_HU == (-1000.0, 2000.0)
    m = ct_brain_window()
    gm, wm = m.forward(np.array(40.0)), m.forward(np.array(30.0))
    assert gm - wm == pytest.approx(0.125)  # 10 HU of GM/WM contrast spans 1/8 of the range


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: CTProtocol(kvp=90), "kvp must be one of"),
        (lambda: CTProtocol(kernel="bone"), "kernel must be one of"),
        (lambda: CTProtocol(noise_hu=float("nan")), "noise_hu must be >= 0"),
        (lambda: CBCTArtefacts(n_views=4), "n_views"),
        (lambda: CBCTArtefacts(fov_radius_mm=0.0), "fov_radius_mm must be"),
        (lambda: CBCTArtefacts(spr=-0.1), "spr must be >= 0"),
        (lambda: CBCTArtefacts(beam_hardening=0.7), "beam_hardening must lie"),
        (lambda: CBCTArtefacts(window="parzen"), "window must be one of"),
        (lambda: CBCTArtefacts(cutoff=1.5), "cutoff must lie"),
        (lambda: add_ct_noise(torch.zeros(8, 8), 1.0, nps="pink"), "nps must be one of"),
        (lambda: add_ct_noise(torch.zeros(8), 1.0), "needs \\(..., H, W\\)"),
        (lambda: add_ct_noise(torch.zeros(8, 8), 1.0, kernel="bone"), "kernel must be one of"),
        (lambda: simulate_cbct(torch.zeros(4, 4), spacing_mm=(1.0, -1.0)), "spacing_mm must be"),
    ],
)
def test_bad_settings_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()
