"""DRR physics: analytic line integrals through water, orientation, gradients and bad geometry."""

import math

import pytest
import torch

from medgen_nb.data.ct_physics import MU_WATER_PER_MM, hu_to_mu
from medgen_nb.data.drr import P_MAX, drr, xray_image

SPACING = (2.0, 2.0, 2.0)
N = 64  # voxels per side: a 128 mm cube


def water_sphere(radius_mm: float = 50.0) -> torch.Tensor:
    """(N, N, N) attenuation of a water sphere (HU 0) in air, centred on the isocentre."""
    c = (torch.arange(N) - (N - 1) / 2) * SPACING[0]
    x, y, z = torch.meshgrid(c, c, c, indexing="ij")
    hu = torch.where(x**2 + y**2 + z**2 <= radius_mm**2, 0.0, -1000.0)
    return hu_to_mu(hu)


def chord(dist_mm: torch.Tensor, radius_mm: float = 50.0) -> torch.Tensor:
    return 2 * torch.sqrt((radius_mm**2 - dist_mm**2).clamp_min(0))


def detector_coords(size: int, detector_mm: float) -> tuple[torch.Tensor, torch.Tensor]:
    c = (torch.arange(size) - (size - 1) / 2) * detector_mm / size
    v, u = torch.meshgrid(-c, c, indexing="ij")
    return u, v


def test_parallel_water_sphere_matches_analytic_chord():
    p = drr(water_sphere(), SPACING, "parallel", "ap", size=64, detector_size_mm=128.0)[0]
    u, v = detector_coords(64, 128.0)
    expected = MU_WATER_PER_MM * chord(torch.sqrt(u**2 + v**2))
    inside = chord(torch.sqrt(u**2 + v**2)) > 40  # away from the voxelised rim
    rel = ((p - expected).abs() / expected)[inside]
    assert rel.mean() < 0.02 and rel.max() < 0.06
    assert p[0, 0] == pytest.approx(0.0, abs=1e-6)  # the corner ray misses the sphere


@pytest.mark.parametrize("view", ["ap", "lateral"])
def test_cone_water_sphere_matches_analytic_chord(view):
    sd, dd = 300.0, 200.0
    p = drr(water_sphere(), SPACING, "cone", view, 64, sd, dd, detector_size_mm=250.0)[0]
    u, v = detector_coords(64, 250.0)
    # Ray from the source (0, 0, sd) to (u, v, -dd): its distance to the sphere centre.
    length = torch.sqrt(u**2 + v**2 + (sd + dd) ** 2)
    dist = sd * torch.sqrt(u**2 + v**2) / length
    expected = MU_WATER_PER_MM * chord(dist)
    inside = chord(dist) > 40
    rel = ((p - expected).abs() / expected)[inside]
    assert rel.mean() < 0.02 and rel.max() < 0.06
    # Magnification: the shadow of a 100 mm sphere is (sd + dd) / sd times wider on the detector.
    width = (p[32] > 0.01).sum() * 250.0 / 64
    assert width == pytest.approx(100.0 * (sd + dd) / sd, rel=0.08)


def test_cone_approaches_parallel_for_distant_source():
    mu = water_sphere()
    par = drr(mu, SPACING, "parallel", "ap", 32, detector_size_mm=128.0)
    cone = drr(mu, SPACING, "cone", "ap", 32, 1e6, 0.0, detector_size_mm=128.0)
    torch.testing.assert_close(cone, par, atol=0.02, rtol=0.02)


def test_orientation_of_views():
    """A bone block on the patient's right, anterior and superior lands where the conventions say."""
    hu = torch.full((N, N, N), -1000.0)
    hu[48:56, 48:56, 48:56] = 1000.0  # high X (right), high Y (anterior), high Z (superior)
    mu = hu_to_mu(hu)[None]
    ap = drr(mu, SPACING, "parallel", "ap", 64)[0]
    lat = drr(mu, SPACING, "parallel", "lateral", 64)[0]
    for img in (ap, lat):  # superior at the top, and right (AP) / anterior (lateral) on the left
        r, c = divmod(int(img.argmax()), 64)
        assert r < 32 and c < 32


def test_batched_and_differentiable():
    mu = water_sphere().repeat(2, 1, 1, 1).requires_grad_(True)
    p = drr(mu, SPACING, "cone", "lateral", 16, 400.0, 100.0)
    assert p.shape == (2, 16, 16)
    p.sum().backward()
    assert mu.grad is not None and mu.grad.abs().sum() > 0


def test_xray_image_modes_are_in_unit_range_and_monotone():
    p = torch.linspace(0, 2 * P_MAX, 11)
    for mode in ("log", "attenuation"):
        img = xray_image(p, mode)
        assert img.min() >= 0 and img.max() <= 1 and (img.diff() >= 0).all()
    assert xray_image(torch.tensor(1.0), "attenuation") == pytest.approx(1 - math.exp(-1))


def test_source_inside_volume_raises():
    with pytest.raises(ValueError, match="source_distance_mm=50.0 puts the source inside"):
        drr(water_sphere(), SPACING, "cone", "ap", 16, source_distance_mm=50.0)


def test_detector_that_misses_the_volume_raises():
    with pytest.raises(ValueError, match="misses the volume"):
        drr(
            water_sphere(), SPACING, "parallel", "ap", 16, detector_size_mm=50.0, offset_mm=(500, 0)
        )


def test_unknown_geometry_raises():
    with pytest.raises(ValueError, match="geometry must be one of"):
        drr(water_sphere(), SPACING, geometry="fan")


def test_unknown_view_raises():
    with pytest.raises(ValueError, match="view must be one of"):
        drr(water_sphere(), SPACING, view="oblique")


def test_bad_volume_shape_raises():
    with pytest.raises(ValueError, match="mu_volume must be"):
        drr(torch.zeros(4, 4), SPACING)


def test_bad_spacing_raises():
    with pytest.raises(ValueError, match="spacing_mm must be"):
        drr(water_sphere(), (2.0, 0.0, 2.0))


def test_bad_size_raises():
    with pytest.raises(ValueError, match="size must be an int"):
        drr(water_sphere(), SPACING, size=1)


def test_bad_cone_distances_raise():
    with pytest.raises(ValueError, match="cone geometry needs"):
        drr(water_sphere(), SPACING, "cone", detector_distance_mm=-1.0)


def test_bad_detector_size_raises():
    with pytest.raises(ValueError, match="detector_size_mm must be > 0"):
        drr(water_sphere(), SPACING, detector_size_mm=0.0)


def test_bad_xray_mode_raises():
    with pytest.raises(ValueError, match="mode must be 'log' or 'attenuation'"):
        xray_image(torch.zeros(2), "linear")


def test_cone_magnifies_the_source_side_more():
    """AP: the source is anterior, so an anterior block casts a wider shadow than a posterior one."""
    widths = []
    for ys in (slice(52, 60), slice(4, 12)):  # anterior (high Y), posterior (low Y)
        hu = torch.full((N, N, N), -1000.0)
        hu[28:36, ys, 28:36] = 1000.0
        p = drr(hu_to_mu(hu), SPACING, "cone", "ap", 128, 150.0, 150.0, detector_size_mm=400.0)[0]
        widths.append(int((p[64] > 0.05).sum()))
    assert widths[0] > widths[1]
