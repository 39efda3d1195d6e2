"""UNIT (Liu, Breuel & Kautz, 2017): unpaired translation through a shared latent space.

Each domain has a VAE (encoder E_A / E_B, generator G_A / G_B) and a GAN discriminator (D_A, D_B).
The *shared-latent assumption* says a pair of corresponding images maps to one latent code z; it
is built in by weight sharing: the last encoder blocks (``enc_shared``) and the first decoder blocks
(``dec_shared``) are the same modules for both domains. Translation A -> B is ``G_B(E_A(a))``.

As in the paper, the encoder outputs only the mean: q(z | x) = N(E(x), I), so

    z = mu + eps,   eps ~ N(0, I),    KL(q(z | x) || N(0, I)) = 0.5 * ||mu||^2.

The generator objective (paper eqs. 2-5; Laplacian likelihoods -> L1) sums, for both domains,

    lambda_kl * KL(mu_a)           + lambda_recon * |G_A(z_a) - a|_1          (VAE, eq. 3)
    lambda_gan * L_GAN(G_A(z_b), D_A)                                          (GAN, eq. 4)
    lambda_kl * KL(mu_ab)          + lambda_cycle * |G_A(z_ab) - a|_1          (cycle, eq. 5)

with z_ab drawn from E_B(G_B(z_a)). Default weights keep the paper's ratios
(lambda_0..4 = 10, 0.1, 100, 0.1, 100) divided by 10. Pang et al. 2025 list UNIT among the GAN
variants for translation (Sec. 4.2, Fig. 5g).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from medgen_nb.models.base import (
    Batch,
    GenerativeModel,
    Optimizers,
    StepContext,
    to_signed,
    to_unit,
)
from medgen_nb.models.blocks import (
    ConvBlock,
    NormKind,
    ResidualBlock,
    activation,
    check_power_of_two_size,
    init_weights,
    norm_layer,
    set_requires_grad,
)
from medgen_nb.models.pix2pix import (
    PatchGANDiscriminator,
    TranslationGanLoss,
    check_patch_layers,
    default_patch_layers,
    translation_gan_loss,
)
from medgen_nb.models.validation import (
    check_images,
    check_paired_batch,
    check_positive_int,
    check_translation_settings,
)

DOMAINS: tuple[str, ...] = ("a", "b")
N_DOWN = 2  # halvings between image and latent map: z is (B, 4 * width, S / 4, S / 4)


def kl_unit_variance(mu: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, I) || N(0, I) ) per latent element, averaged: ``0.5 * mean(mu**2)``.

    With unit variance the log-variance terms of the Gaussian KL cancel, leaving ``0.5 * mu^2``
    per dimension. ``mu`` has any shape, e.g. ``(B, C_z, S/4, S/4)``.
    """
    return 0.5 * mu.pow(2).mean()


def _check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")


def _private_encoder(c_in: int, width: int, n_res: int, norm: NormKind) -> nn.Sequential:
    """7x7 stem, two halvings, ``n_res`` residual blocks: (B, c_in, S, S) -> (B, 4w, S/4, S/4)."""
    layers: list[nn.Module] = [
        nn.ReflectionPad2d(3),
        nn.Conv2d(c_in, width, 7, bias=norm == "none"),
        norm_layer(norm, width),
        activation("relu"),
    ]
    for _ in range(N_DOWN):
        layers.append(ConvBlock(width, 2 * width, "down", norm, "relu"))
        width *= 2
    layers += [ResidualBlock(width, norm) for _ in range(n_res)]
    return nn.Sequential(*layers)


def _private_decoder(c_out: int, width: int, n_res: int, norm: NormKind) -> nn.Sequential:
    """``n_res`` residual blocks, two doublings, 7x7 head: (B, 4w, S/4, S/4) -> (B, c_out, S, S)."""
    width *= 2**N_DOWN
    layers: list[nn.Module] = [ResidualBlock(width, norm) for _ in range(n_res)]
    for _ in range(N_DOWN):
        layers.append(ConvBlock(width, width // 2, "up", norm, "relu"))
        width //= 2
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, c_out, 7), nn.Tanh()]
    return nn.Sequential(*layers)


