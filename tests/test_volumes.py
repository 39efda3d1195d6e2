"""3-D data: whole-volume data sets, seeded training patches, tiled prediction and its blending."""

import numpy as np
import pytest
import torch

from medgen_nb.data.intensity import mr_robust
from medgen_nb.data.slices import Subject
from medgen_nb.data.volumes import (
    PatchDataset,
    VolumeDataset,
    axial_view,
    blend_weights,
    sliding_window,
    tile_starts,
)


def make_subject(sid="s0", shape=(40, 48, 36), seed=0):
    rng = np.random.default_rng(seed)
    t1 = rng.random(shape, dtype=np.float32)
    t2 = (1.0 - t1) ** 2
    mask = np.zeros(shape, bool)
    mask[6:34, 8:40, 4:30] = True
    return Subject(
        sid,
        {"t1w": t1, "t2w": t2},
        {"t1w": mr_robust(t1), "t2w": mr_robust(t2)},
        (2.0, 2.0, 2.0),
        mask=mask,
    )


@pytest.fixture(scope="module")
def volumes():
    return VolumeDataset([make_subject(f"s{k}", seed=k) for k in range(3)], "t1", "t2", size=32)


def test_volumes_are_padded_to_a_cube_and_resampled(volumes):
    assert volumes.sources == ["t1w"] and volumes.target == "t2w"  # aliases resolved
    item = volumes[1]
    assert item["image"].shape == item["target"].shape == item["mask"].shape == (1, 32, 32, 32)
    assert item["image"].dtype == torch.float32 and int(item["subject"]) == 1
    assert set(torch.unique(item["mask"]).tolist()) == {0.0, 1.0}
    # 48 voxels of 2 mm become 32 of 3 mm; the 40-voxel X axis is centred in the padded cube
    assert volumes.spacing_mm == [3.0, 3.0, 3.0]
    mask = item["mask"][0]
    assert not mask[:4].any() and not mask[-4:].any()
    # shrinking averages areas: at a factor of two each voxel is the mean of its 2 x 2 x 2 block
    big = make_subject("big", shape=(64, 64, 48), seed=1)
    cube = VolumeDataset([big], "t1w", "t2w", size=32)[0]["image"][0].double()
    padded = np.zeros((64, 64, 64))
    padded[:, :, 8:56] = big.images["t1w"]
    blocks = padded.reshape(32, 2, 32, 2, 32, 2).mean((1, 3, 5))
    np.testing.assert_allclose(cube.numpy(), blocks, atol=1e-3)  # float16 storage
    t = volumes.tensors()
    assert t["image"].shape == (3, 1, 32, 32, 32) and t["subject"].tolist() == [0, 1, 2]


def test_positions_order_volumes_whatever_order_they_arrive_in():
    subjects = [make_subject(f"s{k}", seed=k) for k in range(3)]
    streamed = VolumeDataset([], "t1w", "t2w", size=32)
    for k in (2, 0, 1):
        streamed.add(subjects[k], k)
    at_once = VolumeDataset(subjects, "t1w", "t2w", size=32)
    assert streamed.subject_ids == at_once.subject_ids == ["s0", "s1", "s2"]
    for key in ("image", "target", "mask"):
        assert torch.equal(streamed.tensors()[key], at_once.tensors()[key])


def test_volume_dataset_refuses_bad_input():
    s = make_subject()
    with pytest.raises(ValueError, match="size must be one of"):
        VolumeDataset([s], "t1w", "t2w", size=50)
    with pytest.raises(ValueError, match="unknown modality 'ct'"):
        VolumeDataset([s], "t1w", "ct", size=32)
    only_t1 = Subject("s1", {"t1w": s.images["t1w"]}, {}, (2.0, 2.0, 2.0))
    with pytest.raises(ValueError, match="s1 has no 't2w' image"):
        VolumeDataset([s, only_t1], "t1w", "t2w", size=32)
    with pytest.raises(ValueError, match="also a source"):
        VolumeDataset([s], "t1w", "t1", size=32)
    data = VolumeDataset([s], "t1w", "t2w", size=32)
    with pytest.raises(ValueError, match="already added"):
        data.add(s)
    with pytest.raises(ValueError, match="holds no subjects"):
        VolumeDataset([], "t1w", "t2w", size=32).tensors()


