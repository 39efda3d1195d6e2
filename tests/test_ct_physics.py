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


def test_cbct_error_grows_towards_the_periphery():
    """After a global HU recalibration, scatter shading and streaks leave larger errors at the edge."""
    r = radius()
    ct = torch.where(r < 0.85, 0.0, AIR_HU).expand(4, SIDE, SIDE).clone()
    ct[:, (r > 0.4) & (r < 0.45)] = 800.0  # a bone ring, so gain and offset can be fitted
    centre, edge = [], []
    for seed in range(8):
        cbct, fov = simulate_cbct(ct, torch.Generator().manual_seed(seed))
        inside = fov & (r < 0.85)
        x, y = ct[:, inside].flatten(), cbct[:, inside].flatten()
        design = torch.stack((x, torch.ones_like(x)), 1)
        gain, offset = torch.linalg.lstsq(design, y[:, None]).solution[:, 0]
        residual = (cbct - (gain * ct + offset)).abs().mean(0)
        centre.append(residual[r < 0.3].mean())
        edge.append(residual[(r > 0.6) & (r < 0.85)].mean())
    assert torch.stack(edge).mean() > 1.2 * torch.stack(centre).mean()


def test_cbct_outside_fov_is_air_and_reproducible():
    ct = torch.zeros(2, SIDE, SIDE)
    art = CBCTArtefacts(fov_fraction=0.7)
    a, fov = simulate_cbct(ct, torch.Generator().manual_seed(1), art)
    b, _ = simulate_cbct(ct, torch.Generator().manual_seed(1), art)
    assert torch.equal(a, b)
    assert (a[:, ~fov] == AIR_HU).all() and not fov[0, 0] and fov[SIDE // 2, SIDE // 2]


def test_cbct_without_artefacts_equals_ct():
    none = CBCTArtefacts(0.0, 0.0, 0.0, 0.0, 0, (1.0, 1.0), (0.0, 0.0), 1.5)
    ct = torch.randn(3, 32, 32) * 200
    cbct, _ = simulate_cbct(ct, torch.Generator().manual_seed(0), none)
    torch.testing.assert_close(cbct, ct)


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
