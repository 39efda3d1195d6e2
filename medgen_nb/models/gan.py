"""The GAN family: vanilla (MLP), DCGAN, conditional GAN, ACGAN, InfoGAN and WGAN-GP.

Pang et al. 2025, Section 4.2 and Figure 5(a)-(d), review these variants. The shared training
step and configuration live in :mod:`.gan_core`; InfoGAN and WGAN-GP in :mod:`.gan_info`; losses
and the gradient penalty in :mod:`.gan_losses`. Every generator has
``sample(n, labels=None, codes=None, generator=None) -> (n, C, S, S)`` in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from medgen_nb.models.gan_core import GAN
from medgen_nb.models.gan_info import WGANGP, InfoGAN
from medgen_nb.models.gan_losses import GAN_LOSSES, get_gan_loss, gradient_penalty
from medgen_nb.models.gan_nets import MLPGenerator, MLPTrunk, linear_head


class VanillaGAN(GAN):
    """Fully connected GAN (Goodfellow et al., 2014); hidden units ``8 * base_channels``."""

    convolutional = False

    def build_generator(self, latent_in: int) -> nn.Module:
        return MLPGenerator(
            latent_in, self.in_channels, self.size, 8 * self.config["base_channels"]
        )

    def build_trunk(self) -> nn.Module:
        return MLPTrunk(
            self.in_channels,
            self.size,
            8 * self.config["base_channels"],
            self.config["spectral_norm"],
        )


class DCGAN(GAN):
    """Deep convolutional GAN (Radford et al., 2016)."""


class ConditionalGAN(GAN):
    """cGAN (Mirza & Osindero, 2014): one-hot label appended to ``z`` and as constant maps to D's input."""

    conditional = True
    batch_keys = ("image", "label")

    @property
    def d_in_channels(self) -> int:
        return self.in_channels + self.num_classes

    def discriminate(self, x, cond):
        onehot = F.one_hot(cond["labels"], self.num_classes).to(x.dtype)  # (B, K)
        maps = onehot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])  # (B, K, S, S)
        return super().discriminate(torch.cat([x, maps], 1), cond)


class ACGAN(GAN):
    """Auxiliary-classifier GAN (Odena et al., 2017): D also predicts the class of real and fake images."""

    conditional = True
    batch_keys = ("image", "label")

    def __init__(self, **config) -> None:
        super().__init__(**config)
        self.cls_head = linear_head(
            self.trunk.out_features, self.num_classes, self.config["spectral_norm"]
        )

    def aux_d_loss(self, real_feats, fake_feats, cond_real, cond_fake):
        logits_real = self.cls_head(real_feats)  # (B, K)
        loss = F.cross_entropy(logits_real, cond_real["labels"]) + F.cross_entropy(
            self.cls_head(fake_feats), cond_fake["labels"]
        )
        acc = (logits_real.argmax(1) == cond_real["labels"]).float().mean()
        return loss, {"loss_d_cls": loss.item(), "acc_d_cls": float(acc)}

    def aux_g_loss(self, fake_feats, cond_fake):
        return F.cross_entropy(self.cls_head(fake_feats), cond_fake["labels"])


MODELS: dict[str, type] = {
    "gan": VanillaGAN,
    "dcgan": DCGAN,
    "cgan": ConditionalGAN,
    "acgan": ACGAN,
    "infogan": InfoGAN,
    "wgan_gp": WGANGP,
}

__all__ = [
    "ACGAN", "DCGAN", "GAN", "GAN_LOSSES", "MODELS", "ConditionalGAN", "InfoGAN", "VanillaGAN",
    "WGANGP", "get_gan_loss", "gradient_penalty",
]  # fmt: skip
