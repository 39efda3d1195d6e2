"""NoiseSchedule: closed forms, DDPM/DDIM identities, and agreement with diffusers' schedulers."""

import math
import warnings

import pytest
import torch

from medgen_nb.models.schedulers import (
    TERMINAL_SIGNAL_LIMIT,
    NoiseSchedule,
    cosine_betas,
    linear_betas,
)

diffusers = pytest.importorskip("diffusers")

T = 1000
DIFFUSERS_SCHEDULE = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
DIFFUSERS_PREDICTION = {"epsilon": "epsilon", "v": "v_prediction"}


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_tables_match_diffusers(kind):
    ours = NoiseSchedule(T, kind)
    ref = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=DIFFUSERS_SCHEDULE[kind])
    torch.testing.assert_close(ours.betas, ref.betas, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ours.alphas_cumprod, ref.alphas_cumprod, rtol=1e-4, atol=1e-7)
    # posterior variance beta~_t (Ho et al. eq. 7) against diffusers' "fixed_small" variance;
    # diffusers forms 1 - alpha_bar in float32, which cancels at small t (rel. error ~4e-4
    # there), so it is checked loosely here and tightly against a float64 evaluation below
    ref_var = torch.stack([ref._get_variance(t) for t in range(1, T)])
    torch.testing.assert_close(ours.posterior_variance[1:], ref_var, rtol=1e-3, atol=1e-9)
    betas = (linear_betas if kind == "linear" else cosine_betas)(T)
    ab = torch.cumprod(1 - betas, 0)
    exact = (1 - ab[:-1]) / (1 - ab[1:]) * betas[1:]
    torch.testing.assert_close(ours.posterior_variance[1:].double(), exact, rtol=2e-5, atol=0)


def test_beta_tables_follow_their_papers():
    betas = linear_betas(1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    # cosine: alpha_bar_t = f(t+1)/f(0) with f(t) = cos^2(((t/T + s)/(1 + s)) pi/2) before clipping
    ab = torch.cumprod(1 - cosine_betas(1000), 0)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 250, 500, 900):
        assert ab[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)


def test_q_sample_matches_closed_form_and_iterated_forward_process():
    sched = NoiseSchedule(T, "linear")
    x0, eps = _randn(4, 1, 8, 8, seed=1), _randn(4, 1, 8, 8, seed=2)
    t = torch.tensor([0, 10, 500, 999])
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    ab = torch.stack([torch.prod(1 - betas[: k + 1]) for k in t]).float().view(-1, 1, 1, 1)
    torch.testing.assert_close(
        sched.add_noise(x0, eps, t), ab.sqrt() * x0 + (1 - ab).sqrt() * eps, rtol=1e-5, atol=1e-6
    )
    # the closed form is the marginal of x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z
    gen = torch.Generator().manual_seed(3)
    x = torch.full((20000,), 0.7)
    for k in range(300):
        x = (1 - betas[k]).sqrt().float() * x + betas[k].sqrt().float() * torch.randn(
            x.shape, generator=gen
        )
    a = sched.alphas_cumprod[299].item()
    assert x.mean().item() == pytest.approx(math.sqrt(a) * 0.7, abs=0.02)
    assert x.var().item() == pytest.approx(1 - a, abs=0.03)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_prediction_conversions_round_trip(prediction):
    sched = NoiseSchedule(T, "cosine", prediction)
    x0, eps = _randn(3, 2, 4, 4, seed=4), _randn(3, 2, 4, 4, seed=5)
    t = torch.tensor([1, 400, 998])
    x_t = sched.add_noise(x0, eps, t)
    out = sched.training_target(x0, eps, t)
    x0_hat, eps_hat = sched.predict_x0_eps(x_t, out, t)
    torch.testing.assert_close(x0_hat, x0, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(eps_hat, eps, rtol=1e-4, atol=1e-4)


def test_velocity_matches_diffusers():
    ours = NoiseSchedule(T, "linear", "v")
    ref = diffusers.DDPMScheduler(num_train_timesteps=T)
    x0, eps, t = _randn(3, 1, 4, 4, seed=6), _randn(3, 1, 4, 4, seed=7), torch.tensor([5, 300, 900])
    torch.testing.assert_close(
        ours.velocity(x0, eps, t), ref.get_velocity(x0, eps, t), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_ddpm_step_matches_diffusers(kind, prediction):
    ours = NoiseSchedule(T, kind, prediction)
    ref = diffusers.DDPMScheduler(
        num_train_timesteps=T,
        beta_schedule=DIFFUSERS_SCHEDULE[kind],
        prediction_type=DIFFUSERS_PREDICTION[prediction],
        clip_sample=False,
    )
    x_t, out = _randn(2, 1, 8, 8, seed=8), _randn(2, 1, 8, 8, seed=9)
    for t in (0, 1, 37, 500, 999):
        expected = ref.step(out, t, x_t, generator=torch.Generator().manual_seed(t)).prev_sample
        z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(t))
        torch.testing.assert_close(
            ours.ddpm_step(x_t, out, t, noise=z), expected, rtol=1e-4, atol=1e-4
        )


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["epsilon", "v"])
@pytest.mark.parametrize("spacing", ["leading", "trailing"])
def test_ddim_step_matches_diffusers(kind, prediction, spacing):
    ours = NoiseSchedule(T, kind, prediction)
    ref = diffusers.DDIMScheduler(
        num_train_timesteps=T,
        beta_schedule=DIFFUSERS_SCHEDULE[kind],
        prediction_type=DIFFUSERS_PREDICTION[prediction],
        clip_sample=False,
        set_alpha_to_one=True,
        timestep_spacing=spacing,
    )
    ref.set_timesteps(50)
    taus = ours.sampling_timesteps(50, spacing)
    assert taus == ref.timesteps.tolist()
    x_t, out, z = (_randn(2, 1, 8, 8, seed=s) for s in (10, 11, 12))
    for i in (0, 1, 25, 49):  # includes the last step to alpha_bar = 1
        t, t_prev = taus[i], taus[i + 1] if i < 49 else -1
        for eta in (0.0, 0.5, 1.0):
            expected = ref.step(out, t, x_t, eta=eta, variance_noise=z).prev_sample
            got = ours.ddim_step(x_t, out, t, t_prev, eta=eta, noise=z)
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_ddim_with_eta_one_is_ddpm(prediction):
    sched = NoiseSchedule(T, "linear", prediction)
    x_t, out, z = (_randn(2, 1, 8, 8, seed=s) for s in (13, 14, 15))
    for t in (1, 2, 100, 999):
        # the noise scale sigma_t (Song et al. eq. 16, eta = 1) is the posterior std sqrt(beta~_t)
        sigma = sched.ddim_step(x_t, out, t, t - 1, eta=1.0, noise=torch.ones_like(z)) - (
            sched.ddim_step(x_t, out, t, t - 1, eta=1.0, noise=torch.zeros_like(z))
        )
        torch.testing.assert_close(
            sigma, sched.posterior_variance[t].sqrt().expand_as(sigma), rtol=1e-4, atol=1e-6
        )
        for clip in (False, True):
            torch.testing.assert_close(
                sched.ddim_step(x_t, out, t, t - 1, eta=1.0, clip_x0=clip, noise=z),
                sched.ddpm_step(x_t, out, t, clip_x0=clip, noise=z),
                rtol=1e-4,
                atol=1e-5,
            )


