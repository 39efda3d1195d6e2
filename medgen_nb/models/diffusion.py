"""Denoising diffusion models (DDPM / DDIM) for image creation and image-conditional translation.

Pang et al. 2025 (§4.3) describe the idea: a fixed forward process adds Gaussian noise until the
image is pure noise, and a network learns to undo one step at a time. Here

* :class:`~medgen_nb.models.schedulers.NoiseSchedule` owns the forward process and one reverse step;
* :class:`~medgen_nb.models.unet_time.TimeUNet` is the network;
* :func:`ddpm_sample` and :func:`ddim_sample` are samplers: functions of (network, schedule,
  steps). The same trained network serves both; DDIM trades a little quality for 20x fewer
  steps (Pang et al. 2025 §7.1.2 on the sampling-time cost of diffusion models).

Batches (dicts as produced by :class:`medgen_nb.data.slices.SliceDataset`):

* creation: ``batch["image"]`` ``(B, C, H, W)`` in [0, 1] is generated; optional
  ``batch["label"]`` ``(B,)`` long for class conditioning (``num_classes > 0``).
* translation (``cond_channels > 0``): ``batch["target"]`` ``(B, C, H, W)`` is *generated* and
  ``batch["image"]`` ``(B, cond_channels, H, W)`` (the source) is the *condition*, so
  ``SliceDataset(sources=["t1w"], target="t2w")`` feeds Pix2Pix and conditional diffusion alike.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from medgen_nb.models.base import (
    Batch,
    GenerativeModel,
    Optimizers,
    StepContext,
    to_signed,
    to_unit,
)
from medgen_nb.models.blocks import check_power_of_two_size
from medgen_nb.models.schedulers import NoiseSchedule, PredictionKind, ScheduleKind, SpacingKind
from medgen_nb.models.unet_time import TimeUNet
from medgen_nb.models.validation import (
    check_flag,
    check_learning_rate,
    check_positive_int,
    check_unit_images,
)

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(x_t (B, C, H, W), t (B,) long) -> network output (eps or v), (B, C, H, W)."""
SAMPLERS: tuple[str, ...] = ("ddpm", "ddim")


def _initial_noise(shape, schedule, generator, x_T) -> torch.Tensor:
    device = schedule.betas.device
    if x_T is not None:
        if tuple(x_T.shape) != tuple(shape):
            raise ValueError(f"x_T must have shape {tuple(shape)}, got {tuple(x_T.shape)}")
        return x_T.to(device)
    return torch.randn(shape, generator=generator, device=device)  # x_T ~ N(0, I)


@torch.no_grad()
def ddpm_sample(
    model_fn: ModelFn,
    schedule: NoiseSchedule,
    shape: Sequence[int],
    *,
    generator: torch.Generator | None = None,
    x_T: torch.Tensor | None = None,
    clip_x0: bool = True,
    progress: bool = False,
) -> torch.Tensor:
    """Ancestral sampling over all T steps (Ho et al. 2020 Algorithm 2). Returns x_0 in [-1, 1].

    ``shape`` is ``(B, C, H, W)``; ``generator`` (on the schedule's device) makes it repeatable.
    """
    x = _initial_noise(shape, schedule, generator, x_T)
    for t in tqdm(range(schedule.timesteps - 1, -1, -1), disable=not progress, desc="DDPM"):
        t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        x = schedule.ddpm_step(x, model_fn(x, t_batch), t, clip_x0=clip_x0, generator=generator)
    return x


@torch.no_grad()
def ddim_sample(
    model_fn: ModelFn,
    schedule: NoiseSchedule,
    shape: Sequence[int],
    steps: int = 50,
    eta: float = 0.0,
    *,
    generator: torch.Generator | None = None,
    x_T: torch.Tensor | None = None,
    clip_x0: bool = True,
    spacing: SpacingKind = "trailing",
    progress: bool = False,
) -> torch.Tensor:
    """DDIM sampling on a sub-sequence of ``steps`` timesteps (Song et al. 2021 eq. 12, §4.2).

    ``eta = 0`` is deterministic (same x_T -> same x_0); ``eta = 1`` is ancestral sampling of the
    respaced DDPM. Returns x_0 in [-1, 1], shape ``shape``.
    """
    taus = schedule.sampling_timesteps(steps, spacing)  # validates steps <= T
    x = _initial_noise(shape, schedule, generator, x_T)
    for i in tqdm(range(len(taus)), disable=not progress, desc="DDIM"):
        t, t_prev = taus[i], taus[i + 1] if i + 1 < len(taus) else -1
        t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        x = schedule.ddim_step(
            x, model_fn(x, t_batch), t, t_prev, eta=eta, clip_x0=clip_x0, generator=generator
        )
    return x


