"""Notebook 03 widgets, driven headlessly: each control changes the displayed GAN samples."""

import pytest
import torch

from medgen_nb.models import create
from medgen_nb.widgets import class_sampler_explorer, infogan_code_explorer

TINY = dict(in_channels=1, size=16, latent_dim=8, base_channels=4)


@pytest.fixture(scope="module")
def cgan():
    torch.manual_seed(0)
    return create("cgan", num_classes=2, **TINY).eval()


@pytest.fixture(scope="module")
def infogan():
    torch.manual_seed(0)
    return create("infogan", categorical_dim=3, continuous_dim=2, **TINY).eval()


def test_class_change_gives_exactly_model_sample_of_that_class(cgan):
    ex = class_sampler_explorer(cgan, ["no lesion", "lesion"])
    before_png, before = ex.image.value, ex.samples.clone()
    ex.controls["label"].value = 1
    n, seed = ex.controls["n"].value, ex.controls["seed"].value
    expected = cgan.sample(
        n, labels=torch.ones(n, dtype=torch.long), generator=torch.Generator().manual_seed(seed)
    )
    torch.testing.assert_close(ex.samples, expected)
    assert not torch.equal(ex.samples, before), "the class label did not change the samples"
    assert ex.image.value != before_png


def test_seed_and_count_change_the_batch(cgan):
    ex = class_sampler_explorer(cgan, ["a", "b"], max_samples=5)
    first = ex.samples.clone()
    ex.controls["seed"].value = 7
    assert not torch.equal(ex.samples, first)
    ex.controls["n"].value = 3
    assert ex.samples.shape == (3, 1, 16, 16)
    assert 0.0 <= float(ex.samples.min()) and float(ex.samples.max()) <= 1.0


def test_class_sampler_rejects_unconditional_model():
    with pytest.raises(ValueError, match="class-conditional"):
        class_sampler_explorer(create("dcgan", **TINY), ["a", "b"])


def test_class_sampler_rejects_wrong_class_names(cgan):
    with pytest.raises(ValueError, match="class_names"):
        class_sampler_explorer(cgan, ["only one"])


def test_class_sampler_rejects_bad_max_samples(cgan):
    with pytest.raises(ValueError, match="max_samples"):
        class_sampler_explorer(cgan, ["a", "b"], max_samples=0)


def test_infogan_sliders_set_the_codes_passed_to_sample(infogan):
    ex = infogan_code_explorer(infogan, n=4)
    assert set(ex.controls) == {"categorical", "continuous_0", "continuous_1", "seed"}
    before_png, before = ex.image.value, ex.samples.clone()
    ex.controls["continuous_1"].value = 1.5
    assert ex.image.value != before_png
    assert not torch.equal(ex.samples, before), "moving a continuous code did not change samples"
    ex.controls["categorical"].value = 2
    codes = {
        "categorical": torch.full((4,), 2, dtype=torch.long),
        "continuous": torch.tensor([[0.0, 1.5]] * 4),
    }
    expected = infogan.sample(4, codes=codes, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ex.samples, expected)


def test_infogan_seed_changes_noise_but_not_codes(infogan):
    ex = infogan_code_explorer(infogan, n=2)
    first = ex.samples.clone()
    ex.controls["seed"].value = 3
    assert not torch.equal(ex.samples, first)
    assert ex.codes(**{k: v for k, v in ex.values().items() if k != "seed"})[
        "categorical"
    ].tolist() == [0, 0]


def test_infogan_explorer_rejects_other_models(cgan):
    with pytest.raises(ValueError, match="InfoGAN"):
        infogan_code_explorer(cgan)


def test_infogan_explorer_rejects_bad_n(infogan):
    with pytest.raises(ValueError, match="n must be"):
        infogan_code_explorer(infogan, n=0)
