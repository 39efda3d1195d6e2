"""CT physics shared by the CT simulators: HU <-> mu, noise and CBCT artefacts."""

import dataclasses

import pytest
import torch

from medgen_nb.data.ct_physics import (
    AIR_HU,
    MU_WATER_PER_MM,
    CBCTArtefacts,
    add_ct_noise,
    hu_to_mu,
    mu_to_hu,
    simulate_cbct,
)

SIDE = 96


def radius() -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, SIDE), torch.linspace(-1, 1, SIDE), indexing="ij")
    return torch.sqrt(xx**2 + yy**2)


def test_hu_mu_round_trip_and_fixed_points():
    hu = torch.tensor([-1000.0, 0.0, 1000.0, 1500.0])
    mu = hu_to_mu(hu)
    assert mu[0] == 0 and mu[1] == pytest.approx(MU_WATER_PER_MM)
    assert mu[2] == pytest.approx(2 * MU_WATER_PER_MM)
    torch.testing.assert_close(mu_to_hu(mu), hu)
    assert hu_to_mu(torch.tensor(-1500.0)) == 0  # below air: clipped, no negative attenuation


def test_ct_noise_has_requested_std():
    noisy = add_ct_noise(torch.zeros(200, 200), 25.0, torch.Generator().manual_seed(0))
    assert noisy.std() == pytest.approx(25.0, rel=0.03) and abs(float(noisy.mean())) < 1.0


def test_cbct_error_depends_on_the_object():
    """v3 rebuilds CBCT from projections: the scatter deficit is largest at the centre of the
    object (cupping; Siewerdsen & Jaffray 2001, Med Phys 28:220), not painted towards the edge."""
    r = radius()
    ct = torch.where(r < 0.85, 0.0, AIR_HU).expand(4, SIDE, SIDE).clone()
    art = CBCTArtefacts(noise_hu=0.0, gain_range=(1.0, 1.0), offset_range_hu=(0.0, 0.0))
    cbct, _ = simulate_cbct(ct, torch.Generator().manual_seed(0), art, spacing_mm=2.0)
    deficit = (ct - cbct).mean(0)
    assert deficit[r < 0.3].mean() > deficit[(r > 0.6) & (r < 0.8)].mean() > 0
    air, _ = simulate_cbct(torch.full((2, SIDE, SIDE), AIR_HU), None, art, spacing_mm=2.0)
    assert air.abs().sub(1000).abs().max() < 1  # no object, no artefact


def test_cbct_outside_fov_is_air_and_reproducible():
    ct = torch.zeros(2, SIDE, SIDE)
    art = CBCTArtefacts(fov_radius_mm=30.0)
    a, fov = simulate_cbct(ct, torch.Generator().manual_seed(1), art)
    b, _ = simulate_cbct(ct, torch.Generator().manual_seed(1), art)
    assert torch.equal(a, b)
    assert (a[:, ~fov] == AIR_HU).all() and not fov[0, 0] and fov[SIDE // 2, SIDE // 2]


def test_cbct_without_artefacts_equals_ct():
    """Ideal projections (no noise, scatter, beam hardening, miscalibration; 256 views) give the
    CT back, up to the Hann-apodised reconstruction's blur of a smooth image (the outer pixels
    border on air beyond the image, so they blur with it)."""
    none = CBCTArtefacts(0.0, 0.0, 0.0, 0.0, 0, (1.0, 1.0), (0.0, 0.0), 1.5, 200.0, 256, 0.0)
    none = dataclasses.replace(none, beam_hardening=0.0)
    r = radius()
    ct = (200 * torch.exp(-((r / 0.4) ** 2)) - 100.0).expand(3, SIDE, SIDE).clone()
    cbct, _ = simulate_cbct(ct, torch.Generator().manual_seed(0), none)
    inner = (..., slice(4, -4), slice(4, -4))
    torch.testing.assert_close(cbct[inner], ct[inner], atol=3.0, rtol=0.0)


def test_negative_noise_raises():
    with pytest.raises(ValueError, match="sigma_hu must be >= 0"):
        add_ct_noise(torch.zeros(4), -1.0)


def test_cbct_one_dimensional_input_raises():
    with pytest.raises(ValueError, match="ct_hu must have shape"):
        simulate_cbct(torch.zeros(8))


def test_cbct_bad_fov_raises():
    with pytest.raises(ValueError, match="fov_fraction must lie"):
        simulate_cbct(
            torch.zeros(8, 8), artefacts=dataclasses.replace(CBCTArtefacts(), fov_fraction=2.0)
        )