class UNIT(GenerativeModel):
    """Coupled VAE-GANs with a shared latent space for unpaired translation A <-> B.

    Args:
        in_channels, out_channels: channels of domain A (``batch["image"]``) and B (``batch["target"]``).
        size: image side S (power of two >= 8).
        base_channels: width of the first encoder layer (latent has 4x this many channels); the
            paper uses 64, the default 16 keeps lab mode trainable on a 2-core CPU.
        n_res_blocks: private residual blocks in each encoder and each decoder.
        n_shared_blocks: residual blocks shared by both encoders, and (separately) by both decoders.
        d_layers: PatchGAN stride-2 layers; default from the size.
        norm: normalisation ("instance").
        lambda_gan, lambda_kl, lambda_recon, lambda_cycle: loss weights (1, 0.01, 10, 10).
        gan_loss: "lsgan" or "nonsaturating".
        lr, betas: Adam settings (2e-4, (0.5, 0.999)).
    """

    batch_keys = ("image", "target")

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        size: int = 64,
        base_channels: int = 16,
        n_res_blocks: int = 2,
        n_shared_blocks: int = 1,
        d_layers: int | None = None,
        norm: NormKind = "instance",
        lambda_gan: float = 1.0,
        lambda_kl: float = 0.01,
        lambda_recon: float = 10.0,
        lambda_cycle: float = 10.0,
        gan_loss: TranslationGanLoss = "lsgan",
        lr: float = 2e-4,
        betas: Sequence[float] = (0.5, 0.999),
    ) -> None:
        super().__init__()
        check_power_of_two_size(size, 8)
        self.gan_loss = translation_gan_loss(gan_loss)
        betas = check_translation_settings(
            in_channels=in_channels, out_channels=out_channels, base_channels=base_channels,
            lr=lr, betas=betas,
            weights=dict(lambda_gan=lambda_gan, lambda_kl=lambda_kl, lambda_recon=lambda_recon,
                         lambda_cycle=lambda_cycle),
        )  # fmt: skip
        for name, value in (("n_res_blocks", n_res_blocks), ("n_shared_blocks", n_shared_blocks)):
            check_positive_int(value, name, minimum=0)
        d_layers = default_patch_layers(size) if d_layers is None else d_layers
        check_patch_layers(d_layers, size)
        self.resolve_config(d_layers=d_layers, betas=betas)  # None -> from the size
        latent = base_channels * 2**N_DOWN
        self.enc_a = _private_encoder(in_channels, base_channels, n_res_blocks, norm)
        self.enc_b = _private_encoder(out_channels, base_channels, n_res_blocks, norm)
        self.enc_shared = nn.Sequential(
            *[ResidualBlock(latent, norm) for _ in range(n_shared_blocks)]
        )
        self.dec_shared = nn.Sequential(
            *[ResidualBlock(latent, norm) for _ in range(n_shared_blocks)]
        )
        self.dec_a = _private_decoder(in_channels, base_channels, n_res_blocks, norm)
        self.dec_b = _private_decoder(out_channels, base_channels, n_res_blocks, norm)
        self.d_a = PatchGANDiscriminator(in_channels, base_channels, d_layers, norm)
        self.d_b = PatchGANDiscriminator(out_channels, base_channels, d_layers, norm)
        init_weights(self)

    # --- the four networks of the paper, as functions -------------------------------------------
    def encode(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """E_A or E_B: ``(B, C, S, S)`` in [-1, 1] -> latent mean ``(B, 4 * base, S/4, S/4)``."""
        _check_domain(domain)
        private = self.enc_a if domain == "a" else self.enc_b
        return self.enc_shared(private(x))

    def decode(self, z: torch.Tensor, domain: str) -> torch.Tensor:
        """G_A or G_B: latent ``(B, 4 * base, S/4, S/4)`` -> image ``(B, C, S, S)`` in [-1, 1]."""
        _check_domain(domain)
        private = self.dec_a if domain == "a" else self.dec_b
        return private(self.dec_shared(z))

    @staticmethod
    def sample_latent(mu: torch.Tensor) -> torch.Tensor:
        """Reparameterised draw from N(mu, I)."""
        return mu + torch.randn_like(mu)

    def configure_optimizers(self) -> Optimizers:
        lr, betas = self.config["lr"], self.config["betas"]
        d_params = [*self.d_a.parameters(), *self.d_b.parameters()]
        d_ids = {id(p) for p in d_params}
        g_params = [p for p in self.parameters() if id(p) not in d_ids]
        return {
            "g": torch.optim.Adam(g_params, lr=lr, betas=betas),
            "d": torch.optim.Adam(d_params, lr=lr, betas=betas),
        }

    def generator_losses(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unweighted terms (both domains summed) and the weighted ``total`` for images in [-1, 1].

        Keys: ``kl``, ``recon``, ``gan``, ``cycle_kl``, ``cycle``, ``total``, and the translations
        ``fake_a = G_A(z_b)``, ``fake_b = G_B(z_a)`` for the discriminator step.
        """
        cfg = self.config
        mu_a, mu_b = self.encode(a, "a"), self.encode(b, "b")  # (B, C_z, S/4, S/4)
        z_a, z_b = self.sample_latent(mu_a), self.sample_latent(mu_b)
        recon_a, recon_b = self.decode(z_a, "a"), self.decode(z_b, "b")  # within-domain
        fake_b, fake_a = self.decode(z_a, "b"), self.decode(z_b, "a")  # cross-domain
        mu_ab, mu_ba = self.encode(fake_b, "b"), self.encode(fake_a, "a")  # back into z
        cycle_a = self.decode(self.sample_latent(mu_ab), "a")  # a -> b -> a
        cycle_b = self.decode(self.sample_latent(mu_ba), "b")  # b -> a -> b

        loss_kl = kl_unit_variance(mu_a) + kl_unit_variance(mu_b)
        loss_recon = (recon_a - a).abs().mean() + (recon_b - b).abs().mean()
        loss_gan = self.gan_loss.g(self.d_a(fake_a)) + self.gan_loss.g(self.d_b(fake_b))
        loss_cycle_kl = kl_unit_variance(mu_ab) + kl_unit_variance(mu_ba)
        loss_cycle = (cycle_a - a).abs().mean() + (cycle_b - b).abs().mean()
        total = (
            cfg["lambda_gan"] * loss_gan
            + cfg["lambda_kl"] * (loss_kl + loss_cycle_kl)
            + cfg["lambda_recon"] * loss_recon
            + cfg["lambda_cycle"] * loss_cycle
        )
        return {
            "kl": loss_kl, "recon": loss_recon, "gan": loss_gan, "cycle_kl": loss_cycle_kl,
            "cycle": loss_cycle, "total": total, "fake_a": fake_a, "fake_b": fake_b,
        }  # fmt: skip

    def train_step(
        self, batch: Batch, optimizers: Optimizers, ctx: StepContext
    ) -> dict[str, float]:
        """One update of the encoders/generators, then one of both discriminators."""
        check_paired_batch(batch, self.config)
        a, b = to_signed(batch["image"]), to_signed(batch["target"])

        set_requires_grad([self.d_a, self.d_b], False)
        terms = self.generator_losses(a, b)
        ctx.optimize(terms["total"], optimizers["g"], name="g")

        set_requires_grad([self.d_a, self.d_b], True)
        loss_d_a = self.gan_loss.d(self.d_a(a), self.d_a(terms["fake_a"].detach()))
        loss_d_b = self.gan_loss.d(self.d_b(b), self.d_b(terms["fake_b"].detach()))
        ctx.optimize(loss_d_a + loss_d_b, optimizers["d"], name="d")
        out = {f"loss_{k}": terms[k].item() for k in ("kl", "recon", "cycle_kl", "cycle")}
        return {
            **out,
            "loss_g_gan": terms["gan"].item(),
            "loss_g": terms["total"].item(),
            "loss_d": (loss_d_a + loss_d_b).item(),
            "loss_d_a": loss_d_a.item(),
            "loss_d_b": loss_d_b.item(),
        }

    @torch.no_grad()
    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Domain A ``(B, in_channels, S, S)`` in [0, 1] -> domain B ``(B, out_channels, S, S)`` in [0, 1].

        Uses the latent mean (no sampling), as is usual at test time.
        """
        check_images(x, self.config["in_channels"], self.config["size"], "x")
        return to_unit(self.decode(self.encode(to_signed(x), "a"), "b"))

    @torch.no_grad()
    def translate_back(self, y: torch.Tensor) -> torch.Tensor:
        """Domain B ``(B, out_channels, S, S)`` in [0, 1] -> domain A ``(B, in_channels, S, S)`` in [0, 1]."""
        check_images(y, self.config["out_channels"], self.config["size"], "y")
        return to_unit(self.decode(self.encode(to_signed(y), "b"), "a"))


MODELS: dict[str, type] = {"unit": UNIT}
