"""Noise schedules for diffusion models: the forward process q and one reverse step (DDPM, DDIM).

A :class:`NoiseSchedule` owns the tables of the forward process and nothing else: it holds no
network. A sampler (see :mod:`medgen_nb.models.diffusion`) loops ``network -> schedule.step``, so
one trained network serves DDPM and DDIM alike (Pang et al. 2025, §4.3 and §7.1.2 on the cost of
many denoising steps).

Symbols (Ho et al. 2020, "Denoising Diffusion Probabilistic Models"; Song et al. 2021, "DDIM")::

    T                  number of diffusion steps, t = 0 .. T-1 (0-based, as in code)
    beta_t             variance added at step t                      -> betas[t]
    alpha_t            1 - beta_t                                    -> alphas[t]
    alpha_bar_t        prod_{s<=t} alpha_s                           -> alphas_cumprod[t]
    x_0                clean image in [-1, 1];  x_t  noisy image at step t
    eps                standard normal noise;   v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0

All image tensors here are ``(B, C, H, W)`` in model space ([-1, 1] for x_0); ``t`` is a
``(B,)`` long tensor or an int. Tables are computed in float64 and stored as float32 buffers, so
``.to(device)`` moves them and a state_dict round trip keeps them.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch
from torch import nn

from medgen_nb.models.validation import check_positive_int

ScheduleKind = Literal["linear", "cosine"]
SCHEDULE_KINDS: tuple[str, ...] = ("linear", "cosine")
PredictionKind = Literal["epsilon", "v"]
PREDICTION_KINDS: tuple[str, ...] = ("epsilon", "v")
SpacingKind = Literal["leading", "trailing"]
SPACING_KINDS: tuple[str, ...] = ("leading", "trailing")


def linear_betas(timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Ho et al. 2020 §4: beta_t rises linearly from 1e-4 to 0.02 over T = 1000 steps. ``(T,)`` float64."""
    return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)


