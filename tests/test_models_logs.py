"""Every model's train_step logs follow the convention of medgen_nb.models.base ("Log keys")."""

import math
import re

import pytest
import torch

import medgen_nb.downstream  # noqa: F401  (registers the downstream models)
from medgen_nb.models import available, create
from medgen_nb.models.base import StepContext

pytestmark = pytest.mark.usefixtures("one_thread")

# <quantity>[_<role>][_<part>][_<domain>], quantities as listed in the base module's docstring
KEY = re.compile(r"^(loss|acc|mse|wasserstein)(_[a-z0-9]+)*$")
ADVERSARIAL = {"d", "g"}  # optimizer names of the models that play a GAN game

_GAN = dict(size=16, base_channels=4, latent_dim=4)
TINY: dict[str, dict] = {
    "vae": dict(size=16, base_channels=4, latent_dim=4),
    "cvae": dict(size=16, base_channels=4, latent_dim=4),
    "vae3d": dict(size=16, base_channels=2, latent_dim=4),
    "gan": _GAN,
    "dcgan": _GAN,
    "cgan": {**_GAN, "num_classes": 2},
    "acgan": {**_GAN, "num_classes": 2},
    "infogan": {**_GAN, "categorical_dim": 2, "continuous_dim": 1},
    "wgan_gp": {**_GAN, "n_critic": 1},
    "pix2pix": dict(size=16, base_channels=4),
    "pix2pix3d": dict(size=8, base_channels=2),
    "cyclegan3d": dict(size=8, base_channels=2, n_res_blocks=1, pool_size=2),
    "cyclegan": dict(size=16, base_channels=4, n_res_blocks=1, pool_size=2),
    "unit": dict(size=16, base_channels=4, n_res_blocks=1),
    "ddpm": dict(
        size=16,
        base_channels=8,
        channel_mults=(1,),
        timesteps=10,
        attention=False,
        schedule="cosine",
    ),
    "ddpm3d": dict(
        size=8, base_channels=8, channel_mults=(1,), timesteps=10, attention=False, cond_channels=1
    ),
    "classifier": dict(size=16, base_channels=4),
    "segmenter": dict(size=16, base_channels=4),
    "detector": dict(size=16, base_channels=4),
}

# What each model logs: the consumers (notebooks 02-05, plots, benchmarks) read these names.
KEYS: dict[str, set[str]] = {
    "vae": {"loss", "loss_recon", "loss_kl", "mse"},
    "cvae": {"loss", "loss_recon", "loss_kl", "mse"},
    "vae3d": {"loss", "loss_recon", "loss_kl", "mse"},
    "gan": {"loss_d", "loss_d_gan", "loss_g", "loss_g_gan", "acc_d_real", "acc_d_fake"},
    "dcgan": {"loss_d", "loss_d_gan", "loss_g", "loss_g_gan", "acc_d_real", "acc_d_fake"},
    "cgan": {"loss_d", "loss_d_gan", "loss_g", "loss_g_gan", "acc_d_real", "acc_d_fake"},
    "acgan": {"loss_d", "loss_d_gan", "loss_g", "loss_g_gan", "acc_d_real", "acc_d_fake",
              "loss_d_cls", "acc_d_cls"},
    "infogan": {"loss_d", "loss_d_gan", "loss_g", "loss_g_gan", "acc_d_real", "acc_d_fake",
                "loss_info", "acc_code"},
    "wgan_gp": {"loss_d", "loss_d_gan", "loss_g", "loss_g_gan", "loss_gp",
                "wasserstein_estimate"},
    "pix2pix": {"loss_d", "loss_g", "loss_g_gan", "loss_l1"},
    "pix2pix3d": {"loss_d", "loss_g", "loss_g_gan", "loss_l1"},
    "cyclegan": {"loss_d", "loss_d_a", "loss_d_b", "loss_g", "loss_g_gan", "loss_cycle",
                 "loss_identity"},
    "cyclegan3d": {"loss_d", "loss_d_a", "loss_d_b", "loss_g", "loss_g_gan", "loss_cycle",
                 "loss_identity"},
    "unit": {"loss_d", "loss_d_a", "loss_d_b", "loss_g", "loss_g_gan", "loss_kl", "loss_recon",
             "loss_cycle_kl", "loss_cycle"},
    "ddpm": {"loss"},
    "ddpm3d": {"loss"},
    "classifier": {"loss", "acc"},
    "segmenter": {"loss", "loss_ce", "loss_dice"},
    "detector": {"loss", "loss_box", "loss_heatmap"},
}  # fmt: skip


