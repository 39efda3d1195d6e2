"""Variational autoencoders: a convolutional VAE and its class-conditional version.

Pang et al. 2025, Section 4.1, introduce the VAE: an encoder ``q_φ(z|x)``, a decoder ``p_θ(x|z)``
and the evidence lower bound (ELBO) ``log p(x) >= E_q[log p_θ(x|z)] - KL(q_φ(z|x) ‖ p(z))``
(Kingma & Welling, 2014). Here ``q_φ(z|x) = N(μ, diag σ²)``, ``p(z) = N(0, I)``, and
``p_θ(x|z)`` is a per-pixel Bernoulli (``recon="bce"``, suits intensities in [0, 1]) or a
fixed-variance Gaussian (``recon="mse"``, squared error). The KL term is weighted by ``beta``
(β-VAE, Higgins et al., 2017). The conditional VAE (Sohn et al., 2015) feeds a one-hot class label
to both encoder (as constant input maps) and decoder (appended to ``z``).

All images in and out are ``(B, C, S, S)`` in [0, 1]; latents are ``(B, latent_dim)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from medgen_nb.models.base import Batch, GenerativeModel, Optimizers, StepContext
from medgen_nb.models.blocks import ConvBlock, check_power_of_two_size, conv_class
from medgen_nb.models.gan_nets import pyramid_channels
from medgen_nb.models.validation import (
    check_image_batch,
    check_labels,
    check_learning_rate,
    check_positive_int,
    check_weight,
)

RECON_KINDS: tuple[str, ...] = ("bce", "mse")


def kl_divergence_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(μ, diag exp(logvar)) ‖ N(0, I))`` per sample, in nats.

    Closed form (Kingma & Welling, 2014, Appendix B):
    ``½ Σ_j (μ_j² + σ_j² - 1 - log σ_j²)``.

    Args:
        mu, logvar: ``(B, D)`` posterior means and log-variances.

    Returns:
        ``(B,)`` KL divergence summed over the ``D`` latent dimensions.
    """
    if mu.shape != logvar.shape:
        raise ValueError(
            f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}"
        )
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


@dataclass
class ELBOTerms:
    """The two ELBO terms (batch means, nats per image) and the tensors they came from.

    ``loss = recon + beta * kl`` is the negative ELBO when ``beta = 1``.
    """

    recon: torch.Tensor  # scalar: E_q[-log p(x|z)], summed over pixels, mean over batch
    kl: torch.Tensor  # scalar: KL(q(z|x) || p(z)), summed over latent dims, mean over batch
    x_hat: torch.Tensor  # (B, C, S, S) in [0, 1], decoder mean for the sampled z
    mu: torch.Tensor  # (B, D)
    logvar: torch.Tensor  # (B, D)