def cosine_betas(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal 2021 eq. 17: alpha_bar(t) = f(t)/f(0), f(t) = cos^2(((t/T + s)/(1 + s)) pi/2).

    beta_t = 1 - alpha_bar(t+1)/alpha_bar(t), clipped at ``max_beta`` to avoid the singularity at
    t = T (their §3.2). Same table as diffusers' ``"squaredcos_cap_v2"``. ``(T,)`` float64.
    """
    step = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((step + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


TERMINAL_SIGNAL_LIMIT = 0.1
"""Largest sqrt(alpha_bar_T) (the image's share left in x_T) accepted without a warning."""


class NoiseSchedule(nn.Module):
    """The forward process q(x_t | x_0) and one reverse step p(x_{t-1} | x_t) for DDPM and DDIM.

    Args:
        timesteps: T, the number of diffusion steps (>= 2).
        schedule: ``"linear"`` (Ho et al. 2020) or ``"cosine"`` (Nichol & Dhariwal 2021).
        prediction: what the network outputs: ``"epsilon"`` (the noise, Ho et al. 2020 eq. 11)
            or ``"v"`` (velocity, Salimans & Ho 2022 §4).
        beta_start, beta_end: the ends of the linear schedule (ignored for cosine).
    """

    def __init__(
        self,
        timesteps: int = 1000,
        schedule: ScheduleKind = "linear",
        prediction: PredictionKind = "epsilon",
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
    ) -> None:
        super().__init__()
        check_positive_int(timesteps, "timesteps", minimum=2)
        _check_choice("schedule", schedule, SCHEDULE_KINDS)
        _check_choice("prediction", prediction, PREDICTION_KINDS)
        if not 0 < beta_start < beta_end < 1:
            raise ValueError(
                f"need 0 < beta_start < beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}"
            )
        self.timesteps = timesteps
        self.schedule = schedule
        self.prediction = prediction

        betas = (
            linear_betas(timesteps, beta_start, beta_end)
            if schedule == "linear"
            else cosine_betas(timesteps)
        )
        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        tables = {
            "betas": betas,
            "alphas": alphas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            # q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)   (Ho et al. eq. 4)
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
            # q(x_{t-1} | x_t, x_0) = N(mu~_t, beta~_t I)                     (Ho et al. eq. 6-7)
            # beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t
            "posterior_variance": (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod) * betas,
            # mu~_t = coef1 * x_0 + coef2 * x_t
            "posterior_mean_coef1": alphas_cumprod_prev.sqrt() * betas / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": alphas.sqrt()
            * (1.0 - alphas_cumprod_prev)
            / (1.0 - alphas_cumprod),
        }
        for name, table in tables.items():
            self.register_buffer(name, table.float())
        self.terminal_signal = float(alphas_cumprod[-1].sqrt())
        """sqrt(alpha_bar_T): the share of x_0 left in x_T (0 = pure noise)."""

    def warn_unless_noise_at_T(self, stacklevel: int = 3) -> None:
        """Warn if x_T keeps more than :data:`TERMINAL_SIGNAL_LIMIT` of the image.

        Samplers start from x_T ~ N(0, I), which is only right if q(x_T | x_0) has (nearly)
        forgotten x_0. Linear betas from 1e-4 to 0.02 need T of the order of 1000 for that: at
        T = 200 x_T keeps 0.36 of the image, and a conditional model trained so translated
        8³ balls at MAE 0.45, where the best constant scored 0.04. A short linear chain can
        still teach the algebra (notebook 05's two moons), so only sampling warns.
        """
        if self.terminal_signal > TERMINAL_SIGNAL_LIMIT:
            warnings.warn(
                f"with schedule={self.schedule!r} and timesteps={self.timesteps}, x_T still "
                f"holds sqrt(alpha_bar_T) = {self.terminal_signal:.2f} of the image, so sampling "
                "from pure noise does not match what the network was trained on; use "
                "schedule='cosine' or more timesteps (the linear schedule was designed for "
                "T = 1000)",
                UserWarning,
                stacklevel=stacklevel,
            )

    # ------------------------------------------------------------------ helpers
    def _at(self, table: torch.Tensor, t: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
        """table[t] shaped to broadcast over ``x`` ``(B, C, H, W)``."""
        t = torch.as_tensor(t, device=table.device).long().reshape(-1)
        if bool(((t < 0) | (t >= self.timesteps)).any()):
            raise ValueError(f"t must be in [0, timesteps={self.timesteps}), got {t.tolist()}")
        value = table[t]
        return value.to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))

    # ------------------------------------------------------------------ forward process
    def add_noise(
        self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int
    ) -> torch.Tensor:
        """q_sample: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (Ho et al. eq. 4).

        Shapes: x0, noise ``(B, C, H, W)``; t ``(B,)`` or int -> ``(B, C, H, W)``. Pure function.
        """
        if x0.shape != noise.shape:
            raise ValueError(
                f"x0 and noise must match, got {tuple(x0.shape)} and {tuple(noise.shape)}"
            )
        return (
            self._at(self.sqrt_alphas_cumprod, t, x0) * x0
            + self._at(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise
        )

    def velocity(
        self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int
    ) -> torch.Tensor:
        """v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 (Salimans & Ho 2022 §4)."""
        return (
            self._at(self.sqrt_alphas_cumprod, t, x0) * noise
            - self._at(self.sqrt_one_minus_alphas_cumprod, t, x0) * x0
        )

    def training_target(
        self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int
    ) -> torch.Tensor:
        """What the network learns to output: eps (Ho et al. eq. 14, L_simple) or v."""
        return noise if self.prediction == "epsilon" else self.velocity(x0, noise, t)

    # ------------------------------------------------------------------ prediction conversions
    def predict_x0_eps(
        self, x_t: torch.Tensor, model_output: torch.Tensor, t: torch.Tensor | int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Recover (x_0, eps) from the network output at step t.

        epsilon: x_0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar)   (Ho et al. eq. 4 inverted)
        v:       x_0 = sqrt(alpha_bar) x_t - sqrt(1 - alpha_bar) v,
                 eps = sqrt(1 - alpha_bar) x_t + sqrt(alpha_bar) v         (Salimans & Ho §4)
        """
        sqrt_ab = self._at(self.sqrt_alphas_cumprod, t, x_t)
        sqrt_1m_ab = self._at(self.sqrt_one_minus_alphas_cumprod, t, x_t)
        if self.prediction == "epsilon":
            eps = model_output
            x0 = (x_t - sqrt_1m_ab * eps) / sqrt_ab
        else:
            v = model_output
            x0 = sqrt_ab * x_t - sqrt_1m_ab * v
            eps = sqrt_1m_ab * x_t + sqrt_ab * v
        return x0, eps

    # ------------------------------------------------------------------ reverse steps
    def ddpm_mean_variance(
        self,
        x_t: torch.Tensor,
        model_output: torch.Tensor,
        t: torch.Tensor | int,
        clip_x0: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean and variance of p(x_{t-1} | x_t) = q(x_{t-1} | x_t, x_0 = x0_hat) (Ho et al. eq. 6-7).

        Variance is the posterior beta~_t ("fixed_small", Ho et al. §3.2). With ``clip_x0`` the
        predicted x_0 is clamped to [-1, 1] first, as in Ho et al.'s sampler.
        Returns (mean, variance, x0_hat), each ``(B, C, H, W)`` (variance broadcastable).
        """
        x0, _ = self.predict_x0_eps(x_t, model_output, t)
        if clip_x0:
            x0 = x0.clamp(-1.0, 1.0)
        mean = (
            self._at(self.posterior_mean_coef1, t, x_t) * x0
            + self._at(self.posterior_mean_coef2, t, x_t) * x_t
        )
        variance = self._at(self.posterior_variance, t, x_t)
        return mean, variance, x0

    def ddpm_step(
        self,
        x_t: torch.Tensor,
        model_output: torch.Tensor,
        t: int,
        clip_x0: bool = False,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One ancestral step x_t -> x_{t-1} = mu~ + sqrt(beta~_t) z, z ~ N(0, I) (Ho et al. Alg. 2).

        No noise is added at t = 0 (x_0 is returned as the mean). ``noise`` overrides sampling z.
        """
        mean, variance, _ = self.ddpm_mean_variance(x_t, model_output, t, clip_x0)
        if int(t) == 0:
            return mean
        if noise is None:
            noise = torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
        return mean + variance.sqrt() * noise

    def ddim_step(
        self,
        x_t: torch.Tensor,
        model_output: torch.Tensor,
        t: int,
        t_prev: int,
        eta: float = 0.0,
        clip_x0: bool = False,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One generalised step x_t -> x_{t_prev} (Song et al. 2021 eq. 12), t_prev < t; -1 = clean.

        sigma_t = eta * sqrt((1 - a_prev) / (1 - a_t)) * sqrt(1 - a_t / a_prev)     (eq. 16)
        x_prev  = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma_t^2) eps_hat + sigma_t z
        where a = alpha_bar. eta = 0 is deterministic DDIM; eta = 1 with t_prev = t - 1 is DDPM.
        """
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta!r}")
        t, t_prev = int(t), int(t_prev)
        if not -1 <= t_prev < t < self.timesteps:
            raise ValueError(
                f"need -1 <= t_prev < t < timesteps={self.timesteps}, got t={t}, t_prev={t_prev}"
            )
        # Scalar coefficients in float64 from log alpha_bar: 1 - a and 1 - a_t / a_prev are
        # differences of numbers near 1 that float32 cancels at small t (rel. error ~1e-3).
        log_ab = torch.cumsum(torch.log1p(-self.betas.detach().double().cpu()), 0)
        la_t, la_prev = float(log_ab[t]), float(log_ab[t_prev]) if t_prev >= 0 else 0.0
        a_t, a_prev = math.exp(la_t), math.exp(la_prev)
        one_minus_a_t, one_minus_a_prev = -math.expm1(la_t), -math.expm1(la_prev)
        sigma = eta * math.sqrt(
            one_minus_a_prev / one_minus_a_t * -math.expm1(la_t - la_prev)
        )  # eq. 16

        x0, eps = self.predict_x0_eps(x_t, model_output, t)
        if clip_x0:
            x0 = x0.clamp(-1.0, 1.0)
            # keep eps consistent with the clipped x0 (x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps)
            eps = (x_t - math.sqrt(a_t) * x0) / math.sqrt(one_minus_a_t)
        direction = math.sqrt(max(one_minus_a_prev - sigma**2, 0.0)) * eps  # "direction to x_t"
        x_prev = math.sqrt(a_prev) * x0 + direction  # eq. 12: "predicted x_0" + direction
        if eta > 0:
            if noise is None:
                noise = torch.randn(
                    x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype
                )
            x_prev = x_prev + sigma * noise  # "random noise"
        return x_prev

    def sampling_timesteps(self, steps: int, spacing: SpacingKind = "trailing") -> list[int]:
        """The descending sub-sequence tau of {0 .. T-1} visited by a sampler with ``steps`` steps.

        ``"leading"``: 0, T/steps, ... (Song et al. 2021 §4.2; diffusers' default), reversed.
        ``"trailing"``: ends at T-1 so the first step starts from (almost) pure noise
        (Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed", Table 2).
        """
        _check_choice("spacing", spacing, SPACING_KINDS)
        if (
            isinstance(steps, bool)
            or not isinstance(steps, int)
            or not 1 <= steps <= self.timesteps
        ):
            raise ValueError(
                f"steps must be an int in [1, timesteps={self.timesteps}], got {steps!r}"
            )
        if spacing == "leading":
            ratio = self.timesteps // steps
            return [i * ratio for i in reversed(range(steps))]
        ratio = self.timesteps / steps
        return [round(self.timesteps - i * ratio) - 1 for i in range(steps)]

    def extra_repr(self) -> str:
        return f"timesteps={self.timesteps}, schedule={self.schedule!r}, prediction={self.prediction!r}"
