"""Each creation metric ranks real < mildly degraded < badly degraded slices of the course data."""

import pytest
import torch

from medgen_nb.data.brain_phantom import BrainPhantomConfig, load_brain_subjects
from medgen_nb.evaluation.feature_net import square_slices
from medgen_nb.metrics.creation import inception_score
from medgen_nb.metrics.degradations import degrade
from medgen_nb.metrics.features import class_probabilities
from medgen_nb.metrics.report import LOWER_IS_BETTER, creation_report


@pytest.fixture(scope="module")
def subject():
    config = BrainPhantomConfig(modalities=("t1w", "t2w", "flair"))
    return load_brain_subjects(1, seed=11, config=config, progress=False)[0]


@pytest.fixture(scope="module")
def halves(subject):
    """~600 64x64 slices of one simulated brain (T1w, T2w, FLAIR; three planes), split in two."""
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
        # "mild" stays near the real manifold: density (Naeem et al. 2020) counts fakes inside real
        # k-NN balls and plateaus (~0.25 here) once fakes leave them, so with the v2 feature network
        # blur 0.7 / noise 0.03 and blur 1.5 / noise 0.1 both sit on that plateau.
        "mild": creation_report(a, degrade(b, blur_sigma=0.4, noise_std=0.015)),
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
    ):  # not IS/MS: on the slice-level head blur and noise leave p(y|x) nearly unchanged
        r, m, b_ = (reports[k][metric] for k in ("real", "mild", "bad"))
        if metric in LOWER_IS_BETTER:
            assert r < m < b_, (metric, r, m, b_)
        else:
            assert r > m > b_, (metric, r, m, b_)


def test_degrade_rejects_wrong_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        degrade(torch.full((1, 1, 8, 8), 2.0), blur_sigma=1.0, noise_std=0.0)


def test_inception_score_reads_the_slice_level_head_by_default(subject):
    # A one-modality generator (every course model) is confidently one modality class on every
    # slice: on the modality head p(y|x) = p(y) and IS = 1 whatever the images look like. The
    # default head (slice level) varies within a modality, so IS can tell samples apart.
    t1w = square_slices(subject.images["t1w"], 2)
    t1w = t1w[(t1w > 0.05).float().mean((1, 2)) > 0.1][:, None]
    level = class_probabilities(t1w)
    torch.testing.assert_close(level, class_probabilities(t1w, head="level"))
    is_level = inception_score(level)
    is_modality = inception_score(class_probabilities(t1w, head="modality"))
    assert is_level > 1.5, is_level
    assert is_level > is_modality + 0.3, (is_level, is_modality)