class DiffusionModel(GenerativeModel):
    """DDPM (Ho et al. 2020) with DDIM sampling, classifier-free guidance and an EMA network.

    Args:
        in_channels: channels of the generated image (``batch["image"]``, or ``batch["target"]``
            when ``cond_channels > 0``).
        size: image side S (power of two, >= 4 * 2 ** (len(channel_mults) - 1)).
        base_channels, channel_mults, num_res_blocks, attention, dropout: see :class:`TimeUNet`.
        timesteps: T. schedule: ``"linear"`` | ``"cosine"``. prediction: ``"epsilon"`` | ``"v"``.
        num_classes: class labels for conditional creation (0 = unconditional).
        cond_channels: channels of the source image for translation (0 = creation).
        p_uncond: probability of replacing a label by the null class in training (CFG).
        ema_decay: decay of the exponential moving average of the weights used for sampling.
        lr: Adam learning rate.

    ``self.config`` captures these so ``medgen_nb.models.create("ddpm", **model.config)`` rebuilds it.
    """

    spatial_dims = 2  # DiffusionModel3D: 3

    def __init__(
        self,
        *,
        in_channels: int = 1,
        size: int = 64,
        base_channels: int = 32,
        channel_mults: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 1,
        attention: bool = True,
        dropout: float = 0.0,
        timesteps: int = 1000,
        schedule: ScheduleKind = "linear",
        prediction: PredictionKind = "epsilon",
        num_classes: int = 0,
        cond_channels: int = 0,
        p_uncond: float = 0.1,
        ema_decay: float = 0.999,
        lr: float = 2e-4,
    ) -> None:
        super().__init__()
        channel_mults = tuple(channel_mults)
        check_power_of_two_size(size, 4 * 2 ** (len(channel_mults) - 1))
        if not 0.0 <= p_uncond < 1.0:
            raise ValueError(f"p_uncond must be in [0, 1), got {p_uncond!r}")
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay!r}")
        check_learning_rate(lr)
        check_flag(attention, "attention")
        self.resolve_config(channel_mults=list(channel_mults))  # stored as JSON reads it back
        self.schedule = NoiseSchedule(timesteps, schedule, prediction)
        self.network = TimeUNet(
            in_channels, base_channels, channel_mults, num_res_blocks, num_classes,
            cond_channels, attention, dropout, self.spatial_dims,
        )  # fmt: skip
        # EMA copy of the weights (Ho et al. 2020 App. B); a frozen module, saved in state_dict
        self.ema_network = copy.deepcopy(self.network).requires_grad_(False)

    @property
    def batch_keys(self) -> tuple[str, ...]:  # type: ignore[override]
        keys = ("target", "image") if self.config["cond_channels"] else ("image",)
        return keys + (("label",) if self.config["num_classes"] else ())

    @property
    def image_shape(self) -> tuple[int, ...]:
        """``(C, S, S)``, or ``(C, S, S, S)`` for volumes: one generated item."""
        return (self.config["in_channels"],) + (self.config["size"],) * self.spatial_dims

    def _shape_text(self, lead: object, channels: int) -> str:
        return "(" + ", ".join(map(str, (lead, channels) + self.image_shape[1:])) + ")"

    # ------------------------------------------------------------------ training
    def configure_optimizers(self) -> Optimizers:
        return {"net": torch.optim.Adam(self.network.parameters(), lr=self.config["lr"])}

    def _split_batch(
        self, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """-> (x_0 in [-1, 1], labels or None, condition in [-1, 1] or None), checked."""
        c, cc = self.config["in_channels"], self.config["cond_channels"]
        spatial = self.image_shape[1:]
        key = "target" if cc else "image"
        if key not in batch:
            why = (
                "conditional diffusion generates batch['target'] from batch['image']"
                if cc
                else "need batch['image']"
            )
            raise ValueError(f"batch has no {key!r} ({why}); keys: {sorted(batch)}")
        x0 = batch[key]
        if tuple(x0.shape[1:]) != self.image_shape:
            want = self._shape_text("B", c)
            raise ValueError(f"batch[{key!r}] must be {want}, got {tuple(x0.shape)}")
        check_unit_images(x0, f"batch[{key!r}]")
        cond = None
        if cc:
            cond = batch["image"]
            if cond.shape != (x0.shape[0], cc, *spatial):
                want = self._shape_text("B", cc)
                raise ValueError(
                    f"batch['image'] (condition) must be {want}, got {tuple(cond.shape)}"
                )
            check_unit_images(cond, "batch['image']")
            cond = to_signed(cond.to(self.device))
        labels = None
        if self.config["num_classes"]:
            if "label" not in batch:
                raise ValueError(
                    f"num_classes={self.config['num_classes']} needs batch['label'] (B,) long"
                )
            labels = batch["label"].to(self.device).long()
        return to_signed(x0.to(self.device)), labels, cond

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> torch.Tensor:
        """L_simple (Ho et al. 2020 eq. 14): || target - net(x_t, t) ||^2, t ~ U{0..T-1}.

        target = eps (eq. 11) or v (Salimans & Ho 2022). Labels are swapped for the null class
        with probability ``p_uncond`` so one network learns p(x|y) and p(x) (Ho & Salimans 2022).
        """
        x0, labels, cond = self._split_batch(batch)
        b, device = x0.shape[0], x0.device
        t = torch.randint(0, self.schedule.timesteps, (b,), device=device, generator=generator)
        noise = torch.randn(x0.shape, device=device, generator=generator)  # eps ~ N(0, I)
        x_t = self.schedule.add_noise(x0, noise, t)  # eq. 4
        if labels is not None and self.config["p_uncond"] > 0:
            drop = torch.rand(b, device=device, generator=generator) < self.config["p_uncond"]
            labels = torch.where(drop, torch.full_like(labels, self.config["num_classes"]), labels)
        prediction = self.network(x_t, t, labels, cond)
        return F.mse_loss(prediction, self.schedule.training_target(x0, noise, t))

    @torch.no_grad()
    def update_ema(self, step: int) -> float:
        """theta_ema <- d theta_ema + (1 - d) theta, d = min(ema_decay, (1 + step) / (10 + step)).

        The warm-up term lets the average follow quickly in the first steps (as in TensorFlow's
        ExponentialMovingAverage with num_updates) so short lab runs sample from trained weights.
        Returns d.
        """
        decay = min(self.config["ema_decay"], (1.0 + step) / (10.0 + step))
        for ema_p, p in zip(self.ema_network.parameters(), self.network.parameters(), strict=True):
            ema_p.lerp_(p.detach(), 1.0 - decay)
        for ema_b, b in zip(self.ema_network.buffers(), self.network.buffers(), strict=True):
            ema_b.copy_(b)
        return decay

    def train_step(
        self, batch: Batch, optimizers: Optimizers, ctx: StepContext
    ) -> dict[str, float]:
        loss = self.loss(batch)
        ctx.optimize(loss, optimizers["net"], name="net")
        self.update_ema(ctx.step)
        return {"loss": float(loss.detach())}

    # ------------------------------------------------------------------ sampling
    def guided_model_fn(
        self,
        labels: torch.Tensor | None = None,
        condition: torch.Tensor | None = None,
        guidance_scale: float = 1.0,
        use_ema: bool = True,
    ) -> ModelFn:
        """The network as a function of (x_t, t), with labels/condition bound.

        Classifier-free guidance (Ho & Salimans 2022 eq. 6 with s = 1 + w):
        out = out(null) + s * (out(y) - out(null)); s = 1 is the plain conditional output,
        s = 0 the unconditional one. ``condition`` is in model space [-1, 1].
        """
        net = self.ema_network if use_ema else self.network
        if labels is None or guidance_scale == 1.0:
            return lambda x, t: net(x, t, labels, condition)
        null = torch.full_like(labels, self.config["num_classes"])

        def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            out_y = net(x, t, labels, condition)
            out_null = net(x, t, null, condition)
            return out_null + guidance_scale * (out_y - out_null)

        return fn

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        condition: torch.Tensor | None = None,
        steps: int | None = None,
        sampler: str = "ddpm",
        eta: float = 0.0,
        guidance_scale: float = 1.0,
        generator: torch.Generator | None = None,
        use_ema: bool = True,
        progress: bool = False,
    ) -> torch.Tensor:
        """Draw ``n`` images ``(n, C, S, S)`` (volumes ``(n, C, S, S, S)``) in [0, 1].

        Args:
            labels: ``(n,)`` long class labels (``num_classes > 0``); None = unconditional.
            condition: ``(n, cond_channels, S, S)`` source images in [0, 1] (translation).
            steps: number of sampling steps; None = all T. ``"ddpm"`` with fewer steps samples
                the respaced chain (DDIM with eta = 1, Nichol & Dhariwal 2021 §4).
            sampler: ``"ddpm"`` (ancestral) or ``"ddim"`` (``eta`` = 0 deterministic).
            guidance_scale: classifier-free guidance scale s (1 = conditional only).
            generator: a torch.Generator on the model's device for repeatable samples.
        """
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        check_positive_int(n, "n")
        T = self.schedule.timesteps
        if steps is not None and (
            isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T
        ):
            raise ValueError(f"steps must be None or an int in [1, timesteps={T}], got {steps!r}")
        if labels is not None:
            if not self.config["num_classes"]:
                raise ValueError("labels were given but this model has num_classes=0")
            labels = labels.to(self.device).long()
            if labels.shape != (n,):
                raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
        elif guidance_scale != 1.0:
            raise ValueError(f"guidance_scale={guidance_scale} needs labels")
        cc = self.config["cond_channels"]
        if cc:
            if condition is None or condition.shape != (n, cc, *self.image_shape[1:]):
                got = None if condition is None else tuple(condition.shape)
                want = self._shape_text(n, cc)
                raise ValueError(f"condition must be {want} in [0, 1], got {got}")
            check_unit_images(condition, "condition")
            condition = to_signed(condition.to(self.device))
        elif condition is not None:
            raise ValueError("condition was given but this model has cond_channels=0")

        self.schedule.warn_unless_noise_at_T(stacklevel=4)  # x_T below is drawn from N(0, I)
        model_fn = self.guided_model_fn(labels, condition, guidance_scale, use_ema)
        shape = (n, *self.image_shape)
        if sampler == "ddpm" and (steps is None or steps == T):
            x0 = ddpm_sample(model_fn, self.schedule, shape, generator=generator, progress=progress)
        else:
            x0 = ddim_sample(
                model_fn, self.schedule, shape, steps or T, eta=1.0 if sampler == "ddpm" else eta,
                generator=generator, progress=progress,
            )  # fmt: skip
        return to_unit(x0)

    def translate(
        self,
        source: torch.Tensor,
        steps: int = 50,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Source ``(B, cond_channels, S, S)`` in [0, 1] -> target ``(B, C, S, S)`` in [0, 1] (DDIM);
        patches ``(B, cond_channels, S, S, S)`` for a 3-D model."""
        if not self.config["cond_channels"]:
            raise ValueError("translate() needs a model built with cond_channels > 0")
        return self.sample(
            source.shape[0],
            condition=source,
            steps=steps,
            sampler="ddim",
            eta=eta,
            generator=generator,
        )


class DiffusionModel3D(DiffusionModel):
    """Conditional (or unconditional) diffusion on volumes: the same DDPM/DDIM with a 3-D
    :class:`TimeUNet`, trained on cubic patches and applied to whole volumes tile by tile
    (:func:`medgen_nb.data.volumes.sliding_window`). Two costs meet here: most multi-contrast
    MRI methods stay 2-D, possibly for memory (Pang et al. 2025, Sec. 6.2.1), and diffusion's
    iterative sampling is slow (Sec. 7.1.2); a tiled 3-D sampler runs every step on every tile.

    Same arguments as :class:`DiffusionModel`, with lab-size defaults: 32³ patches, 16 base
    channels, a 200-step cosine schedule (it reaches pure noise at any T; the linear one needs
    T near 1000) and v-prediction (Salimans & Ho 2022 §4: x_0 recovered from an epsilon
    estimate is amplified by 1 / sqrt(alpha_bar_t) at the noisy end, where a short DDIM chain
    starts; measured on 8³ ball pairs after 200 steps, translation MAE 0.25 with epsilon against
    0.02 with v).
    """

    spatial_dims = 3

    def __init__(
        self,
        size: int = 32,
        base_channels: int = 16,
        timesteps: int = 200,
        schedule: ScheduleKind = "cosine",
        prediction: PredictionKind = "v",
        **config,
    ) -> None:
        super().__init__(
            size=size, base_channels=base_channels, timesteps=timesteps, schedule=schedule,
            prediction=prediction, **config,
        )  # fmt: skip


MODELS: dict[str, type] = {"ddpm": DiffusionModel, "ddpm3d": DiffusionModel3D}
