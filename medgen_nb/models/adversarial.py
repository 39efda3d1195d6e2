"""Adversarial losses and input checks shared by the translation models (Pix2Pix, CycleGAN, UNIT).

Two objectives are offered, both written for a discriminator that outputs raw scores (no sigmoid):

* ``"vanilla"``: the original GAN cross-entropy (Goodfellow et al., 2014), used by Pix2Pix;
* ``"lsgan"``: least squares (Mao et al., 2017), used by CycleGAN and UNIT because its gradients
  do not vanish for confidently rejected fakes.

See Pang et al. 2025, Sec. 4.2, for where these models sit among GAN variants.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

GanLossKind = Literal["lsgan", "vanilla"]
GAN_LOSSES: tuple[str, ...] = ("lsgan", "vanilla")


def check_gan_loss(kind: str) -> None:
    """Raise a ``ValueError`` if ``kind`` is not one of :data:`GAN_LOSSES`."""
    if kind not in GAN_LOSSES:
        raise ValueError(f"gan_loss must be one of {GAN_LOSSES}, got {kind!r}")


def adversarial_loss(
    prediction: torch.Tensor, target_is_real: bool, kind: GanLossKind
) -> torch.Tensor:
    """Mean loss of discriminator scores ``prediction`` (any shape) against an all-real/all-fake label.

    lsgan:   mean((D - 1)^2) for real, mean(D^2) for fake.
    vanilla: binary cross-entropy of sigmoid(D) against 1 or 0 (computed stably from the logits).
    """
    check_gan_loss(kind)
    target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
    if kind == "lsgan":
        return F.mse_loss(prediction, target)
    return F.binary_cross_entropy_with_logits(prediction, target)


def discriminator_loss(
    pred_real: torch.Tensor, pred_fake: torch.Tensor, kind: GanLossKind
) -> torch.Tensor:
    """Discriminator objective ``0.5 * (loss(real -> 1) + loss(fake -> 0))``.

    The factor 1/2 slows D relative to G, as in the Pix2Pix and CycleGAN papers.
    """
    return 0.5 * (
        adversarial_loss(pred_real, True, kind) + adversarial_loss(pred_fake, False, kind)
    )


def set_requires_grad(modules: Iterable[nn.Module], flag: bool) -> None:
    """Switch gradients of every parameter in ``modules`` on or off (D is frozen during G's step)."""
    for module in modules:
        for p in module.parameters():
            p.requires_grad_(flag)


def check_images(x: torch.Tensor, channels: int, size: int, name: str) -> None:
    """Raise a clear ``ValueError`` unless ``x`` has shape ``(B, channels, size, size)``."""
    if x.ndim != 4 or x.shape[1] != channels or tuple(x.shape[2:]) != (size, size):
        raise ValueError(
            f"{name} must have shape (B, {channels}, {size}, {size}) to match the model's "
            f"configuration, got {tuple(x.shape)}; rebuild the model with matching "
            f"channels/size or fix the data"
        )
