"""Adversarial losses (one function pair per name) and the WGAN-GP gradient penalty.

Pang et al. 2025, Section 4.2, describe the GAN game and its variants; the losses here are the
common choices for the discriminator/critic ``D`` and generator ``G``. Every function takes raw
scores (logits for the classifier losses, unbounded critic values for Wasserstein) of shape
``(B,)`` or ``(B, 1)`` and returns a scalar mean over the batch.

* ``"nonsaturating"`` (Goodfellow et al., 2014): ``L_D = -log σ(D(x)) - log(1 - σ(D(G(z))))``,
  ``L_G = -log σ(D(G(z)))``  (softplus form: ``-log σ(s) = softplus(-s)``).
* ``"lsgan"`` (Mao et al., 2017): ``L_D = ½(D(x) - 1)² + ½ D(G(z))²``, ``L_G = ½(D(G(z)) - 1)²``.
* ``"hinge"`` (Lim & Ye 2017; Miyato et al. 2018): ``L_D = relu(1 - D(x)) + relu(1 + D(G(z)))``,
  ``L_G = -D(G(z))``.
* ``"wasserstein"`` (Arjovsky et al., 2017): ``L_D = D(G(z)) - D(x)``, ``L_G = -D(G(z))``.
  Only meaningful with a (roughly) 1-Lipschitz critic: use ``"wgan_gp"`` (gradient penalty) or
  ``spectral_norm=True``; otherwise the critic's scores grow without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def nonsaturating_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def nonsaturating_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake).mean()


def lsgan_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake**2).mean()


def lsgan_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((fake - 1.0) ** 2).mean()


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def wasserstein_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return fake.mean() - real.mean()


def wasserstein_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


@dataclass(frozen=True)
class GANLoss:
    """A named pair: ``d(real_scores, fake_scores)`` and ``g(fake_scores)``, both scalars."""

    name: str
    d: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g: Callable[[torch.Tensor], torch.Tensor]


GAN_LOSSES: dict[str, GANLoss] = {
    "nonsaturating": GANLoss("nonsaturating", nonsaturating_d_loss, nonsaturating_g_loss),
    "lsgan": GANLoss("lsgan", lsgan_d_loss, lsgan_g_loss),
    "hinge": GANLoss("hinge", hinge_d_loss, hinge_g_loss),
    "wasserstein": GANLoss("wasserstein", wasserstein_d_loss, wasserstein_g_loss),
}


def get_gan_loss(name: str) -> GANLoss:
    """The loss pair registered as ``name``; unknown names raise a ``ValueError`` listing them."""
    if name not in GAN_LOSSES:
        raise ValueError(f"loss must be one of {sorted(GAN_LOSSES)}, got {name!r}")
    return GAN_LOSSES[name]


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
