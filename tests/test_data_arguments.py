"""Arguments are checked before anything is simulated or read; bools are refused as counts."""

from __future__ import annotations

import numpy as np
import pytest
from realdata_fakes import fake_medmnist_npz

import medgen_nb.data.realdata as realdata
from medgen_nb.data import brain_phantom as bp
from medgen_nb.data import chest_ct
from medgen_nb.data.checks import check_count, check_fractions, min_subjects, split_sizes
from medgen_nb.data.chest_ct import ChestCTConfig, NoduleConfig

BAD_FRACTIONS = [(0.5, 0.5, 0.5), (0.9, 0.1), "0.7", (1.0, float("nan"), 0.0), (True, 0, 0)]


@pytest.fixture()
def no_loading(monkeypatch):
    """Any simulation or file read fails the test: the check must come first."""

    def loaded(*args, **kwargs):
        raise AssertionError("data were simulated or read before the arguments were checked")

    monkeypatch.setattr(bp, "load_brain_subjects", loaded)
    monkeypatch.setattr(chest_ct, "load_chest_subjects", loaded)
    for name in ("load_nifti_folder", "load_ixi", "load_synthrad", "load_brats", "ixi_unpaired"):
        monkeypatch.setattr(realdata, name, loaded)
    monkeypatch.setattr(realdata.ixi, "load_ixi", loaded)


@pytest.mark.parametrize("fractions", BAD_FRACTIONS)
def test_fractions_checked_before_simulating(no_loading, fractions):
    match = "fractions must be three non-negative numbers"
    with pytest.raises(ValueError, match=match):
        bp.brain_slice_datasets(["t1w"], n_subjects=3, size=32, fractions=fractions)
    with pytest.raises(ValueError, match=match):
        chest_ct.chest_slice_datasets("ct", n_subjects=3, size=32, fractions=fractions)
    with pytest.raises(ValueError, match=match):
        chest_ct.drr_pairs(3, size=32, volume_size=16, fractions=fractions)
    with pytest.raises(ValueError, match=match):
        realdata.load_dataset("nifti:/nowhere", size=32, fractions=fractions)
    with pytest.raises(ValueError, match=match):
        realdata.ixi.ixi_unpaired("/nowhere", fractions=fractions)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: bp.brain_slice_datasets(["t1w"], n_subjects=True), "n_subjects must be"),
        (lambda: bp.brain_slice_datasets(["t1w"], n_subjects=3, seed=True), "seed must be"),
        (lambda: bp.brain_slice_datasets(["t1w"], n_subjects=3, label_from="x"), "label_from"),
        (lambda: bp.brain_slice_datasets(["t1w"], n_subjects=3, min_foreground=2), "min_foregr"),
        (lambda: bp.brain_slice_datasets(["t1w"], n_subjects=2), r"n_subjects must be >= 3"),
        (lambda: chest_ct.chest_slice_datasets("ct", size=True), "size must be one of"),
        (lambda: chest_ct.chest_slice_datasets("ct", size=48), "size must be one of"),
        (lambda: chest_ct.chest_slice_datasets("ct", label_from=3), "label_from must be"),
        (lambda: chest_ct.drr_pairs(size=True), "size must be a positive int|size must be an int"),
        (lambda: chest_ct.drr_pairs(volume_size=16.0), "volume_size must be an int >= 8"),
        (lambda: realdata.load_dataset("nifti:/x", subjects=True), "subjects must be a positive"),
        (lambda: realdata.load_dataset("nifti:/x", downsample=True), "downsample must be"),
        (lambda: realdata.load_dataset("nifti:/x", size=True), "size must be one of"),
        (lambda: realdata.load_dataset("nifti:/x", plane="oblique"), "plane must be one of"),
    ],
)
def test_other_arguments_checked_before_simulating(no_loading, call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bools_are_not_counts(tmp_path):
    with pytest.raises(ValueError, match=r"n_subjects must be a positive int, got True \(a bool\)"):
        bp.load_brain_subjects(True, progress=False)
    with pytest.raises(ValueError, match="seed must be a non-negative int, got True"):
        bp.load_brain_subjects(1, seed=True, progress=False)
    with pytest.raises(ValueError, match="n_subjects must be a positive int, got True"):
        chest_ct.load_chest_subjects(True, progress=False)
    with pytest.raises(ValueError, match="seed must be a non-negative int, got False"):
        chest_ct.simulate_chest_subject(False)
    with pytest.raises(ValueError, match="deformation_points must be an int >= 2, got True"):
        ChestCTConfig(deformation_points=True)
    with pytest.raises(ValueError, match="max_count must be a non-negative int, got True"):
        NoduleConfig(max_count=True)
    fake_medmnist_npz(tmp_path / "pneumoniamnist.npz")
    for kwargs, name in (({"limit": True}, "limit"), ({"resize_to": True}, "resize_to")):
        with pytest.raises(ValueError, match=f"{name} must be"):
            realdata.load_medmnist("pneumoniamnist", tmp_path, **kwargs)
    with pytest.raises(ValueError, match="size must be one of"):
        realdata.load_medmnist("pneumoniamnist", tmp_path, size=True)


def test_check_count_accepts_numpy_ints_and_none():
    check_count(np.int64(3), "n")
    check_count(None, "subjects", none_ok=True)
    with pytest.raises(ValueError, match=r"n must be a positive int, got 2.0 \(float\)"):
        check_count(2.0, "n")
    with pytest.raises(ValueError, match="n must be a positive int, got None"):
        check_count(None, "n")


def test_fraction_and_size_helpers():
    assert check_fractions([0.7, 0.15, 0.15]) == (0.7, 0.15, 0.15)
    assert split_sizes(20, (0.7, 0.15, 0.15)) == (14, 3, 3)
    assert split_sizes(3, (0.0, 0.5, 0.5)) == (0, 1, 2)
    assert min_subjects((0.7, 0.15, 0.15)) == 3 and min_subjects((0.7, 0.15, 0.15), 2) == 10
    assert min_subjects((1.0, 0.0, 0.0), 2) == 2


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"n_lines": True}, "n_lines must be an int >= 2, got True"),
        ({"n_depth": 1}, "n_depth must be an int >= 2"),
        ({"sector_deg": 190.0}, r"sector_deg must lie in \(0, 180\)"),
        ({"max_depth_mm": 5.0}, "apex_depth_mm < max_depth_mm"),
        ({"tgc_fraction": 1.5}, r"tgc_fraction must lie in \[0, 1\]"),
        ({"frequency_mhz": 0.0}, "frequency_mhz must be > 0"),
    ],
)
def test_ultrasound_config_is_checked(change, match):
    """UltrasoundConfig took anything; n_lines=True gave a one-line fan."""
    from medgen_nb.data.ultrasound import UltrasoundConfig

    with pytest.raises(ValueError, match=match):
        UltrasoundConfig(**change)


