"""model.config: one capture mechanism, pinned to the dicts that checkpoints and caches were keyed by.

``REFERENCE`` was printed by the hand-built ``self.config = dict(...)`` blocks before they were
replaced by :class:`medgen_nb.models.base.Configurable`. A checkpoint compares its stored config
with ``model.config`` and the evaluation cache hashes it, so any drift here orphans saved runs.
"""

import json

import numpy as np
import pytest
import torch

import medgen_nb.downstream  # noqa: F401  (registers the downstream models)
from medgen_nb.models import available, create, registry
from medgen_nb.models.base import Configurable, GenerativeModel
from medgen_nb.models.baselines import IntensityMappingBaseline
from medgen_nb.models.cyclegan import CycleGAN
from medgen_nb.models.pix2pix import Pix2Pix
from medgen_nb.models.unit import UNIT

pytestmark = pytest.mark.usefixtures("one_thread")

_GAN = dict(
    in_channels=1, size=64, latent_dim=64, num_classes=0, base_channels=32, lr=0.0002,
    betas=(0.5, 0.999), loss="nonsaturating", spectral_norm=False,
)  # fmt: skip

# name -> [(constructor keywords, the config today's code stored)], the first at default settings
# (the conditional GANs have no default class count), the second off the defaults.
REFERENCE: dict[str, list[tuple[dict, dict]]] = {
    "classifier": [
        ({}, dict(in_channels=1, num_classes=2, size=64, base_channels=16, lr=0.001)),
        (dict(num_classes=3, size=32), dict(in_channels=1, num_classes=3, size=32, base_channels=16,
                                            lr=0.001)),
    ],
    "segmenter": [
        ({}, dict(in_channels=1, num_classes=2, size=64, base_channels=16, lr=0.001)),
        (dict(num_classes=5, base_channels=8), dict(in_channels=1, num_classes=5, size=64,
                                                    base_channels=8, lr=0.001)),
    ],
    "detector": [
        ({}, dict(in_channels=1, size=64, base_channels=16, lr=0.001, box_weight=1.0,
                  typical_size=3.0)),
        (dict(size=32, typical_size=5.0), dict(in_channels=1, size=32, base_channels=16, lr=0.001,
                                               box_weight=1.0, typical_size=5.0)),
    ],
    "vae": [
        ({}, dict(in_channels=1, size=64, latent_dim=32, base_channels=32, beta=1.0, lr=0.001,
                  recon="bce", num_classes=0)),
        (dict(in_channels=2, size=32, latent_dim=8, base_channels=8, beta=0.5, lr=5e-4,
              recon="mse"),
         dict(in_channels=2, size=32, latent_dim=8, base_channels=8, beta=0.5, lr=0.0005,
              recon="mse", num_classes=0)),
    ],
    "vae3d": [
        ({}, dict(in_channels=1, size=32, latent_dim=64, base_channels=8, beta=1.0, lr=0.001,
                  recon="bce", num_classes=0)),
        (dict(size=16, latent_dim=4, recon="mse"),
         dict(in_channels=1, size=16, latent_dim=4, base_channels=8, beta=1.0, lr=0.001,
              recon="mse", num_classes=0)),
    ],
    "cvae": [
        ({}, dict(in_channels=1, size=64, latent_dim=32, base_channels=32, beta=1.0, lr=0.001,
                  recon="bce", num_classes=2)),
        (dict(num_classes=3, size=16, base_channels=8),
         dict(in_channels=1, size=16, latent_dim=32, base_channels=8, beta=1.0, lr=0.001,
              recon="bce", num_classes=3)),
    ],
    "gan": [
        ({}, _GAN),
        (dict(size=16, latent_dim=8, base_channels=4, spectral_norm=True, betas=[0.0, 0.9]),
         {**_GAN, "size": 16, "latent_dim": 8, "base_channels": 4, "spectral_norm": True,
          "betas": (0.0, 0.9)}),
    ],
    "dcgan": [
        ({}, _GAN),
        (dict(size=16, base_channels=4, loss="hinge", lr=1e-4),
         {**_GAN, "size": 16, "base_channels": 4, "loss": "hinge", "lr": 0.0001}),
    ],
    "cgan": [
        (dict(num_classes=2), {**_GAN, "num_classes": 2}),
        (dict(size=16, base_channels=4, num_classes=3),
         {**_GAN, "size": 16, "base_channels": 4, "num_classes": 3}),
    ],
    "acgan": [
        (dict(num_classes=2), {**_GAN, "num_classes": 2}),
        (dict(size=16, base_channels=4, num_classes=4, loss="lsgan"),
         {**_GAN, "size": 16, "base_channels": 4, "num_classes": 4, "loss": "lsgan"}),
    ],
    "infogan": [
        ({}, {**_GAN, "categorical_dim": 10, "continuous_dim": 2, "info_weight": 1.0}),
        (dict(size=16, base_channels=4, categorical_dim=3, continuous_dim=0, info_weight=0.5),
         {**_GAN, "size": 16, "base_channels": 4, "categorical_dim": 3, "continuous_dim": 0,
          "info_weight": 0.5}),
    ],
    "wgan_gp": [
        ({}, {**_GAN, "lr": 0.0001, "betas": (0.0, 0.9), "loss": "wasserstein",
              "gp_weight": 10.0, "n_critic": 5}),
        (dict(size=16, base_channels=4, n_critic=2, gp_weight=5.0, betas=[0.5, 0.9]),
         {**_GAN, "size": 16, "base_channels": 4, "lr": 0.0001, "betas": (0.5, 0.9),
          "loss": "wasserstein", "gp_weight": 5.0, "n_critic": 2}),
    ],
    "pix2pix": [
        ({}, dict(in_channels=1, out_channels=1, size=64, base_channels=32, depth=6, d_layers=2,
                  norm="batch", dropout=0.5, lambda_l1=100.0, gan_loss="nonsaturating",
                  lr=0.0002, betas=(0.5, 0.999))),
        (dict(in_channels=2, size=32, base_channels=8, depth=3, betas=[0.5, 0.99],
              gan_loss="lsgan"),
         dict(in_channels=2, out_channels=1, size=32, base_channels=8, depth=3, d_layers=1,
              norm="batch", dropout=0.5, lambda_l1=100.0, gan_loss="lsgan", lr=0.0002,
              betas=(0.5, 0.99))),
    ],
    "pix2pix3d": [
        ({}, dict(in_channels=1, out_channels=1, size=32, base_channels=16, depth=5, d_layers=1,
                  norm="batch", dropout=0.5, lambda_l1=100.0, gan_loss="nonsaturating",
                  lr=0.0002, betas=(0.5, 0.999))),
        (dict(size=16, base_channels=4, depth=3, norm="instance"),
         dict(in_channels=1, out_channels=1, size=16, base_channels=4, depth=3, d_layers=1,
              norm="instance", dropout=0.5, lambda_l1=100.0, gan_loss="nonsaturating",
              lr=0.0002, betas=(0.5, 0.999))),
    ],
    "cyclegan3d": [
        ({}, dict(in_channels=1, out_channels=1, size=32, generator="resnet", base_channels=8,
                  n_res_blocks=3, depth=5, d_layers=1, norm="instance", lambda_cycle=10.0,
                  lambda_identity=0.5, pool_size=50, seed=0, gan_loss="lsgan", lr=0.0002,
                  betas=(0.5, 0.999))),
        (dict(size=16, generator="unet", base_channels=2, depth=3),
         dict(in_channels=1, out_channels=1, size=16, generator="unet", base_channels=2,
              n_res_blocks=3, depth=3, d_layers=1, norm="instance", lambda_cycle=10.0,
              lambda_identity=0.5, pool_size=50, seed=0, gan_loss="lsgan", lr=0.0002,
              betas=(0.5, 0.999))),
    ],
    "cyclegan": [
        ({}, dict(in_channels=1, out_channels=1, size=64, generator="resnet", base_channels=16,
                  n_res_blocks=6, depth=6, d_layers=2, norm="instance", lambda_cycle=10.0,
                  lambda_identity=0.5, pool_size=50, seed=0, gan_loss="lsgan", lr=0.0002,
                  betas=(0.5, 0.999))),
        (dict(in_channels=2, out_channels=1, size=32, generator="unet", base_channels=8,
              lambda_identity=0.0, pool_size=0, seed=3),
         dict(in_channels=2, out_channels=1, size=32, generator="unet", base_channels=8,
              n_res_blocks=6, depth=5, d_layers=1, norm="instance", lambda_cycle=10.0,
              lambda_identity=0.0, pool_size=0, seed=3, gan_loss="lsgan", lr=0.0002,
              betas=(0.5, 0.999))),
    ],
    "unit": [
        ({}, dict(in_channels=1, out_channels=1, size=64, base_channels=16, n_res_blocks=2,
                  n_shared_blocks=1, d_layers=2, norm="instance", lambda_gan=1.0, lambda_kl=0.01,
                  lambda_recon=10.0, lambda_cycle=10.0, gan_loss="lsgan", lr=0.0002,
                  betas=(0.5, 0.999))),
        (dict(out_channels=2, size=32, base_channels=8, n_shared_blocks=0, d_layers=2,
              gan_loss="nonsaturating"),
         dict(in_channels=1, out_channels=2, size=32, base_channels=8, n_res_blocks=2,
              n_shared_blocks=0, d_layers=2, norm="instance", lambda_gan=1.0, lambda_kl=0.01,
              lambda_recon=10.0, lambda_cycle=10.0, gan_loss="nonsaturating", lr=0.0002,
              betas=(0.5, 0.999))),
    ],
    "ddpm": [
        ({}, dict(in_channels=1, size=64, base_channels=32, channel_mults=[1, 2, 2],
                  num_res_blocks=1, attention=True, dropout=0.0, timesteps=1000,
                  schedule="linear", prediction="epsilon", num_classes=0, cond_channels=0,
                  p_uncond=0.1, ema_decay=0.999, lr=0.0002)),
        (dict(size=16, base_channels=8, channel_mults=(1, 2), attention=False, timesteps=50,
              schedule="cosine", prediction="v", num_classes=3, p_uncond=0.2),
         dict(in_channels=1, size=16, base_channels=8, channel_mults=[1, 2], num_res_blocks=1,
              attention=False, dropout=0.0, timesteps=50, schedule="cosine", prediction="v",
              num_classes=3, cond_channels=0, p_uncond=0.2, ema_decay=0.999, lr=0.0002)),
    ],
    "ddpm3d": [
        ({}, dict(in_channels=1, size=32, base_channels=16, channel_mults=[1, 2, 2],
                  num_res_blocks=1, attention=True, dropout=0.0, timesteps=200,
                  schedule="cosine", prediction="v", num_classes=0, cond_channels=0,
                  p_uncond=0.1, ema_decay=0.999, lr=0.0002)),
        (dict(size=16, base_channels=8, channel_mults=(1, 2), cond_channels=2, prediction="epsilon"),
         dict(in_channels=1, size=16, base_channels=8, channel_mults=[1, 2], num_res_blocks=1,
              attention=True, dropout=0.0, timesteps=200, schedule="cosine", prediction="epsilon",
              num_classes=0, cond_channels=2, p_uncond=0.1, ema_decay=0.999, lr=0.0002)),
    ],
}  # fmt: skip

