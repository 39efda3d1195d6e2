"""GAN family: losses by hand, gradient penalty by hand, shapes, fail-able learning tests, errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from medgen_nb.models import create
from medgen_nb.models.base import StepContext
from medgen_nb.models.gan import ACGAN, DCGAN, MODELS, WGANGP, ConditionalGAN, InfoGAN
from medgen_nb.models.gan_losses import get_gan_loss, gradient_penalty
from medgen_nb.train import fit
from medgen_nb.utils import seed_everything

TINY = dict(size=16, base_channels=8, latent_dim=16)
EXTRA = {"cgan": {"num_classes": 2}, "acgan": {"num_classes": 2}}


pytestmark = pytest.mark.usefixtures("one_thread")


def half_bright_set(n_per_class: int = 16, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulated two-class set: class 0 bright top half, class 1 bright bottom half."""
    g = torch.Generator().manual_seed(0)
    x = torch.full((2 * n_per_class, 1, size, size), 0.1)
    x[:n_per_class, :, : size // 2] = 0.9
    x[n_per_class:, :, size // 2 :] = 0.9
    x = (x + 0.03 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, torch.tensor([0] * n_per_class + [1] * n_per_class)


# --- losses against hand computations -------------------------------------------------------
REAL, FAKE = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


@pytest.mark.parametrize(
    "name,d_expected,g_expected",
    [
        (
            "nonsaturating",  # -log σ(r) - log(1 - σ(f)), -log σ(f)
            (_softplus(-2) + _softplus(1)) / 2 + (_softplus(0.5) + _softplus(-3)) / 2,
            (_softplus(-0.5) + _softplus(3)) / 2,
        ),
        ("lsgan", (1 + 4) / 2 + (0.25 + 9) / 2, (0.25 + 16) / 2),  # plain form, no 1/2
        ("hinge", (0 + 2) / 2 + (1.5 + 0) / 2, -(0.5 - 3) / 2),
        ("wasserstein", (0.5 - 3) / 2 - (2 - 1) / 2, -(0.5 - 3) / 2),
    ],
)
def test_losses_match_hand_computation(name, d_expected, g_expected):
    loss = get_gan_loss(name)
    assert loss.d(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert loss.g(FAKE).item() == pytest.approx(g_expected, rel=1e-6)


def test_gan_family_lsgan_keeps_mao_half():
    # The GAN family halves both LSGAN objectives (Mao et al. 2017, Eq. 2); other losses are plain.
    loss = DCGAN(**TINY, loss="lsgan").gan_loss
    assert loss.d(REAL, FAKE).item() == pytest.approx(
        0.5 * ((1 + 4) / 2) + 0.5 * ((0.25 + 9) / 2), rel=1e-6
    )
    assert loss.g(FAKE).item() == pytest.approx(0.5 * ((0.25 + 16) / 2), rel=1e-6)
    plain = DCGAN(**TINY).gan_loss  # "nonsaturating"
    assert (plain.d_scale, plain.g_scale) == (1.0, 1.0)


def test_unknown_loss_name_raises():
    with pytest.raises(ValueError, match="loss must be one of"):
        get_gan_loss("minimax")


def test_gradient_penalty_of_linear_critic_by_hand():
    # D(x) = <w, x>: ∇_x D = w everywhere, so the penalty is (‖w‖ - 1)² whatever ε is.
    w = torch.zeros(1, 1, 4, 4)
    w[0, 0, 0, :] = torch.tensor([1.0, 2.0, 2.0, 0.0])  # ‖w‖ = 3
    w.requires_grad_(True)

    def critic(x):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.rand(5, 1, 4, 4), torch.rand(5, 1, 4, 4)
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx((3.0 - 1.0) ** 2, rel=1e-6)
    gp.backward()  # d/dw (‖w‖-1)² = 2(‖w‖-1) w/‖w‖  (needs create_graph=True inside)
    torch.testing.assert_close(w.grad, 2 * (3.0 - 1.0) * w.detach() / 3.0)


def test_gradient_penalty_zero_for_unit_norm_critic():
    w = torch.zeros(1, 1, 2, 2)
    w[0, 0, 1, 1] = 1.0
    gp = gradient_penalty(
        lambda x: (x * w).flatten(1).sum(1), torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2)
    )
    assert gp.item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_shape_mismatch_raises():
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(lambda x: x.sum((1, 2, 3)), torch.rand(2, 1, 4, 4), torch.rand(3, 1, 4, 4))


# --- shapes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_gan_samples_in_unit_range_and_steps(name):
    model = create(name, **TINY, **EXTRA.get(name, {}))
    labels = torch.tensor([0, 1, 1]) if name in EXTRA else None
    s = model.sample(3, labels=labels, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, 1, 16, 16) and s.min() >= 0 and s.max() <= 1
    x, y = half_bright_set(2)
    logs = model.train_step(
        {"image": x, "label": y}, model.configure_optimizers(), StepContext(step=4)
    )
    assert "loss_d" in logs and "loss_g" in logs and all(math.isfinite(v) for v in logs.values())


def test_dcgan_64_shapes():
    s = create("dcgan", size=64, base_channels=4, latent_dim=8).sample(2)
    assert s.shape == (2, 1, 64, 64)


def test_infogan_codes_control_input():
    model = InfoGAN(**TINY, categorical_dim=3, continuous_dim=2)
    codes = {"categorical": torch.tensor([0, 2]), "continuous": torch.zeros(2, 2)}
    g_in, cond = model.generator_input(2, None, codes, None)
    assert g_in.shape == (2, 16 + 3 + 2)
    torch.testing.assert_close(g_in[:, 16:19], F.one_hot(torch.tensor([0, 2]), 3).float())


def test_spectral_norm_bounds_discriminator_layers():
    model = DCGAN(**TINY, spectral_norm=True)
    x, _ = half_bright_set(4)
    opt = model.configure_optimizers()
    for step in range(5):  # power iterations run in train-mode forward passes
        model.train_step({"image": x}, opt, StepContext(step=step))
    head = model.adv_head.weight  # parametrised: already divided by σ_max
    assert torch.linalg.matrix_norm(head.detach(), 2).item() == pytest.approx(1.0, abs=0.05)


# --- learning: generator moves towards the data, conditioning is obeyed ----------------------
def _train(name: str, steps: int, **cfg):
    seed_everything(0)
    x, y = half_bright_set(16)
    model = create(name, **{**TINY, **EXTRA.get(name, {}), **cfg})
    data = torch.utils.data.TensorDataset(x, y)
    before = model.sample(64, labels=_labels(name), generator=torch.Generator().manual_seed(1))
    hist = fit(model, data, steps=steps, batch_size=16, progress=False, precision="fp32")
    after = model.sample(64, labels=_labels(name), generator=torch.Generator().manual_seed(1))
    return before, after, hist


def _labels(name):
    return torch.tensor([0, 1] * 32) if name in EXTRA else None


def nearest_mode_error(samples: torch.Tensor) -> float:
    """Median over samples of the MSE to the nearer of the two clean data modes.

    An untrained generator gives flat grey (0.5) images: error 0.16. Only sharp half-bright
    images get close to 0, so a blurry average of the data cannot pass.
    """
    top = torch.full((16, 16), 0.1)
    top[:8] = 0.9
    bottom = 1.0 - top
    err_top = ((samples[:, 0] - top) ** 2).mean((1, 2))
    err_bottom = ((samples[:, 0] - bottom) ** 2).mean((1, 2))
    return torch.minimum(err_top, err_bottom).median().item()


@pytest.mark.parametrize(
    "name,steps,cfg,max_err",
    [
        ("gan", 150, {"lr": 1e-3}, 0.05),
        ("dcgan", 150, {"lr": 2e-3}, 0.05),
        ("infogan", 250, {"lr": 2e-3}, 0.06),
        # WGAN-GP moves more slowly (critic must first learn a useful gradient field)
        ("wgan_gp", 300, {"lr": 5e-4, "n_critic": 1}, 0.1),
    ],
)
def test_generator_moves_towards_data(name, steps, cfg, max_err):
    before, after, hist = _train(name, steps, **cfg)
    err0, err1 = nearest_mode_error(before), nearest_mode_error(after)
    assert err0 > 0.12, err0  # the test is only meaningful if the start is far from the data
    assert err1 < max_err, (err0, err1)
    if name == "infogan":  # Q recovers the categorical code far above chance (1/10)
        assert sum(hist.logs["acc_code"][-10:]) / 10 > 0.6


@pytest.mark.parametrize("name", ["cgan", "acgan"])
def test_conditional_samples_follow_their_label(name):
    _, after, _ = _train(name, 150, lr=1e-3)
    top_minus_bottom = after[:, :, :8].mean((1, 2, 3)) - after[:, :, 8:].mean((1, 2, 3))
    assert top_minus_bottom[0::2].mean() > 0.5  # label 0: bright top
    assert top_minus_bottom[1::2].mean() < -0.5  # label 1: bright bottom


def test_discriminator_learns_to_separate_real_from_untrained_fakes():
    seed_everything(0)
    x, y = half_bright_set(16)
    model = create("dcgan", **TINY, lr=2e-3)
    hist = fit(
        model,
        torch.utils.data.TensorDataset(x, y),
        steps=30,
        batch_size=16,
        progress=False,
        precision="fp32",
    )
    early = (hist.logs["acc_d_real"][0] + hist.logs["acc_d_fake"][0]) / 2
    late = sum(hist.logs["acc_d_real"][-5:] + hist.logs["acc_d_fake"][-5:]) / 10
    assert late > 0.9 and late > early, (early, late)


# --- one test per raise ---------------------------------------------------------------------
def test_size_not_power_of_two_raises():
    with pytest.raises(ValueError, match="size must be a power of two >= 16"):
        DCGAN(size=24)


def test_size_too_small_raises():
    with pytest.raises(ValueError, match="size must be a power of two >= 16"):
        DCGAN(size=8)


def test_unknown_model_name_raises():
    with pytest.raises(ValueError, match="unknown model 'stylegan'"):
        create("stylegan")


def test_conditional_gan_needs_classes():
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        ConditionalGAN(**TINY)


def test_unconditional_gan_rejects_classes():
    with pytest.raises(ValueError, match="use 'cgan' or 'acgan'"):
        DCGAN(**TINY, num_classes=3)


def test_wgan_gp_rejects_other_loss():
    with pytest.raises(ValueError, match="WGAN-GP needs loss='wasserstein'"):
        WGANGP(**TINY, loss="hinge")


def test_channel_mismatch_raises():
    model = DCGAN(**TINY)
    with pytest.raises(ValueError, match="3 channels but the model was built with in_channels=1"):
        model.train_step(
            {"image": torch.rand(2, 3, 16, 16)}, model.configure_optimizers(), StepContext()
        )


def test_image_size_mismatch_raises():
    model = DCGAN(**TINY)
    with pytest.raises(ValueError, match="size=16"):
        model.train_step(
            {"image": torch.rand(2, 1, 32, 32)}, model.configure_optimizers(), StepContext()
        )


def test_missing_labels_raise():
    model = ACGAN(**TINY, num_classes=2)
    with pytest.raises(ValueError, match="labels are required"):
        model.train_step(
            {"image": torch.rand(2, 1, 16, 16)}, model.configure_optimizers(), StepContext()
        )


def test_labels_for_unconditional_sample_raise():
    with pytest.raises(ValueError, match="labels must be None"):
        DCGAN(**TINY).sample(2, labels=torch.tensor([0, 1]))


def test_codes_for_non_infogan_raise():
    with pytest.raises(ValueError, match="codes are only used by 'infogan'"):
        DCGAN(**TINY).sample(2, codes={"categorical": torch.tensor([0, 1])})


def test_infogan_bad_code_shape_raises():
    with pytest.raises(ValueError, match=r"codes\['continuous'\] must have shape"):
        InfoGAN(**TINY).sample(2, codes={"continuous": torch.zeros(2, 5)})


def test_infogan_unknown_code_key_raises():
    with pytest.raises(ValueError, match="codes keys must be"):
        InfoGAN(**TINY).sample(2, codes={"style": torch.zeros(2)})


def test_infogan_labels_raise():
    with pytest.raises(ValueError, match="InfoGAN is unsupervised"):
        InfoGAN(**TINY).sample(2, labels=torch.tensor([0, 1]))


def test_non_positive_width_raises():
    with pytest.raises(ValueError, match="base_channels must be an int >= 1"):
        DCGAN(size=16, base_channels=0)
