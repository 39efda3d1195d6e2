"""Each creation metric ranks real < mildly degraded < badly degraded slices of the course data."""

import pytest
import torch

from medgen_nb.metrics.features_train import training_data
from medgen_nb.metrics.report import LOWER_IS_BETTER, creation_report, degrade


@pytest.fixture(scope="module")
def halves():
    images = training_data().images
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