CASES = [
    pytest.param(name, kwargs, expected, id=f"{name}-{'default' if i == 0 else 'custom'}")
    for name, settings in REFERENCE.items()
    for i, (kwargs, expected) in enumerate(settings)
]


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_every_registered_model_has_a_reference():
    assert sorted(REFERENCE) == available()


@pytest.mark.parametrize(("name", "kwargs", "expected"), CASES)
def test_config_is_the_dict_checkpoints_were_keyed_by(name, kwargs, expected):
    config = create(name, **kwargs).config
    assert config == expected
    # tuples stay tuples (test_train_config pins betas as a tuple); JSON writes them as lists
    assert {k: type(v) for k, v in config.items()} == {k: type(v) for k, v in expected.items()}


@pytest.mark.parametrize(("name", "kwargs", "expected"), CASES)
def test_create_from_the_stored_config_rebuilds_the_model(name, kwargs, expected):
    model = create(name, **kwargs)
    stored = json.loads(json.dumps(model.config))  # what a checkpoint record holds
    rebuilt = create(name, **stored)
    assert type(rebuilt) is type(model)
    assert rebuilt.config == model.config
    assert _shapes(rebuilt) == _shapes(model)


@pytest.mark.parametrize(
    ("cls", "args", "kwargs"),
    [
        (Pix2Pix, (2, 1, 32, 8), dict(in_channels=2, out_channels=1, size=32, base_channels=8)),
        (CycleGAN, (1, 1, 32, "unet"), dict(size=32, generator="unet")),
        (UNIT, (1, 2, 32, 8, 1), dict(out_channels=2, size=32, base_channels=8, n_res_blocks=1)),
    ],
)
def test_positional_and_keyword_calls_give_the_same_config(cls, args, kwargs):
    assert cls(*args).config == cls(**kwargs).config