def convention_errors(logs: dict[str, float], optimizers: set[str]) -> list[str]:
    """What in ``logs`` (one train_step's return) breaks the convention, for a model whose
    ``configure_optimizers()`` returned ``optimizers`` (a step that updated all of them)."""
    errors = [f"{k!r} is not <quantity>[_<role>][_<part>]" for k in logs if not KEY.match(k)]
    errors += [f"{k}={v!r} is not a finite float" for k, v in logs.items()
               if type(v) is not float or not math.isfinite(v)]  # fmt: skip
    errors += [f"{k}={v} is not a fraction" for k, v in logs.items()
               if k.startswith("acc_") and not 0.0 <= v <= 1.0]  # fmt: skip
    totals = {"loss"} if len(optimizers) == 1 else {f"loss_{name}" for name in optimizers}
    required = totals | ({"loss_g_gan"} if optimizers == ADVERSARIAL else set())
    errors += [f"missing {k!r}" for k in sorted(required - set(logs))]
    if len(optimizers) > 1 and "loss" in logs:
        errors.append("'loss' with several optimizers: name each total after its optimizer")
    for key in (k for k in logs if k.endswith("_a")):
        whole, other = key[:-2], key[:-2] + "_b"
        if other not in logs or whole not in logs:
            errors.append(f"{key!r} needs {other!r} and their sum {whole!r}")
        elif not math.isclose(logs[whole], logs[key] + logs[other], rel_tol=1e-5, abs_tol=1e-7):
            errors.append(f"{whole}={logs[whole]} != {key} + {other}")
    return errors


def _batch(seed: int = 0, name: str = "") -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if name in ("pix2pix3d", "cyclegan3d", "ddpm3d", "vae3d"):  # volumes
        side = TINY[name]["size"]
        return {key: torch.rand(2, 1, side, side, side, generator=g) for key in ("image", "target")}
    return {
        "image": torch.rand(2, 1, 16, 16, generator=g),
        "target": torch.rand(2, 1, 16, 16, generator=g),
        "label": torch.tensor([0, 1]),
        "seg": torch.nn.functional.pad(torch.ones(2, 4, 4, dtype=torch.long), (6, 6, 6, 6)),
    }


def test_every_registered_model_is_checked():
    assert sorted(TINY) == sorted(KEYS) == available()


@pytest.mark.parametrize("name", sorted(TINY))
def test_train_step_logs_follow_the_convention(name):
    torch.manual_seed(0)
    model = create(name, **TINY[name])
    optimizers = model.configure_optimizers()
    for step in range(2):
        logs = model.train_step(_batch(step, name), optimizers, StepContext(step=step))
        assert convention_errors(logs, set(optimizers)) == []
        assert set(logs) == KEYS[name]


def test_a_critic_only_step_logs_no_generator_total():
    model = create("wgan_gp", **{**TINY["wgan_gp"], "n_critic": 2})
    optimizers = model.configure_optimizers()
    first = model.train_step(_batch(), optimizers, StepContext(step=0))  # critic only
    second = model.train_step(_batch(), optimizers, StepContext(step=1))  # critic, then G
    assert {"loss_g", "loss_g_gan"}.isdisjoint(first) and {"loss_g", "loss_g_gan"} <= set(second)


def test_gan_totals_add_the_auxiliary_terms():
    # loss_d is what D minimises: the adversarial part plus the weighted classifier / penalty term
    acgan = create("acgan", **TINY["acgan"])
    logs = acgan.train_step(_batch(), acgan.configure_optimizers(), StepContext())
    assert math.isclose(logs["loss_d"], logs["loss_d_gan"] + logs["loss_d_cls"], rel_tol=1e-5)
    wgan = create("wgan_gp", **{**TINY["wgan_gp"], "gp_weight": 3.0})
    logs = wgan.train_step(_batch(), wgan.configure_optimizers(), StepContext())
    assert math.isclose(logs["loss_d"], logs["loss_d_gan"] + 3.0 * logs["loss_gp"], rel_tol=1e-5)
    assert math.isclose(logs["loss_d_gan"], -logs["wasserstein_estimate"], rel_tol=1e-5)


def test_infogan_logs_the_information_term_before_its_weight():
    logs = {}
    for weight in (1.0, 4.0):
        torch.manual_seed(0)
        model = create("infogan", **{**TINY["infogan"], "info_weight": weight})
        logs[weight] = model.train_step(_batch(), model.configure_optimizers(), StepContext())
    assert math.isclose(logs[1.0]["loss_info"], logs[4.0]["loss_info"], rel_tol=1e-5)
    gap = logs[4.0]["loss_d"] - logs[4.0]["loss_d_gan"]
    assert math.isclose(gap, 4.0 * logs[4.0]["loss_info"], rel_tol=1e-5)


@pytest.mark.parametrize(
    ("logs", "optimizers", "complaint"),
    [
        ({"d_loss": 1.0, "g_loss": 1.0, "loss_g_gan": 1.0}, {"d", "g"}, "'d_loss' is not"),
        ({"loss": 1.0, "recon": 1.0}, {"vae"}, "'recon' is not"),
        ({"loss_d_a": 1.0, "loss_d_b": 2.0, "loss_g": 1.0, "loss_g_gan": 1.0}, {"d", "g"},
         "missing 'loss_d'"),
        ({"loss_d": 2.0, "loss_d_a": 1.0, "loss_d_b": 2.0, "loss_g": 1.0, "loss_g_gan": 1.0},
         {"d", "g"}, "loss_d=2.0 != loss_d_a"),
        ({"loss": 1.0, "loss_g": 1.0, "loss_d": 1.0, "loss_g_gan": 1.0}, {"d", "g"},
         "several optimizers"),
        ({"loss": float("nan")}, {"net"}, "finite"),
        ({"loss": 1.0, "acc_x": 1.5}, {"net"}, "fraction"),
    ],
)  # fmt: skip
def test_the_check_rejects_what_the_old_names_did(logs, optimizers, complaint):
    assert any(complaint in e for e in convention_errors(logs, optimizers))
