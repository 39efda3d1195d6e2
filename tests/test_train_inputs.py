"""Images enter every model family as floating-point tensors in [0, 1], and batches carry the keys
the model reads; anything else is refused with a ValueError that names the fix (issue 12, items
6, 10b and 10c)."""

import math

import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from medgen_nb.models import create
from medgen_nb.models.baselines import IntensityMappingBaseline
from medgen_nb.train import fit

pytestmark = pytest.mark.usefixtures("one_thread")

S = 16
FAMILIES = {
    "vae": dict(size=S, base_channels=4, latent_dim=4),
    "cvae": dict(size=S, base_channels=4, latent_dim=4, num_classes=2),
    "dcgan": dict(size=S, base_channels=4, latent_dim=4),
    "pix2pix": dict(size=S, base_channels=4),
    "cyclegan": dict(size=S, base_channels=4, n_res_blocks=1),
    "unit": dict(size=S, base_channels=4),
    "ddpm": dict(size=S, base_channels=8, channel_mults=(1, 2), timesteps=10),
    "ddpm_translate": dict(size=S, base_channels=8, channel_mults=(1, 2), timesteps=10,
                           cond_channels=1),
}  # fmt: skip
PAIRED = ("pix2pix", "cyclegan", "unit", "ddpm_translate")


def _model(name: str):
    torch.manual_seed(0)
    return create("ddpm" if name == "ddpm_translate" else name, **FAMILIES[name])


class _Items(Dataset):
    """Dict items, as SliceDataset yields them; ``bad`` replaces one key's images."""

    def __init__(self, keys, bad_key=None, bad=None, n=8):
        g = torch.Generator().manual_seed(0)
        self.items = [{k: torch.rand(1, S, S, generator=g) for k in keys} for _ in range(n)]
        for i, item in enumerate(self.items):
            item["label"] = torch.tensor(i % 2)
            if bad_key is not None:
                item[bad_key] = bad(item[bad_key])

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _fit(model, data, steps=1):
    return fit(model, data, steps, batch_size=4, progress=False, precision="fp32", device="cpu")


HU = ("raw HU", lambda x: x * 3000.0 - 1000.0, r"values in \[-?\d.*medgen_nb\.data\.intensity")
SIGNED = ("[-1, 1]", lambda x: x * 2.0 - 1.0, r"\(x \+ 1\) / 2")
UINT8 = ("uint8", lambda x: (x * 255).to(torch.uint8), r"dtype torch\.uint8.*x\.float\(\) / 255")
NAN = ("NaN", lambda x: x.index_fill(0, torch.tensor([0]), math.nan), "NaN")
INT64 = ("int64", lambda x: (x * 255).long(), r"dtype torch\.int64.*medgen_nb\.data\.intensity")


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("kind,bad,message", [HU, SIGNED, UINT8, NAN, INT64])
def test_training_on_images_outside_the_convention_is_refused(name, kind, bad, message):
    keys = ("image", "target") if name in PAIRED else ("image",)
    for key in keys:  # the source and the target are both checked
        data = _Items(keys, key, bad)
        with pytest.raises(ValueError, match=rf"batch\[['\"]{key}['\"]\].*{message}"):
            _fit(_model(name), data)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_valid_images_with_a_small_overshoot_train(name):
    keys = ("image", "target") if name in PAIRED else ("image",)
    for key in keys:
        data = _Items(keys, key, lambda x: x * 1.02 - 0.01)  # e.g. resampling ringing
        hist = _fit(_model(name), data)
        assert hist.steps_done == 1 and all(math.isfinite(v[0]) for v in hist.logs.values())


@pytest.mark.parametrize(
    "name,method",
    [
        ("pix2pix", "translate"),
        ("cyclegan", "translate"),
        ("cyclegan", "translate_back"),
        ("unit", "translate"),
        ("unit", "translate_back"),
        ("ddpm_translate", "translate"),
    ],
)
def test_translating_images_outside_the_convention_is_refused(name, method):
    model = _model(name).eval()
    run = getattr(model, method)
    kw = {"steps": 2} if name == "ddpm_translate" else {}
    with pytest.raises(ValueError, match=r"medgen_nb\.data\.intensity"):
        run(torch.rand(2, 1, S, S) * 3000.0 - 1000.0, **kw)
    with pytest.raises(ValueError, match=r"x\.float\(\) / 255"):
        run((torch.rand(2, 1, S, S) * 255).to(torch.uint8), **kw)
    assert run(torch.rand(2, 1, S, S), **kw).shape == (2, 1, S, S)  # valid input still works


def test_vae_encode_and_reconstruct_check_their_input():
    model = _model("vae")
    with pytest.raises(ValueError, match=r"x has dtype torch\.uint8"):
        model.reconstruct((torch.rand(2, 1, S, S) * 255).to(torch.uint8))
    with pytest.raises(ValueError, match=r"x must hold intensities in \[0, 1\]"):
        model.encode(torch.rand(2, 1, S, S) * 255)


def test_intensity_baseline_checks_its_input():
    base = IntensityMappingBaseline()
    x = torch.rand(2, 1, S, S)
    with pytest.raises(ValueError, match=r"source has dtype torch\.uint8"):
        base.fit((x * 255).to(torch.uint8), x)
    with pytest.raises(ValueError, match=r"target must hold intensities in \[0, 1\]"):
        base.fit(x, x * 3000 - 1000)
    assert base.fit(x, x).translate(x).shape == x.shape


# --- item 10b: batches without the keys the model reads -----------------------------------------
@pytest.mark.parametrize(
    "name,data,missing,hint",
    [
        ("vae", _Items(("img",)), "image", "'image'"),
        ("cvae", TensorDataset(torch.rand(8, 1, S, S)), "label", "label_from"),
        ("dcgan", _Items(("x",)), "image", "'image'"),
        ("pix2pix", TensorDataset(torch.rand(8, 1, S, S), torch.rand(8, 1, S, S)), "target",
         "target="),
        ("cyclegan", _Items(("image",)), "target", "target="),
        ("unit", _Items(("source", "target")), "image", "'image'"),
        ("ddpm_translate", _Items(("image",)), "target", "target="),
    ],
)  # fmt: skip
def test_a_batch_without_the_keys_the_model_reads_is_refused(name, data, missing, hint):
    model = _model(name)
    with pytest.raises(ValueError, match=rf"needs batch keys .*'{missing}'.* batch has") as info:
        _fit(model, data)
    assert hint in str(info.value) and type(model).__name__ in str(info.value)