def test_buffers_move_with_module_and_survive_state_dict():
    a = NoiseSchedule(50, "cosine").double()
    assert a.alphas_cumprod.dtype == torch.float64
    b = NoiseSchedule(50, "cosine")
    b.load_state_dict(NoiseSchedule(50, "cosine").state_dict())
    assert set(b.state_dict()) >= {"betas", "sqrt_alphas_cumprod", "posterior_mean_coef1"}


# ---------------------------------------------------------------- one test per raise
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"timesteps": 1}, "timesteps"),
        ({"schedule": "quadratic"}, "schedule"),
        ({"prediction": "x0"}, "prediction"),
        ({"beta_start": 0.1, "beta_end": 0.01}, "beta_start"),
    ],
)
def test_bad_schedule_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NoiseSchedule(**kwargs)


def test_add_noise_shape_mismatch_raises():
    with pytest.raises(ValueError, match="x0 and noise"):
        NoiseSchedule(10).add_noise(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5), 0)


def test_t_out_of_range_raises():
    with pytest.raises(ValueError, match="t must be in"):
        NoiseSchedule(10).add_noise(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), 10)


def test_bad_eta_raises():
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="eta"):
        NoiseSchedule(10).ddim_step(x, x, 5, 4, eta=1.5)


@pytest.mark.parametrize(("t", "t_prev"), [(5, 5), (5, -2), (10, 3)])
def test_bad_ddim_timesteps_raise(t, t_prev):
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="t_prev"):
        NoiseSchedule(10).ddim_step(x, x, t, t_prev)


def test_bad_spacing_raises():
    with pytest.raises(ValueError, match="spacing"):
        NoiseSchedule(10).sampling_timesteps(5, "linspace")


@pytest.mark.parametrize("steps", [0, 11])
def test_sampling_steps_out_of_range_raises(steps):
    with pytest.raises(ValueError, match="steps must be"):
        NoiseSchedule(10).sampling_timesteps(steps)


def test_sampling_from_a_chain_that_does_not_end_in_noise_warns():
    from medgen_nb.models.diffusion import DiffusionModel

    tiny = dict(size=8, base_channels=8, channel_mults=(1,), attention=False)
    for timesteps, kind in ((1000, "linear"), (200, "cosine"), (20, "cosine")):
        model = DiffusionModel(**tiny, timesteps=timesteps, schedule=kind)
        assert model.schedule.terminal_signal < TERMINAL_SIGNAL_LIMIT
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning: x_T is (nearly) pure noise
            model.sample(1, steps=2, sampler="ddim")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        short = DiffusionModel(**tiny, timesteps=200, schedule="linear")  # building is fine
    assert short.schedule.terminal_signal == pytest.approx(0.3636, abs=1e-3)
    with pytest.warns(UserWarning, match=r"timesteps=200, x_T still holds .* = 0\.36"):
        short.sample(1, steps=2, sampler="ddim")
