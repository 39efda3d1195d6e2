"""Each creation metric ranks real < mildly degraded < badly degraded slices of the course data."""

import pytest
import torch

from medgen_nb.data.brain_phantom import BrainPhantomConfig, load_brain_subjects
from medgen_nb.evaluation.feature_net import square_slices
from medgen_nb.metrics.report import LOWER_IS_BETTER, creation_report, degrade


@pytest.fixture(scope="module")
def halves():
    """~600 64x64 slices of one simulated brain (T1w, T2w, FLAIR; three planes), split in two."""
    config = BrainPhantomConfig(modalities=("t1w", "t2w", "flair"))
    subject = load_brain_subjects(1, seed=11, config=config, progress=False)[0]
    stacks = [square_slices(v, axis) for v in subject.images.values() for axis in range(3)]
    images = torch.cat(stacks)
    images = images[(images > 0.05).float().mean((1, 2)) > 0.1][:, None]
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(images), generator=g)[:600]
    return images[idx[0::2]], images[idx[1::2]]


def test_metrics_rank_degradations(halves):
    a, b = halves
    reports = {
        "real": creation_report(a, b),
        "mild": creation_report(a, degrade(b, blur_sigma=0.7, noise_std=0.03)),
        "bad": creation_report(a, degrade(b, blur_sigma=1.5, noise_std=0.1)),
    }
    for metric in (
        "fid",
        "kid",
        "mmd",
        "sliced_wd",
        "intensity_wd",
        "precision",
        "density",
        "mode_score",
    ):
        r, m, b_ = (reports[k][metric] for k in ("real", "mild", "bad"))
        if metric in LOWER_IS_BETTER:
            assert r < m < b_, (metric, r, m, b_)
        else:
            assert r > m > b_, (metric, r, m, b_)


def test_degrade_rejects_wrong_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        degrade(torch.full((1, 1, 8, 8), 2.0), blur_sigma=1.0, noise_std=0.0)
