"""Residual misalignment of paired modalities: sizes match the setting, "perfect" moves nothing."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from medgen_nb import tasks
from medgen_nb.data.alignment import (
    AlignmentConfig,
    _rng,
    displacement,
    misalign_subject,
    warp,
)
from medgen_nb.data.intensity import IntensityMap
from medgen_nb.data.slices import Subject

pytestmark = pytest.mark.usefixtures("one_thread")

SPACING = (2.0, 2.0, 2.0)
RIGID = AlignmentConfig(shift_sd_mm=1.5, rotation_sd_deg=0.0, elastic_mm=0.0, cbct_mm=0.0)


def _blob(shape=(24, 24, 24), centre=(12.0, 12.0, 12.0), radius=5.0) -> np.ndarray:
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    r = np.linalg.norm(idx - np.array(centre), axis=-1)
    return np.clip(radius + 0.5 - r, 0, 1).astype(np.float32)  # a sharp ball, one-voxel edge


def _subject(modalities=("t1w", "t2w", "cbct"), shape=(24, 24, 24)) -> Subject:
    rng = np.random.default_rng(0)
    images = {}
    for i, m in enumerate(modalities):
        smooth = _blob(shape, radius=7.0 + i) * 0.7 + 0.1 * rng.random(shape, dtype=np.float32)
        images[m] = smooth.clip(0, 1).astype(np.float32)
    return Subject(
        "toy-1",
        images,
        {m: IntensityMap("mr", 0.0, 1.0, "a.u.") for m in modalities},
        SPACING,
        labels={"tissue": (images[modalities[0]] > 0.5).astype(np.uint8)},
        mask=_blob(shape, radius=10.0) > 0,
    )


def _centroid(vol: np.ndarray) -> np.ndarray:
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in vol.shape], indexing="ij"), -1)
    return (idx * vol[..., None]).sum((0, 1, 2)) / vol.sum()


def test_perfect_returns_the_images_bit_identical():
    s = _subject()
    out = misalign_subject(s, "t2w", AlignmentConfig.preset("perfect"), seed=3)
    for m in s.images:
        assert np.array_equal(out.images[m], s.images[m])
    assert "alignment" not in out.meta


def test_a_sharp_ball_moves_by_the_drawn_shift_within_a_voxel():
    ball = _blob()
    for k in range(5):
        u, params = displacement(ball.shape, SPACING, RIGID, np.random.default_rng(k))
        moved = warp(ball, u, SPACING)
        shift_vox = np.array(params["shift_mm"]) / np.array(SPACING)
        assert np.abs(shift_vox).max() > 0.2  # the draw moves something
        err = _centroid(moved) - _centroid(ball) - shift_vox
        assert np.abs(err).max() < 0.25, (k, err)


def test_rigid_residual_rms_matches_the_configured_sd():
    # E|t|^2 = 3 sd^2: the mean over draws of the stored RMS^2 estimates it.
    s = _subject(("t1w", "t2w"), shape=(8, 8, 8))
    rms2 = [
        misalign_subject(s, "t2w", RIGID, seed).meta["alignment"]["t1w"]["rms_mm"] ** 2
        for seed in range(200)
    ]
    assert math.sqrt(np.mean(rms2)) == pytest.approx(math.sqrt(3) * 1.5, rel=0.12)


def test_elastic_residual_has_the_configured_rms_and_is_smooth():
    cfg = AlignmentConfig(shift_sd_mm=0, rotation_sd_deg=0, elastic_mm=2.0, cbct_mm=0)
    u, _ = displacement((30, 30, 30), SPACING, cfg, np.random.default_rng(1))
    assert float(u.square().sum(-1).mean().sqrt()) == pytest.approx(2.0, rel=1e-4)
    # smooth: neighbouring voxels move almost alike (control points are 15 voxels apart; white
    # noise of this RMS would differ by about 2.8 mm between neighbours)
    step = (u[1:] - u[:-1]).norm(dim=-1).max()
    assert step < 1.0


def test_rotation_residual_grows_with_distance_from_the_centre():
    cfg = AlignmentConfig(shift_sd_mm=0, rotation_sd_deg=1.0, elastic_mm=0, cbct_mm=0)
    u, params = displacement((31, 31, 31), SPACING, cfg, np.random.default_rng(2))
    length = u.norm(dim=-1)
    assert float(length[15, 15, 15]) < 1e-5  # the centre stays
    angle = math.radians(math.sqrt(sum(a * a for a in params["rotation_deg"])))
    # at 30 mm from the centre a rotation by `angle` moves a point at most 30 * angle mm
    assert float(length[30, 15, 15]) <= 30 * angle * 1.01
    assert float(length.max()) > 0


def test_correlation_with_the_original_drops_as_the_setting_grows():
    s = _subject(("t1w", "t2w"))
    corr = []
    for name in ("perfect", "registered", "unregistered"):
        out = misalign_subject(s, "t2w", AlignmentConfig.preset(name), seed=0)
        corr.append(np.corrcoef(out.images["t1w"].ravel(), s.images["t1w"].ravel())[0, 1])
    assert corr[0] == pytest.approx(1.0)
    assert corr[0] > corr[1] > corr[2]


def test_reference_labels_and_mask_stay_and_parameters_are_recorded():
    s = _subject()
    out = misalign_subject(s, "t2w", AlignmentConfig(), seed=0)
    assert out.images["t2w"] is s.images["t2w"]
    assert out.labels is s.labels and out.mask is s.mask
    assert not np.array_equal(out.images["t1w"], s.images["t1w"])
    rec = out.meta["alignment"]
    assert rec["reference"] == "t2w" and set(rec) == {"reference", "t1w", "cbct"}
    assert rec["t1w"]["rms_mm"] > 0 and len(rec["t1w"]["shift_mm"]) == 3
    only = misalign_subject(s, "t2w", AlignmentConfig(), seed=0, moving=["t1w"])
    assert only.images["cbct"] is s.images["cbct"] and set(only.meta["alignment"]) == {
        "reference",
        "t1w",
    }
    assert np.array_equal(only.images["t1w"], out.images["t1w"])  # same draw whichever others move


def test_draws_are_deterministic_and_differ_between_modalities():
    s = _subject()
    a = misalign_subject(s, "t2w", AlignmentConfig(), seed=4)
    b = misalign_subject(s, "t2w", AlignmentConfig(), seed=4)
    c = misalign_subject(s, "t2w", AlignmentConfig(), seed=5)
    assert np.array_equal(a.images["t1w"], b.images["t1w"])
    assert a.meta["alignment"]["t1w"]["shift_mm"] != a.meta["alignment"]["cbct"]["shift_mm"]
    assert a.meta["alignment"]["t1w"]["shift_mm"] != c.meta["alignment"]["t1w"]["shift_mm"]
    x, y = _rng(4, "toy-1", "t1w").random(), _rng(4, "toy-1", "t1w").random()
    assert x == y


def test_only_cbct_gets_anatomical_change_and_the_chest_breathes():
    s = _subject()
    brain = misalign_subject(s, "t2w", AlignmentConfig(), seed=0).meta["alignment"]
    chest = misalign_subject(s, "t2w", AlignmentConfig(), seed=0, breathing=True).meta["alignment"]
    assert "cbct_deformation_mm" not in brain["t1w"] and "breathing_mm" not in chest["t1w"]
    assert brain["cbct"]["cbct_deformation_mm"] > 0 and "breathing_mm" not in brain["cbct"]
    assert 1.5 <= chest["cbct"]["breathing_mm"] <= 3.0
    # breathing moves mostly along superior-inferior (Z), most at the inferior end
    cfg = AlignmentConfig(shift_sd_mm=0, rotation_sd_deg=0, elastic_mm=0, cbct_mm=3.0)
    no_breath, _ = displacement((20, 20, 20), SPACING, cfg, np.random.default_rng(0), cbct=True)
    u, _ = displacement(
        (20, 20, 20), SPACING, cfg, np.random.default_rng(0), cbct=True, breathing=True
    )
    b = u - no_breath
    assert b[..., 2].abs().mean() > 3 * b[..., 0].abs().mean()
    assert b[10, 10, 0, 2] > b[10, 10, 19, 2]


def test_bad_settings_and_names_are_refused():
    with pytest.raises(ValueError, match="shift_sd_mm must be a finite number >= 0"):
        AlignmentConfig(shift_sd_mm=-1.0)
    with pytest.raises(ValueError, match="control_mm must be a positive"):
        AlignmentConfig(control_mm=0)
    with pytest.raises(ValueError, match="alignment must be one of"):
        AlignmentConfig.preset("aligned")
    with pytest.raises(ValueError, match="reference 'ct' is not one of its images"):
        misalign_subject(_subject(), "ct", AlignmentConfig(), seed=0)
    with pytest.raises(ValueError, match=r"cannot move \['t2w'\]"):
        misalign_subject(_subject(), "t2w", AlignmentConfig(), seed=0, moving=["t1w", "t2w"])
    with pytest.raises(TypeError, match="AlignmentConfig or None"):
        misalign_subject(_subject(), "t2w", {"shift_sd_mm": 1}, seed=0)
    with pytest.raises(ValueError, match="alignment must be one of"):
        dataclasses.replace(tasks.get("brain_t1w_to_t2w"), alignment="rigid")
    with pytest.raises(ValueError, match="translation tasks only"):
        tasks.build(tasks.get(tasks.available("creation")[0]), smoke=True, alignment="perfect")


def test_a_registered_build_differs_from_perfect_only_in_the_source():
    task = tasks.get("brain_t1w_to_t2w")
    assert task.alignment == "registered"
    reg = tasks.build(task, smoke=True)
    per = tasks.build(task, smoke=True, alignment="perfect")
    assert reg.task.alignment == "registered" and per.task.alignment == "perfect"
    assert reg.record()["task"]["alignment"] == "registered"
    a, b = reg.splits["train"].tensors(), per.splits["train"].tensors()
    assert torch.equal(a["target"], b["target"]) and torch.equal(a["mask"], b["mask"])
    assert not torch.equal(a["image"], b["image"])
    assert (a["image"] - b["image"]).abs().mean() > 1e-3