def test_keyword_only_models_still_refuse_positional_arguments():
    with pytest.raises(TypeError):
        create("vae", 1)  # create passes keywords only; a positional goes to __init__ as is
    with pytest.raises(TypeError, match="positional"):
        registry()["vae"](1)


def test_a_misspelt_keyword_raises_the_constructors_own_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'sise'"):
        create("acgan", num_classes=2, sise=32)


def test_each_model_owns_its_config():
    a, b = create("ddpm", size=16, base_channels=8), create("ddpm", size=16, base_channels=8)
    a.config["channel_mults"].append(4)
    assert b.config["channel_mults"] == [1, 2, 2]


# --- the mechanism on toy classes ---------------------------------------------------------------
class _Base(GenerativeModel):
    def __init__(self, *, width: int = 4, depth: int | None = None, rates=(1, 2)) -> None:
        super().__init__()
        depth = 2 * width if depth is None else depth
        self.resolve_config(depth=depth)  # derived values are stored where the argument was
        self.net = torch.nn.Linear(width, depth)


class _Child(_Base):
    """Overrides a base default and adds an argument, passing the rest through ``**config``."""

    def __init__(self, *, width: int = 8, gain: float = 1.0, **config) -> None:
        super().__init__(width=width, **config)


def test_subclass_defaults_win_and_new_arguments_follow_the_base_ones():
    child = _Child()
    assert child.config == {"width": 8, "depth": 16, "rates": (1, 2), "gain": 1.0}
    assert list(child.config) == ["width", "depth", "rates", "gain"]
    custom = _Child(depth=3, gain=0.5).config
    assert custom == {"width": 8, "depth": 3, "rates": (1, 2), "gain": 0.5}