class ConvVAE(GenerativeModel):
    """Convolutional VAE with the reparameterisation trick.

    Config: ``in_channels``, ``size`` (power of two >= 16), ``latent_dim``, ``base_channels``
    (first-layer channels; doubled per halving, capped at 8x), ``beta``, ``lr``, ``recon``
    (``"bce"`` or ``"mse"``).
    """

    conditional = False
    batch_keys = ("image",)
    spatial_dims = 2  # ConvVAE3D: 3

    def __init__(
        self,
        *,
        in_channels: int = 1,
        size: int = 64,
        latent_dim: int = 32,
        base_channels: int = 32,
        beta: float = 1.0,
        lr: float = 1e-3,
        recon: str = "bce",
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_power_of_two_size(size, 16)
        check_positive_int(latent_dim, "latent_dim")
        check_positive_int(base_channels, "base_channels")
        if recon not in RECON_KINDS:
            raise ValueError(f"recon must be one of {RECON_KINDS}, got {recon!r}")
        check_weight(beta, "beta")
        check_learning_rate(lr)
        if self.conditional and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
        ):
            raise ValueError(
                f"ConditionalVAE needs num_classes as an int >= 2, got {num_classes!r}"
            )
        if not self.conditional and (isinstance(num_classes, bool) or num_classes != 0):
            raise ValueError(
                f"ConvVAE is unconditional: num_classes must be 0, got {num_classes!r}; use 'cvae'"
            )
        self.in_channels, self.size, self.latent_dim, self.num_classes = (
            in_channels,
            size,
            latent_dim,
            num_classes,
        )
        nd = self.spatial_dims
        chans = pyramid_channels(
            size, base_channels
        )  # e.g. 64 -> [32, 64, 128, 256] at 32, 16, 8, 4 px
        enc: list[nn.Module] = [
            ConvBlock(
                in_channels + num_classes, chans[0], "down", "group", "leaky", spatial_dims=nd
            )
        ]
        enc += [
            ConvBlock(a, b, "down", "group", "leaky", spatial_dims=nd)
            for a, b in zip(chans[:-1], chans[1:], strict=True)
        ]
        bottom = chans[-1] * 4**nd  # a 4 x 4 (x 4) map of the last width
        self.encoder = nn.Sequential(*enc, nn.Flatten())  # (B, bottom)
        self.to_moments = nn.Linear(bottom, 2 * latent_dim)  # -> [μ, log σ²]
        self.from_latent = nn.Linear(latent_dim + num_classes, bottom)
        dec: list[nn.Module] = [nn.Unflatten(1, (chans[-1],) + (4,) * nd), nn.SiLU()]
        dec += [
            ConvBlock(a, b, "up", "group", "silu", spatial_dims=nd)
            for a, b in zip(chans[:0:-1], chans[-2::-1], strict=True)
        ]
        last = conv_class(nd, transposed=True)
        dec.append(last(chans[0], in_channels, 4, 2, 1))  # logits (B, C, S, S[, S])
        self.decoder = nn.Sequential(*dec)

    # --- conditioning helpers -----------------------------------------------------------------
    def _labels(self, labels: torch.Tensor | None, n: int) -> torch.Tensor | None:
        if not self.conditional:
            if labels is not None:
                raise ValueError("ConvVAE is unconditional; labels must be None (use 'cvae')")
            return None
        return check_labels(labels, n, self.num_classes).to(self.device)

    def _onehot(self, labels: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
        return None if labels is None else F.one_hot(labels, self.num_classes).to(dtype)

    # --- encoder / decoder --------------------------------------------------------------------
    def encode(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, C, S, S)`` in [0, 1] -> ``(μ, log σ²)``, each ``(B, latent_dim)``."""
        check_image_batch(x, self.in_channels, self.size, "x", self.spatial_dims)
        x = x.to(self.device)
        onehot = self._onehot(self._labels(labels, x.shape[0]), x.dtype)
        if onehot is not None:  # label as constant maps: (B, K, S, S)
            maps = onehot.reshape(*onehot.shape, *(1,) * self.spatial_dims)
            x = torch.cat([x, maps.expand(-1, -1, *x.shape[2:])], 1)
        mu, logvar = self.to_moments(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)  # keeps exp(logvar) finite early in training

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``z (B, latent_dim)`` -> decoder logits ``(B, C, S, S)`` (sigmoid gives the mean image)."""
        onehot = self._onehot(self._labels(labels, z.shape[0]), z.dtype)
        if onehot is not None:
            z = torch.cat([z, onehot], 1)
        return self.decoder(self.from_latent(z))

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``z (B, latent_dim)`` -> images ``(B, C, S, S)`` in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z.to(self.device), labels))

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """``z = μ + σ ⊙ ε`` with ``ε ~ N(0, I)``: a sample that gradients can flow through."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def elbo_terms(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> ELBOTerms:
        """Reconstruction and KL terms of the negative ELBO for ``x (B, C, S, S)`` in [0, 1]."""
        mu, logvar = self.encode(x, labels)
        z = self.reparameterize(mu, logvar)  # (B, D)
        logits = self.decode_logits(z, labels)  # (B, C, S, S)
        x = x.to(self.device)
        if self.config["recon"] == "bce":  # -log p(x|z), Bernoulli per pixel
            recon_px = F.binary_cross_entropy_with_logits(
                logits.float(), x.float(), reduction="none"
            )
        else:  # squared error (Gaussian with σ² = ½, constants dropped)
            recon_px = (torch.sigmoid(logits.float()) - x.float()) ** 2
        recon = recon_px.flatten(1).sum(1).mean()
        kl = kl_divergence_normal(mu.float(), logvar.float()).mean()
        return ELBOTerms(recon, kl, torch.sigmoid(logits), mu, logvar)

    # --- training -----------------------------------------------------------------------------
    def configure_optimizers(self) -> Optimizers:
        return {"vae": torch.optim.Adam(self.parameters(), lr=self.config["lr"])}

    def train_step(
        self, batch: Batch, optimizers: Optimizers, ctx: StepContext
    ) -> dict[str, float]:
        x = batch["image"]
        check_image_batch(x, self.in_channels, self.size, spatial_dims=self.spatial_dims)
        labels = batch.get("label") if self.conditional else None
        terms = self.elbo_terms(x, labels)
        loss = terms.recon + self.config["beta"] * terms.kl  # negative (β-)ELBO, nats per image
        ctx.optimize(loss, optimizers["vae"], name="vae")
        mse = ((terms.x_hat.detach().float() - x.to(self.device).float()) ** 2).mean()
        return {
            "loss": loss.item(),
            "loss_recon": terms.recon.item(),
            "loss_kl": terms.kl.item(),
            "mse": mse.item(),
        }

    # --- generation ---------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        codes: None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Decode ``n`` prior draws ``z ~ N(0, I)``: ``(n, C, S, S)`` in [0, 1]."""
        check_positive_int(n, "n")
        if codes is not None:
            raise ValueError("codes are only used by 'infogan'; VAEs take labels (cvae) only")
        device = generator.device if generator is not None else self.device
        z = torch.randn((n, self.latent_dim), generator=generator, device=device).to(self.device)
        return self._eval(lambda: self.decode(z, labels))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decode the posterior mean: ``(B, C, S, S)`` in [0, 1] -> same shape in [0, 1]."""
        return self._eval(lambda: self.decode(self.encode(x, labels)[0], labels))

    @torch.no_grad()
    def interpolate(
        self,
        x0: torch.Tensor,
        x1: torch.Tensor,
        steps: int = 8,
        labels: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        """Decode ``steps`` points on the straight line between the posterior means of two images.

        Args:
            x0, x1: ``(C, S, S)`` or ``(1, C, S, S)`` images in [0, 1].
            steps: number of images, including both ends (>= 2).
            labels: one class for the whole path (cvae only).

        Returns:
            ``(steps, C, S, S)`` in [0, 1].
        """
        check_positive_int(steps, "steps", minimum=2)
        x0, x1 = (x if x.ndim == 2 + self.spatial_dims else x.unsqueeze(0) for x in (x0, x1))
        lab = None if labels is None else torch.as_tensor(labels).reshape(-1)[:1]

        def run() -> torch.Tensor:
            z0, z1 = self.encode(x0, lab)[0], self.encode(x1, lab)[0]  # (1, D) each
            t = torch.linspace(0.0, 1.0, steps, device=z0.device)[:, None]  # (steps, 1)
            z = (1.0 - t) * z0 + t * z1  # (steps, D)
            return self.decode(z, None if lab is None else lab.expand(steps))

        return self._eval(run)

    def _eval(self, fn):
        was_training = self.training
        self.eval()
        try:
            return fn()
        finally:
            self.train(was_training)


class ConditionalVAE(ConvVAE):
    """Class-conditional VAE: ``num_classes >= 2``; ``labels`` are required everywhere."""

    conditional = True
    batch_keys = ("image", "label")

    def __init__(self, *, num_classes: int = 2, **config) -> None:
        super().__init__(num_classes=num_classes, **config)


class ConvVAE3D(ConvVAE):
    """The same VAE on volumes ``(B, C, S, S, S)``: 3-D convolutions down to a 4³ map, one
    latent vector per volume, and a decoder that mirrors the encoder.

    A whole (downsampled) volume is one sample, so the decoder must produce anatomy that agrees
    along all three axes, which slice-wise 2-D models do not enforce. Most creation studies the
    review collects are 2-D, possibly for GPU memory (Pang et al. 2025, Sec. 5.2 and 5.3). Same
    arguments as :class:`ConvVAE`, with lab-size defaults: 32³ volumes, 8 base channels and 64
    latent dimensions.
    """

    spatial_dims = 3

    def __init__(
        self, *, size: int = 32, base_channels: int = 8, latent_dim: int = 64, **config
    ) -> None:
        super().__init__(size=size, base_channels=base_channels, latent_dim=latent_dim, **config)


MODELS: dict[str, type] = {"vae": ConvVAE, "cvae": ConditionalVAE, "vae3d": ConvVAE3D}
