"""Adversarial losses for every GAN in the package (one name per loss) and the WGAN-GP penalty.

Pang et al. 2025, Section 4.2, describe the GAN game and its variants; the losses here are the
common choices for the discriminator/critic ``D`` and generator ``G``. Every function takes raw
scores (logits for the classifier losses, unbounded critic values for Wasserstein; any shape, e.g.
``(B,)`` or the PatchGAN map ``(B, 1, h, w)``) and returns a scalar mean. The plain forms carry no
constant factors; a model that follows a paper's factor states it through ``d_scale`` / ``g_scale``
of :func:`get_gan_loss` (see :class:`GANLoss`).

* ``"nonsaturating"`` (Goodfellow et al., 2014): ``L_D = -log σ(D(x)) - log(1 - σ(D(G(z))))``,
  ``L_G = -log σ(D(G(z)))``  (softplus form: ``-log σ(s) = softplus(-s)``). This is the binary
  cross-entropy GAN with the non-saturating generator loss that Pix2Pix uses.
* ``"lsgan"`` (Mao et al., 2017): ``L_D = (D(x) - 1)² + D(G(z))²``, ``L_G = (D(G(z)) - 1)²``.
  Mao et al. write both with a factor ½; the GAN family keeps it via ``d_scale = g_scale = 0.5``.
* ``"hinge"`` (Lim & Ye 2017; Miyato et al. 2018): ``L_D = relu(1 - D(x)) + relu(1 + D(G(z)))``,
  ``L_G = -D(G(z))``.
* ``"wasserstein"`` (Arjovsky et al., 2017): ``L_D = D(G(z)) - D(x)``, ``L_G = -D(G(z))``.
  Only meaningful with a (roughly) 1-Lipschitz critic: use ``"wgan_gp"`` (gradient penalty) or
  ``spectral_norm=True``; otherwise the critic's scores grow without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

GanLossName = Literal["nonsaturating", "lsgan", "hinge", "wasserstein"]


def nonsaturating_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def nonsaturating_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake).mean()


def lsgan_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return ((real - 1.0) ** 2).mean() + (fake**2).mean()


def lsgan_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return ((fake - 1.0) ** 2).mean()


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def wasserstein_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return fake.mean() - real.mean()


def wasserstein_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


_PLAIN: dict[str, tuple[Callable, Callable]] = {
    "nonsaturating": (nonsaturating_d_loss, nonsaturating_g_loss),
    "lsgan": (lsgan_d_loss, lsgan_g_loss),
    "hinge": (hinge_d_loss, hinge_g_loss),
    "wasserstein": (wasserstein_d_loss, wasserstein_g_loss),
}


@dataclass(frozen=True)
class GANLoss:
    """A named loss pair: ``d(real, fake) = d_scale * L_D`` and ``g(fake) = g_scale * L_G``.

    ``L_D`` and ``L_G`` are the plain forms of the module docstring; the scales are the papers'
    constant factors, kept explicit so that no model changes a loss silently:

    * ``d_scale = 0.5`` in Pix2Pix, CycleGAN and UNIT: Isola et al. (2017, Sec. 3.3) halve D's
      objective so that D learns more slowly than G (CycleGAN and UNIT follow them);
    * ``d_scale = g_scale = 0.5`` for ``"lsgan"`` in the GAN family: Mao et al. (2017, Eq. 2).
    """

    name: str
    d_scale: float = 1.0
    g_scale: float = 1.0

    def d(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Scalar D/critic loss from the scores of real and generated images."""
        return self.d_scale * _PLAIN[self.name][0](real, fake)

    def g(self, fake: torch.Tensor) -> torch.Tensor:
        """Scalar G loss from D's scores of generated images (D's weights frozen or not stepped)."""
        return self.g_scale * _PLAIN[self.name][1](fake)


GAN_LOSSES: dict[str, GANLoss] = {name: GANLoss(name) for name in _PLAIN}


def get_gan_loss(
    name: str,
    *,
    d_scale: float = 1.0,
    g_scale: float = 1.0,
    allowed: tuple[str, ...] = tuple(_PLAIN),
    argument: str = "loss",
) -> GANLoss:
    """The loss pair registered as ``name``, scaled by ``d_scale`` / ``g_scale``.

    Args:
        name: one of ``allowed`` (by default every key of :data:`GAN_LOSSES`).
        d_scale, g_scale: constant factors on ``L_D`` and ``L_G`` (see :class:`GANLoss`).
        allowed: the names the calling model supports (a subset of :data:`GAN_LOSSES`).
        argument: the caller's keyword, named in the error (``"loss"``, ``"gan_loss"``).

    Raises:
        ValueError: ``name`` is not in ``allowed``; the message lists the allowed names.
    """
    if name not in allowed:
        raise ValueError(f"{argument} must be one of {tuple(sorted(allowed))}, got {name!r}")
    return GANLoss(name, d_scale, g_scale)


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor] | nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al., 2017, Eq. 3): ``E[(‖∇_x̂ D(x̂)‖₂ - 1)²]``.

    ``x̂ = ε x_real + (1 - ε) x_fake`` with one ``ε ~ U(0, 1)`` per sample. The graph is kept
    (``create_graph=True``) so the penalty can be back-propagated into the critic's weights.

    Args:
        critic: maps ``(B, C, H, W)`` to scores ``(B,)`` or ``(B, 1)``.
        real, fake: ``(B, C, H, W)`` batches of the same shape (any value range).
        generator: optional RNG for ``ε``.

    Returns:
        scalar tensor, the batch mean of the squared deviation of the gradient norm from 1.
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = torch.rand(
        eps_shape,
        generator=generator,
        device=real.device if generator is None else generator.device,
    )
    eps = eps.to(device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    grad_norm = grad.flatten(1).norm(2, dim=1)  # (B,)
    return ((grad_norm - 1.0) ** 2).mean()
