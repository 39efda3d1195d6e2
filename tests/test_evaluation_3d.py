"""3-D translation end to end: patches in training, tiles in prediction, one score per volume.

The last test is the lab-mode claim of the 3-D task: a 3-D Pix2Pix trained for 300 steps on
two CPU cores beats the per-voxel lookup baseline on the held-out subjects.
"""

import pytest
import torch

from medgen_nb import tasks
from medgen_nb.data.volumes import PatchDataset, sliding_window
from medgen_nb.evaluation import evaluate, fit_or_load, predict
from medgen_nb.evaluation.fitting import PATCHES_PER_VOLUME, training_set
from medgen_nb.models import create
from medgen_nb.models.baselines import IntensityMappingBaseline
from medgen_nb.utils import seed_everything

TASK = "brain_t1w_to_t2w_3d"


@pytest.fixture(scope="module")
def smoke():
    return tasks.build(tasks.get(TASK), smoke=True)


def test_baseline_maps_whole_volumes_and_scores_one_row_per_metric(smoke):
    base = fit_or_load(IntensityMappingBaseline(), smoke, 0).model
    volumes = smoke["test"].tensors()
    pred = predict(base, volumes["image"])
    assert pred.shape == volumes["target"].shape == (1, 1, 32, 32, 32)
    results = evaluate(base, smoke, name="lookup")
    assert [r.metric for r in results] == ["mae", "psnr", "ssim"]
    assert all(r.images == r.subjects == 1 for r in results)  # one volume per subject


def test_a_3d_model_trains_on_patches_and_predicts_by_tiles(smoke, tmp_path):
    torch.manual_seed(0)
    model = create("pix2pix3d", size=16, base_channels=2, depth=3)
    train = training_set(model, smoke["train"], seed=0)
    assert isinstance(train, PatchDataset) and train.patch_size == 16
    assert len(train) == PATCHES_PER_VOLUME * len(smoke["train"])
    fitted = fit_or_load(model, smoke, 3, batch_size=2, cache=tmp_path)
    assert fitted.source == "trained" and fitted.record["train"]["patches"]["per_volume"] == 64
    again = fit_or_load(
        create("pix2pix3d", size=16, base_channels=2, depth=3), smoke, 3, batch_size=2,
        cache=tmp_path,
    )  # fmt: skip
    assert again.source == "trained"  # another initialisation is another run
    volumes = smoke["test"].tensors()["image"]
    tiled = predict(fitted.model, volumes, batch_size=4)
    by_hand = sliding_window(fitted.model.translate, volumes, 16, overlap=0.5)
    torch.testing.assert_close(tiled, by_hand)
    assert tiled.shape == (1, 1, 32, 32, 32)
    results = evaluate(fitted.model, smoke, name="pix2pix3d")
    assert all(r.images == 1 for r in results)


def test_an_unpaired_3d_model_gets_patches_of_two_subject_disjoint_domains(smoke, tmp_path):
    from medgen_nb.data.slices import UnpairedDataset

    model = create("cyclegan3d", size=16, base_channels=2, n_res_blocks=1)
    train = training_set(model, smoke["train"], seed=0)
    assert isinstance(train, UnpairedDataset)
    item = train[0]
    assert item["image"].shape == item["target"].shape == (1, 16, 16, 16)
    a, b = train.a, train.b.data  # patches of subject 0's sources, subject 1's targets
    assert a.volumes.subject_ids == smoke["train"].subject_ids[0::2]
    assert b.volumes.subject_ids == smoke["train"].subject_ids[1::2]
    fitted = fit_or_load(model, smoke, 2, batch_size=2, cache=tmp_path)
    assert fitted.record["train"]["pairing"] == "unpaired"


def test_3d_conditional_diffusion_translates_volumes_by_seeded_tiles(smoke, tmp_path):
    model = create("ddpm3d", size=16, base_channels=8, channel_mults=(1, 2), attention=False,
                   cond_channels=1)  # fmt: skip
    fitted = fit_or_load(model, smoke, 2, batch_size=2, cache=tmp_path)
    volumes = smoke["test"].tensors()["image"]
    first = predict(fitted.model, volumes, steps=3, seed=4)
    assert first.shape == (1, 1, 32, 32, 32)
    torch.testing.assert_close(predict(fitted.model, volumes, steps=3, seed=4), first)
    assert not torch.equal(predict(fitted.model, volumes, steps=3, seed=5), first)
    results = evaluate(fitted.model, smoke, name="ddpm3d", steps=3)
    assert [r.metric for r in results] == ["mae", "psnr", "ssim"]


def test_a_2d_model_on_volumes_is_refused_clearly(smoke):
    with pytest.raises(ValueError, match="2-D model but this split holds 3-D volumes"):
        training_set(create("pix2pix", size=32, base_channels=2, depth=3), smoke["train"])


def test_lab_3d_pix2pix_beats_the_lookup_baseline():
    # The lab recipe shortened to 300 steps (about 30 s on two cores): 20 subjects at 64³,
    # 32³ patches, depth 4. It already clears the per-voxel baseline in every metric.
    data = tasks.build(tasks.get(TASK))
    assert len(data["test"]) == 3 and data["test"].size == 64
    base = fit_or_load(IntensityMappingBaseline(), data, 0).model
    seed_everything(0)
    model = create("pix2pix3d", depth=4)
    fitted = fit_or_load(model, data, 300, batch_size=8, seed=0)
    lookup = {r.metric: r for r in evaluate(base, data, name="lookup")}
    ours = {r.metric: r for r in evaluate(fitted.model, data, name="pix2pix3d")}
    assert ours["psnr"].value > lookup["psnr"].value + 1.0, (ours["psnr"], lookup["psnr"])
    assert ours["ssim"].value > lookup["ssim"].value + 0.1, (ours["ssim"], lookup["ssim"])
    assert ours["mae"].value < lookup["mae"].value
