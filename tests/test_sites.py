"""Simulated scanner sites: presets apply, and a site shift moves the measured images as its
preset says (CT noise, MR SNR and vendor scale, PET resolution, iodine at the tube voltage)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy import ndimage

from medgen_nb import tasks
from medgen_nb.data import sites
from medgen_nb.data.brain_phantom import (
    BrainPhantomConfig,
    load_brain_subjects,
    simulate_brain_subject,
)
from medgen_nb.data.chest_ct import ChestCTConfig, simulate_chest_subject
from medgen_nb.data.contrast import STRUCTURES

WM, GM = 3, 2
BASE = BrainPhantomConfig(
    glioma_probability=0.0, wm_lesion_probability=0.0, modalities=("t1w", "t2w", "ct", "pet")
)


def _core(subject, label: int) -> np.ndarray:
    return ndimage.binary_erosion(subject.labels["tissue"] == label, iterations=2)


def _high_pass_sd(volume: np.ndarray, mask: np.ndarray) -> float:
    """Noise sd from the residual to a 3x3x3 local mean inside a flat tissue (anatomy ~ constant)."""
    return float((volume - ndimage.uniform_filter(volume, 3))[mask].std())


def _physical(subject, name: str) -> np.ndarray:
    return np.asarray(subject.intensity[name].inverse(subject.images[name]))


@pytest.fixture(scope="module")
def brains() -> dict:
    return {name: simulate_brain_subject(5, BASE.at_site(name)) for name in sites.available()}


@pytest.mark.parametrize("name", sites.available())
@pytest.mark.parametrize("resolution_mm", [1.0, 2.0])
def test_every_preset_makes_valid_configs(name, resolution_mm):
    brain = BrainPhantomConfig(resolution_mm=resolution_mm).at_site(name)
    chest = ChestCTConfig().at_site(name)
    site = sites.get(name)
    for field, value in site.brain_overrides(resolution_mm).items():
        assert getattr(brain, field) == value
    for field, value in site.chest_overrides().items():
        assert getattr(chest, field) == value
    # A site is part of the cache key: its subjects never reuse another site's files.
    assert brain.cache_key() != BrainPhantomConfig(resolution_mm=resolution_mm).cache_key()
    assert BrainPhantomConfig().at_site(None) == BrainPhantomConfig()


def test_sites_differ_from_each_other():
    keys = {BrainPhantomConfig().at_site(n).cache_key() for n in sites.available()}
    assert len(keys) == len(sites.available())
    assert len({repr(ChestCTConfig().at_site(n).ct) for n in sites.available()}) > 1


def test_unknown_sites_and_fields_are_refused():
    with pytest.raises(ValueError, match="unknown site 'site_z'.*site_a"):
        BrainPhantomConfig().at_site("site_z")
    with pytest.raises(ValueError, match="unknown site"):
        ChestCTConfig().at_site("hospital")
    with pytest.raises(ValueError, match="unknown site"):
        load_brain_subjects(1, site="nowhere", progress=False)
    with pytest.raises(ValueError, match="unknown fields"):
        sites.apply_overrides(ChestCTConfig(), {"field_strength_t": 3.0}, "a test")
    with pytest.raises(ValueError, match="unknown site"):
        tasks.build(tasks.get("brain_t1w_to_t2w"), smoke=True, site="site_9")
    with pytest.raises(ValueError, match="simulated \\(phantom\\) tasks"):
        tasks.build(tasks.get("brain_t1w_to_t2w", "ixi"), smoke=True, site="site_a")


def test_ct_noise_follows_each_sites_kvp_kernel_and_dose(brains):
    # The preset's image noise (dose, kVp and kernel factors of the CT protocol) is what the
    # simulated head CT shows in white matter, within 10 %.
    for name, subject in brains.items():
        expected = BASE.at_site(name).ct.image_noise_hu
        measured = _high_pass_sd(_physical(subject, "ct"), _core(subject, WM))
        assert measured == pytest.approx(expected, rel=0.10), name


def test_mr_snr_follows_field_acceleration_and_voxel_size(brains):
    snr = {}
    for name, subject in brains.items():
        t2 = _physical(subject, "t2w")
        wm = _core(subject, WM)
        snr[name] = float(t2[wm].mean()) / _high_pass_sd(t2, wm)
    # 3 T vs 1.5 T at the same TSE protocol: SNR grows about linearly with B0 (x2).
    assert 1.6 <= snr["site_a"] / snr["site_b"] <= 2.4
    # 2x undersampling at 3 T costs about sqrt(2) or more (fewer lines, zero-filled).
    assert snr["site_c"] < snr["site_a"] / 1.3
    # A coarser 80 % matrix at 1.5 T has (1/0.8)^3 ~ 2x larger voxels: higher SNR than site_b.
    assert snr["site_d"] > 1.4 * snr["site_b"]


def test_mr_vendor_scale_moves_physical_intensities_by_the_preset_factor():
    config = dataclasses.replace(BASE.at_site("site_c"), modalities=("t1w",))
    scaled = simulate_brain_subject(5, config)
    unscaled = simulate_brain_subject(5, dataclasses.replace(config, mr_intensity_scale=1.0))
    wm = _core(scaled, WM)
    ratio = np.median(_physical(scaled, "t1w")[wm]) / np.median(_physical(unscaled, "t1w")[wm])
    assert ratio == pytest.approx(sites.get("site_c").brain["mr_intensity_scale"], rel=0.01)
    # The course's [0, 1] images are robust-normalised, so the scale itself vanishes there.
    np.testing.assert_allclose(scaled.images["t1w"], unscaled.images["t1w"], atol=2e-3)


def test_pet_reconstruction_of_a_site_sets_its_grey_white_contrast(brains):
    def gm_wm(subject) -> float:
        pet = _physical(subject, "pet")
        return float(pet[_core(subject, GM)].mean() / pet[_core(subject, WM)].mean())

    ratios = {name: gm_wm(s) for name, s in brains.items()}
    # Harmonised reconstruction (wide filter, 5.5 mm system) blurs more than the sharp PSF one
    # and than OSEM + PSF at 4.5 mm; the older 6.5 mm scanner also loses contrast.
    assert ratios["site_b"] < ratios["site_a"] < ratios["site_c"] + 0.2
    assert ratios["site_d"] < ratios["site_a"]


def test_chest_iodine_follows_the_sites_tube_voltage():
    coarse = ChestCTConfig(in_plane_mm=6.0, slice_mm=10.0)
    gains = {}
    for name in ("site_a", "site_d"):  # 120 kVp and 80 kVp
        s = simulate_chest_subject(3, coarse.at_site(name))
        window = s.intensity["ct"]
        hu = {
            k: window.inverse(torch.from_numpy(s.images[k])).numpy() for k in ("ct", "ce_arterial")
        }
        arteries = ndimage.binary_erosion(s.labels["structures"] == STRUCTURES["arteries"])
        arteries &= hu["ce_arterial"] < window.hi - 1  # not clipped by the window
        gains[name] = float(np.median((hu["ce_arterial"] - hu["ct"])[arteries]))
    # Iodine's HU per mg/mL rises by ~1.6-1.7x from 120 to 80 kVp (contrast.hu_per_mg_ml).
    assert 1.4 <= gains["site_d"] / gains["site_a"] <= 1.9


def test_a_test_set_from_another_site():
    task = tasks.get("brain_t1w_to_t2w")
    same = tasks.build(task, smoke=True, site="site_a")
    shifted = tasks.build(task, smoke=True, site="site_a", test_site="site_b")
    assert shifted.record()["site"] == "site_a" and shifted.record()["test_site"] == "site_b"
    assert "site" not in tasks.build(task, smoke=True).record()
    a, b = same["train"].tensors(), shifted["train"].tensors()
    assert torch.equal(a["image"], b["image"])  # training data unchanged
    ta, tb = same["test"].tensors(), shifted["test"].tensors()
    assert torch.equal(ta["subject"], tb["subject"])  # the same test subjects ...
    assert not torch.equal(ta["image"], tb["image"])  # ... imaged by other scanners
