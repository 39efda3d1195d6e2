"""Hyper-parameters are checked when a model (or a training run) is set up, not steps later: counts
are ints (a bool is not a count), channel counts are >= 1, learning rates finite and > 0, Adam's
betas two numbers in [0, 1), loss weights finite and >= 0 (issue 12, items 11f and 11g)."""

import math

import pytest
import torch
from torch.utils.data import TensorDataset

from medgen_nb.models import create
from medgen_nb.models.schedulers import NoiseSchedule
from medgen_nb.train import fit

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {
    "vae": dict(size=16, base_channels=4, latent_dim=4),
    "cvae": dict(size=16, base_channels=4, latent_dim=4, num_classes=2),
    "dcgan": dict(size=16, base_channels=4, latent_dim=4),
    "cgan": dict(size=16, base_channels=4, latent_dim=4, num_classes=2),
    "infogan": dict(size=16, base_channels=4, latent_dim=4),
    "wgan_gp": dict(size=16, base_channels=4, latent_dim=4),
    "pix2pix": dict(size=16, base_channels=4),
    "cyclegan": dict(size=16, base_channels=4, n_res_blocks=1),
    "unit": dict(size=16, base_channels=4),
    "ddpm": dict(size=16, base_channels=8, channel_mults=(1, 2), timesteps=10),
}
INF, NAN = math.inf, math.nan
LR = r"lr must be a finite number > 0"
BETAS = r"betas must be two numbers in \[0, 1\)"
COUNT = r"must be an int >= "


def _weight(name):
    return rf"{name} must be a finite number >= 0"


BAD = [
    # learning rates, in every family
    *[(m, {"lr": v}, LR) for m in TINY for v in (INF, NAN, 0.0, -1e-3, True, "1e-3")],
    # Adam's betas, wherever they are a setting
    *[(m, {"betas": v}, BETAS) for m in ("dcgan", "pix2pix", "cyclegan", "unit")
      for v in ((1.5, 0.9), (0.5,), (0.5, NAN), (0.5, 1.0), "ab", 0.5)],
    # channel counts
    *[(m, {k: v}, rf"{k} {COUNT}1") for m in ("vae", "dcgan", "pix2pix", "cyclegan", "unit")
      for k in ("in_channels", "base_channels") for v in (0, True, 2.0)],
    *[(m, {"out_channels": v}, rf"out_channels {COUNT}1") for m in ("pix2pix", "cyclegan", "unit")
      for v in (0, True)],
    ("ddpm", {"in_channels": True}, rf"in_channels {COUNT}1"),
    ("ddpm", {"cond_channels": True}, rf"cond_channels {COUNT}0"),
    # other counts given as bools
    ("vae", {"latent_dim": True}, rf"latent_dim {COUNT}1"),
    ("vae", {"size": True}, "size must be a power of two"),
    ("vae", {"num_classes": False}, "num_classes must be 0"),
    ("cvae", {"num_classes": True}, "num_classes as an int >= 2"),
    ("dcgan", {"num_classes": False}, "num_classes must be 0"),
    ("cgan", {"num_classes": True}, "num_classes must be an int >= 2"),
    ("infogan", {"categorical_dim": True}, rf"categorical_dim {COUNT}2"),
    ("wgan_gp", {"n_critic": True}, rf"n_critic {COUNT}1"),
    ("pix2pix", {"d_layers": True}, "d_layers must be an int >= 1"),
    ("pix2pix", {"depth": True}, r"depth must be an int in \[2, log2\(size\)\]"),
    ("cyclegan", {"n_res_blocks": True}, rf"n_res_blocks {COUNT}0"),
    ("cyclegan", {"pool_size": True}, rf"pool_size {COUNT}0"),
    ("cyclegan", {"seed": True}, rf"seed {COUNT}0"),
    ("cyclegan", {"seed": -1}, rf"seed {COUNT}0"),
    ("unit", {"n_res_blocks": True}, rf"n_res_blocks {COUNT}0"),
    ("unit", {"n_shared_blocks": True}, rf"n_shared_blocks {COUNT}0"),
    ("ddpm", {"num_res_blocks": True}, rf"num_res_blocks {COUNT}1"),
    ("ddpm", {"num_classes": True}, rf"num_classes {COUNT}0"),
    ("ddpm", {"channel_mults": (1, True)}, "channel_mults must be positive ints"),
    ("ddpm", {"timesteps": True}, rf"timesteps {COUNT}2"),
    # loss weights
    ("vae", {"beta": INF}, _weight("beta")),
    ("vae", {"beta": -1.0}, _weight("beta")),
    ("infogan", {"info_weight": NAN}, _weight("info_weight")),
    ("wgan_gp", {"gp_weight": INF}, _weight("gp_weight")),
    ("pix2pix", {"lambda_l1": NAN}, _weight("lambda_l1")),
    ("pix2pix", {"lambda_l1": -1.0}, _weight("lambda_l1")),
    ("cyclegan", {"lambda_cycle": INF}, _weight("lambda_cycle")),
    ("cyclegan", {"lambda_identity": NAN}, _weight("lambda_identity")),
    *[("unit", {k: INF}, _weight(k))
      for k in ("lambda_gan", "lambda_kl", "lambda_recon", "lambda_cycle")],
    # switches
    ("dcgan", {"spectral_norm": "yes"}, "spectral_norm must be True or False"),
    ("ddpm", {"attention": 1}, "attention must be True or False"),
]  # fmt: skip


@pytest.mark.parametrize(
    "name,change,message", BAD, ids=[f"{m}-{k}={v!r}" for m, c, _ in BAD for k, v in c.items()]
)
def test_a_bad_setting_is_refused_when_the_model_is_built(name, change, message):
    with pytest.raises(ValueError, match=message):
        create(name, **{**TINY[name], **change})


@pytest.mark.parametrize("name", list(TINY))
def test_valid_settings_still_build(name):
    model = create(name, **TINY[name], lr=5e-4)
    assert model.config["lr"] == 5e-4


def test_integer_learning_rate_and_list_betas_are_accepted():
    assert create("dcgan", **TINY["dcgan"], lr=1, betas=[0, 0.9]).config["betas"] == (0, 0.9)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"checkpoint_every": True}, "checkpoint_every must be an int >= 1 or None"),
        ({"seed": True}, "seed must be an int >= 0"),
        ({"seed": 1.5}, "seed must be an int >= 0"),
        ({"batch_size": True}, "batch_size must be an int >= 1"),
    ],
)
def test_fit_refuses_bools_and_floats_as_counts(tmp_path, change, message):
    model = create("vae", **TINY["vae"])
    data = TensorDataset(torch.rand(4, 1, 16, 16))
    with pytest.raises(ValueError, match=message):
        fit(model, data, 1, checkpoint_dir=tmp_path, progress=False, **change)


def test_sampling_counts_refuse_bools():
    model = create("ddpm", **TINY["ddpm"])
    with pytest.raises(ValueError, match="n must be an int >= 1, got True"):
        model.sample(True, steps=2, sampler="ddim")
    with pytest.raises(ValueError, match="steps must be None or an int in"):
        model.sample(2, steps=True, sampler="ddim")
    with pytest.raises(ValueError, match=r"steps must be an int in \[1, timesteps=10\]"):
        NoiseSchedule(10).sampling_timesteps(True)