def test_target_that_is_a_source_is_refused(no_loading):
    """t1w -> t1w is the identity: a perfect score for copying the input."""
    with pytest.raises(ValueError, match="target 't1w' is also a source"):
        bp.brain_slice_datasets(["t1w", "t2w"], target="t1w", n_subjects=3)
    with pytest.raises(ValueError, match="target 'ct' is also a source"):
        chest_ct.chest_slice_datasets("ct", target="ct")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ChestCTConfig(noise_hu=float("nan")), "noise_hu must be >= 0"),
        (lambda: NoduleConfig(edge_mm=-1.0), "edge_mm must be >= 0"),
        (lambda: _cbct(n_streaks=True), "n_streaks must be a non-negative int, got True"),
        (lambda: _cbct(noise_hu=-5.0), "noise_hu must be >= 0"),
        (lambda: _cbct(gain_range=(1.1, 0.9)), "gain_range must be"),
        (lambda: _cbct(offset_range_hu=(10.0, -10.0)), "offset_range_hu must be"),
        (lambda: _cbct(cupping_hu=float("inf")), "cupping_hu must be a finite number"),
        (lambda: _cbct(fov_fraction=0.0), r"fov_fraction must lie in \[0.1, 1.5\]"),
    ],
)
def test_simulation_configs_checked_when_made(make, match):
    """NaN slipped past ``x < 0``; CBCT artefacts were checked (partly) only while simulating."""
    with pytest.raises(ValueError, match=match):
        make()


def _cbct(**change):
    from medgen_nb.data.ct_physics import CBCTArtefacts

    return CBCTArtefacts(**change)
