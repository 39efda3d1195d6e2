"""The translation explorer shows the chosen model's prediction of the chosen slice."""

import pytest
import torch

from medgen_nb.models.baselines import IntensityMappingBaseline
from medgen_nb.models.pix2pix import Pix2Pix
from medgen_nb.widgets import translate_explorer


class _Slices(torch.utils.data.Dataset):
    def __init__(self, n=3, size=16):
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, 1, size, size, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"image": self.x[i], "target": 1 - self.x[i]}


def _explorer():
    torch.manual_seed(0)
    data = _Slices()
    inverse = IntensityMappingBaseline("polynomial", degree=1).fit(data.x, 1 - data.x)
    models = {"pix2pix": Pix2Pix(size=16, base_channels=4), "inverse": inverse}
    return translate_explorer(models, data, names=("T1w", "T2w")), models, data


def test_changing_model_and_slice_changes_the_image():
    ex, _, _ = _explorer()
    first = ex.image.value
    ex.controls["model"].value = "inverse"
    second = ex.image.value
    ex.controls["index"].value = 2
    assert first != second != ex.image.value
    assert ex.renders == 3


def test_shown_prediction_equals_model_translate():
    ex, models, data = _explorer()
    ex.controls["index"].value = 1
    source, pred, target = ex.prediction(**ex.values())
    assert not models["pix2pix"].training  # the explorer switched dropout/batch-norm to eval
    torch.testing.assert_close(pred, models["pix2pix"].translate(data[1]["image"][None]))
    torch.testing.assert_close(source, data[1]["image"][None])
    torch.testing.assert_close(target, data[1]["target"][None])
    ex.controls["model"].value = "inverse"
    _, pred, target = ex.prediction(**ex.values())
    torch.testing.assert_close(pred, target, atol=1e-5, rtol=0)  # exact linear inverse


def test_title_reports_slice_metrics():
    ex, _, _ = _explorer()
    fig = ex.render(**ex.values())
    assert "PSNR" in fig._suptitle.get_text() and "SSIM" in fig._suptitle.get_text()


def test_rejects_empty_models():
    with pytest.raises(ValueError, match="at least one model"):
        translate_explorer({}, _Slices())


def test_rejects_a_model_that_cannot_translate():
    from medgen_nb.models.vae import ConvVAE

    with pytest.raises(ValueError, match="'vae' .*has no translate"):
        translate_explorer({"vae": ConvVAE(size=16, base_channels=4)}, _Slices())


def test_rejects_empty_dataset():
    with pytest.raises(ValueError, match="dataset is empty"):
        translate_explorer({"m": IntensityMappingBaseline()}, _Slices(n=0))


def test_rejects_dataset_without_target():
    data = [{"image": torch.rand(1, 16, 16)}]
    with pytest.raises(ValueError, match="need a 'target'"):
        translate_explorer({"m": IntensityMappingBaseline()}, data)


def test_prediction_rejects_unknown_model_and_index():
    ex, _, _ = _explorer()
    with pytest.raises(ValueError, match="model must be one of"):
        ex.prediction("unit", 0)
    with pytest.raises(ValueError, match="out of range"):
        ex.prediction("inverse", 3)