def test_numpy_scalars_are_stored_as_python_numbers():
    config = _Base(width=np.int64(3), rates=[np.float32(0.5)]).config
    assert config == {"width": 3, "depth": 6, "rates": [0.5]}
    assert type(config["width"]) is int and type(config["rates"][0]) is float


def test_a_value_json_cannot_hold_is_refused():
    with pytest.raises(TypeError, match=r"_Base\(rates=tensor.*plain JSON"):
        _Base(rates=torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="plain JSON"):
        _Base(rates={1: 2.0})  # JSON objects have string keys


def test_string_keyed_dicts_are_stored_as_copies():
    heads = {"modality": np.int64(10), "level": 4}
    config = _Base(rates=heads).config
    assert (
        config["rates"] == {"modality": 10, "level": 4} and type(config["rates"]["modality"]) is int
    )
    heads["level"] = 5
    assert config["rates"]["level"] == 4


def test_resolve_config_refuses_a_name_that_is_not_an_argument():
    class Typo(GenerativeModel):
        def __init__(self, *, depth: int = 2) -> None:
            super().__init__()
            self.resolve_config(detph=3)

    with pytest.raises(ValueError, match="'detph' is not a constructor argument.*depth"):
        Typo()


def test_a_constructor_with_star_args_is_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match=r"takes \*layers; .* named arguments only"):

        class Star(GenerativeModel):  # noqa: F841 - defining it is the test
            def __init__(self, *layers: int) -> None:
                super().__init__()


def test_the_base_class_itself_has_no_config():
    assert not hasattr(GenerativeModel(), "config")  # checkpoint.py reports this case


def test_intensity_baseline_captures_its_settings_too():
    base = IntensityMappingBaseline("polynomial", degree=3)
    assert isinstance(base, Configurable)
    assert base.config == {"method": "polynomial", "n_bins": 64, "degree": 3}
    assert IntensityMappingBaseline(**base.config).config == base.config
