"""The shared GAN machinery: configuration, sampling and the D-then-G ``train_step``.

Pang et al. 2025, Section 4.2 and Figure 5(a)-(d), review these variants. Every model follows the
:class:`~medgen_nb.models.base.GenerativeModel` contract: ``train_step`` updates the discriminator
(critic) and then the generator on one batch ``{"image": (B, C, S, S) in [0, 1], "label": (B,)}``,
and ``sample(n, labels=None, codes=None, generator=None)`` returns ``(n, C, S, S)`` in [0, 1].
Internally images live in [-1, 1] (tanh output).

Configuration (keyword-only, captured in ``self.config`` so checkpoints can rebuild the model):
``in_channels``, ``size`` (power of two >= 16), ``latent_dim``, ``num_classes``,
``base_channels`` (first-layer channel count; the MLP GAN uses ``8 * base_channels`` hidden
units), ``lr``, ``betas``, ``loss`` (see :mod:`.gan_losses`), ``spectral_norm`` (Miyato et al.,
2018; the discriminator then drops batch norm).

Practical note (measured, see ``benchmarks/bench_models.py``): at 64x64 on a simulated two-mode
set, ``spectral_norm=True, lr=5e-4`` learned both modes in 200 steps, while the classic
batch-norm discriminator at ``lr=2e-4`` overpowered the generator and had not moved it after 300.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from medgen_nb.models.base import (
    Batch,
    GenerativeModel,
    Optimizers,
    StepContext,
    to_signed,
    to_unit,
)
from medgen_nb.models.blocks import check_power_of_two_size, init_weights
from medgen_nb.models.gan_losses import get_gan_loss
from medgen_nb.models.gan_nets import ConvGenerator, ConvTrunk, linear_head
from medgen_nb.models.validation import (
    check_betas,
    check_flag,
    check_image_batch,
    check_labels,
    check_learning_rate,
    check_positive_int,
)

# The GAN family uses Mao et al.'s (2017, Eq. 2) LSGAN objectives, both halved; the other losses
# carry no factor. Kept explicit here so ``loss_d_gan`` / ``loss_g_gan`` match the plain forms of
# :mod:`.gan_losses` times these scales (and earlier training runs are unchanged).
LOSS_SCALES: dict[str, float] = {"lsgan": 0.5}


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Stop gradients into ``module``'s parameters (D during the G step) and restore afterwards."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


class GAN(GenerativeModel):
    """Shared machinery; subclasses choose networks and add auxiliary loss terms.

    ``conditional`` subclasses feed one-hot labels to G (and D or an auxiliary head).
    """

    conditional = False
    batch_keys = ("image",)
    convolutional = True
    dcgan_init_critic = True  # N(0, 0.02) weights in D (Radford et al.); WGAN-GP keeps defaults

    def __init__(
        self,
        *,
        in_channels: int = 1,
        size: int = 64,
        latent_dim: int = 64,
        num_classes: int = 0,
        base_channels: int = 32,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        loss: str = "nonsaturating",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_power_of_two_size(size, 16)
        check_positive_int(latent_dim, "latent_dim")
        check_positive_int(base_channels, "base_channels")
        get_gan_loss(loss)  # validates the name
        if self.conditional and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
        ):
            raise ValueError(
                f"{type(self).__name__} is class-conditional: num_classes must be an int >= 2, got {num_classes!r}"
            )
        if not self.conditional and (isinstance(num_classes, bool) or num_classes != 0):
            raise ValueError(
                f"{type(self).__name__} is unconditional: num_classes must be 0, got {num_classes!r}; "
                "use 'cgan' or 'acgan' for class-conditional generation"
            )
        check_learning_rate(lr)
        betas = check_betas(betas)
        check_flag(spectral_norm, "spectral_norm")
        self.resolve_config(betas=betas)  # a list becomes the validated tuple
        scale = LOSS_SCALES.get(loss, 1.0)
        self.gan_loss = get_gan_loss(loss, d_scale=scale, g_scale=scale)
        self.in_channels, self.size, self.latent_dim, self.num_classes = (
            in_channels,
            size,
            latent_dim,
            num_classes,
        )
        self.generator = self.build_generator(self.latent_in)
        self.trunk = self.build_trunk()
        self.adv_head = linear_head(self.trunk.out_features, 1, spectral_norm)
        if self.convolutional:
            init_weights(self.generator)
            if self.dcgan_init_critic:
                init_weights(self.trunk)
                init_weights(self.adv_head)

    # --- architecture hooks -------------------------------------------------------------------
    @property
    def latent_in(self) -> int:
        """Width of G's input vector: ``z`` plus any one-hot label or code."""
        return self.latent_dim + (self.num_classes if self.conditional else 0)

    def build_generator(self, latent_in: int) -> nn.Module:
        return ConvGenerator(latent_in, self.in_channels, self.size, self.config["base_channels"])

    def build_trunk(self) -> nn.Module:
        norm = "none" if self.config["spectral_norm"] else "batch"
        return ConvTrunk(
            self.d_in_channels,
            self.size,
            self.config["base_channels"],
            norm,
            self.config["spectral_norm"],
        )

    @property
    def d_in_channels(self) -> int:
        return self.in_channels

    def discriminator_params(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith("generator.")]

    # --- forward pieces -----------------------------------------------------------------------
    def generator_input(
        self,
        n: int,
        labels: torch.Tensor | None,
        codes: dict | None,
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(n, latent_in)`` input for G and the conditioning it encodes (for auxiliary losses)."""
        if codes is not None:
            raise ValueError(
                f"codes are only used by 'infogan', got codes for {type(self).__name__}"
            )
        z = self._randn((n, self.latent_dim), generator)
        if not self.conditional:
            if labels is not None:
                raise ValueError(f"{type(self).__name__} is unconditional; labels must be None")
            return z, {}
        labels = check_labels(labels, n, self.num_classes).to(z.device)
        return torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], 1), {
            "labels": labels
        }

    def _randn(self, shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
        device = generator.device if generator is not None else self.device
        return torch.randn(shape, generator=generator, device=device).to(self.device)

    def discriminate(
        self, x: torch.Tensor, cond: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, C, S, S)`` in [-1, 1] -> (adversarial score ``(B,)``, trunk features ``(B, F)``)."""
        feats = self.trunk(x)
        return self.adv_head(feats).squeeze(1), feats

    def aux_d_loss(
        self,
        real_feats: torch.Tensor,
        fake_feats: torch.Tensor,
        cond_real: dict[str, torch.Tensor],
        cond_fake: dict[str, torch.Tensor],
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Extra D-side loss on trunk features ``(B, F)`` (ACGAN classifier, InfoGAN Q) + its logs
        (``loss_<part>`` before weighting, ``acc_<what>``; see :mod:`.base`)."""
        return torch.zeros((), device=real_feats.device), {}

    def aux_g_loss(
        self, fake_feats: torch.Tensor, cond_fake: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Extra G-side loss on the features of the (non-detached) fakes."""
        return torch.zeros((), device=fake_feats.device)

    # --- public API ---------------------------------------------------------------------------
    def configure_optimizers(self) -> Optimizers:
        lr, betas = self.config["lr"], self.config["betas"]
        return {
            "d": torch.optim.Adam(self.discriminator_params(), lr=lr, betas=betas),
            "g": torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas),
        }

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        codes: dict[str, torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n`` generated images ``(n, C, S, S)`` in [0, 1] (generator in eval mode)."""
        check_positive_int(n, "n")
        was_training = self.generator.training
        self.generator.eval()
        try:
            g_in, _ = self.generator_input(n, labels, codes, generator)
            return to_unit(self.generator(g_in))
        finally:
            self.generator.train(was_training)

    def train_step(
        self, batch: Batch, optimizers: Optimizers, ctx: StepContext
    ) -> dict[str, float]:
        images = batch["image"]
        check_image_batch(images, self.in_channels, self.size)
        x_real = to_signed(images.to(self.device))  # (B, C, S, S) in [-1, 1]
        n = x_real.shape[0]
        labels = batch.get("label") if self.conditional else None
        g_in, cond_fake = self.generator_input(n, labels, None, None)
        cond_real = {"labels": cond_fake["labels"]} if self.conditional else {}
        x_fake = self.generator(g_in)  # (B, C, S, S), graph kept for the G step

        # 1) discriminator / critic step on real vs detached fakes
        s_real, f_real = self.discriminate(x_real, cond_real)
        s_fake, f_fake = self.discriminate(x_fake.detach(), cond_fake)
        d_adv = self.gan_loss.d(s_real, s_fake)
        d_aux, aux_logs = self.aux_d_loss(f_real, f_fake, cond_real, cond_fake)
        d_extra, extra_logs = self.critic_extra(x_real, x_fake, cond_real)
        loss_d = d_adv + d_aux + d_extra
        ctx.optimize(loss_d, optimizers["d"], name="d")
        logs = {"loss_d": loss_d.item(), "loss_d_gan": d_adv.item(), **aux_logs, **extra_logs}
        logs.update(self.score_logs(s_real.detach(), s_fake.detach()))

        # 2) generator step (D frozen so its gradients are not computed)
        if self.update_generator(ctx.step):
            with frozen(self):
                for p in self.generator.parameters():
                    p.requires_grad_(True)
                s_gen, f_gen = self.discriminate(x_fake, cond_fake)
                g_adv = self.gan_loss.g(s_gen)
                loss_g = g_adv + self.aux_g_loss(f_gen, cond_fake)
                ctx.optimize(loss_g, optimizers["g"], name="g")
            logs.update(loss_g=loss_g.item(), loss_g_gan=g_adv.item())
        return logs

    def critic_extra(
        self, x_real: torch.Tensor, x_fake: torch.Tensor, cond_real: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Extra critic loss on images in [-1, 1] (WGAN-GP's gradient penalty) + logs."""
        return torch.zeros((), device=x_real.device), {}

    def update_generator(self, step: int) -> bool:
        """Whether global step ``step`` also updates G (WGAN-GP: every ``n_critic``-th step)."""
        return True

    def score_logs(self, s_real: torch.Tensor, s_fake: torch.Tensor) -> dict[str, float]:
        """D accuracy: real scored > 0, fake scored < 0 (logit / hinge / LSGAN-midpoint rules)."""
        threshold = 0.5 if self.gan_loss.name == "lsgan" else 0.0
        return {
            "acc_d_real": float((s_real > threshold).float().mean()),
            "acc_d_fake": float((s_fake < threshold).float().mean()),
        }