def test_patches_are_seeded_crops_with_enough_foreground(volumes):
    patches = PatchDataset(volumes, 16, 10, min_foreground=0.5, seed=3)
    again = PatchDataset(volumes, 16, 10, min_foreground=0.5, seed=3)
    other = PatchDataset(volumes, 16, 10, min_foreground=0.5, seed=4)
    assert len(patches) == 30
    assert torch.equal(patches.corners, again.corners)
    assert not torch.equal(patches.corners, other.corners)
    for i in range(len(patches)):
        item = patches[i]
        k, (x, y, z) = int(item["subject"]), item["corner"].tolist()
        whole = volumes[k]
        for key in ("image", "target", "mask"):
            assert torch.equal(item[key], whole[key][:, x : x + 16, y : y + 16, z : z + 16])
        assert float(item["mask"].mean()) >= 0.5
    assert set(patches.corners[:, 0].tolist()) == {0, 1, 2}  # every volume contributes


def test_patch_dataset_refuses_bad_settings(volumes):
    with pytest.raises(ValueError, match="power of two"):
        PatchDataset(volumes, 24)
    with pytest.raises(ValueError, match="power of two"):
        PatchDataset(volumes, 64)  # larger than the 32³ volumes
    with pytest.raises(ValueError, match="patches_per_volume"):
        PatchDataset(volumes, 16, 0)
    with pytest.raises(ValueError, match="VolumeDataset"):
        PatchDataset([volumes[0]], 16)
    with pytest.raises(ValueError, match="no 32³ patch holds"):
        PatchDataset(volumes, 32, min_foreground=0.9)


def test_tiles_cover_every_axis():
    assert tile_starts(32, 16, 0.5) == [0, 8, 16]
    assert tile_starts(40, 16, 0.5) == [0, 8, 16, 24]
    assert tile_starts(37, 16, 0.5) == [0, 8, 16, 21]  # the last tile ends at the border
    assert tile_starts(16, 16, 0.5) == [0]
    assert tile_starts(20, 16, 0.0) == [0, 4]
    with pytest.raises(ValueError, match="does not fit"):
        tile_starts(12, 16, 0.5)


@pytest.mark.parametrize("blend", ["gaussian", "constant"])
def test_a_voxelwise_model_is_reproduced_exactly(blend):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 37, 24, 30, generator=g)
    out = sliding_window(lambda t: torch.cat([t**2, 1 - t], 1), x, 16, blend=blend, batch_size=5)
    assert out.shape == (2, 2, 37, 24, 30)
    torch.testing.assert_close(out, torch.cat([x**2, 1 - x], 1), rtol=0, atol=1e-6)


def test_blending_weighs_tile_centres_most():
    w = blend_weights(16, 3, "gaussian")
    assert w.shape == (16, 16, 16) and float(w.max()) == pytest.approx(1.0)
    assert float(w[0, 0, 0]) > 0 and float(w[0, 0, 0]) < 1e-3 * float(w[7, 7, 7]) + 1e-6
    assert torch.equal(blend_weights(8, 2, "constant"), torch.ones(8, 8))
    # a model that answers with its tile's position: seams are blended, values stay in range
    x = torch.zeros(1, 1, 32, 32, 32)
    counter = iter(range(1000))

    def tile_index(t):
        return torch.stack([torch.full_like(t[0], float(next(counter))) for _ in t])

    out = sliding_window(tile_index, x, 16, overlap=0.5, batch_size=1)
    assert 0.0 <= float(out.min()) and float(out.max()) <= 26.0 + 1e-4
    assert float(out[0, 0, 0, 0, 0]) == pytest.approx(0.0, abs=1e-3)  # only the first tile
    with pytest.raises(ValueError, match="blend must be one of"):
        blend_weights(8, 3, "hann")


def test_sliding_window_refuses_bad_input():
    x = torch.rand(1, 1, 16, 16, 16)
    with pytest.raises(ValueError, match=r"\(N, C, D, H, W\)"):
        sliding_window(lambda t: t, x[0], 16)
    with pytest.raises(ValueError, match="smaller than"):
        sliding_window(lambda t: t, x, 32)
    with pytest.raises(ValueError, match="overlap"):
        sliding_window(lambda t: t, x, 8, overlap=1.0)
    with pytest.raises(ValueError, match="fn must map"):
        sliding_window(lambda t: t[:, :, :4], x, 8)


def test_axial_view_turns_the_plane_as_the_slices_do():
    v = np.arange(4 * 3 * 2).reshape(4, 3, 2)
    assert np.array_equal(axial_view(v, 1), np.rot90(v[:, :, 1]))
    assert axial_view(v).shape == (3, 4)
    with pytest.raises(ValueError, match="z must be"):
        axial_view(v, 5)
