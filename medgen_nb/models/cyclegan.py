"""CycleGAN (Zhu et al., 2017): unpaired translation between domains A and B with cycle consistency.

Two generators, G_AB: A -> B and G_BA: B -> A, and two discriminators, D_A (is this a real A?) and
D_B. With no paired targets, the generators are tied together by the cycle losses

    L_cyc = || G_BA(G_AB(a)) - a ||_1 + || G_AB(G_BA(b)) - b ||_1

and, when A and B have the same channels, the identity loss ``|| G_AB(b) - b ||_1 + || G_BA(a) - a ||_1``
that keeps intensities from drifting. The full generator objective (paper eq. 3 plus Sec. 5.2) is

    L_G = L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A) + lambda_cycle * L_cyc
          + lambda_cycle * lambda_identity * L_idt

Discriminators are trained on a history of generated images (:class:`ImagePool`). Most unpaired
medical translation (CBCT->CT, MR->CT, NAC-PET->CT) starts from CycleGAN (Pang et al. 2025,
Sec. 4.2, Fig. 5e and Sec. 6.3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

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
    check_spatial_dims,
    conv_class,
    init_weights,
    norm_layer,
    reflection_pad,
    set_requires_grad,
)
from medgen_nb.models.pix2pix import (
    PatchGANDiscriminator,
    TranslationGanLoss,
    UNetGenerator,
    check_patch_layers,
    check_unet_depth,
    default_patch_layers,
    translation_gan_loss,
)
from medgen_nb.models.validation import (
    check_images,
    check_paired_batch,
    check_positive_int,
    check_translation_settings,
)

GeneratorKind = Literal["resnet", "unet"]
GENERATORS: tuple[str, ...] = ("resnet", "unet")


class ResnetGenerator(nn.Module):
    """Johnson et al. (2016) style generator: 7x7 stem, ``n_down`` halvings, residual blocks, mirror.

    Shapes: ``(B, in_channels, S, S)`` in [-1, 1] -> ``(B, out_channels, S, S)`` in [-1, 1] (tanh);
    ``S`` must be divisible by ``2**n_down``. With ``spatial_dims=3``: volumes, 7x7x7 stem.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        base_channels: int = 32,
        n_res_blocks: int = 6,
        n_down: int = 2,
        norm: NormKind = "instance",
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        check_positive_int(n_res_blocks, "n_res_blocks", minimum=0)
        nd = check_spatial_dims(spatial_dims)
        conv = conv_class(nd)
        layers: list[nn.Module] = [
            reflection_pad(3, nd),
            conv(in_channels, base_channels, 7, bias=norm == "none"),
            norm_layer(norm, base_channels, nd),
            activation("relu"),
        ]
        width = base_channels
        for _ in range(n_down):
            layers.append(ConvBlock(width, 2 * width, "down", norm, "relu", spatial_dims=nd))
            width *= 2
        layers += [ResidualBlock(width, norm, spatial_dims=nd) for _ in range(n_res_blocks)]
        for _ in range(n_down):
            layers.append(ConvBlock(width, width // 2, "up", norm, "relu", spatial_dims=nd))
            width //= 2
        layers += [reflection_pad(3, nd), conv(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ImagePool:
    """History buffer of generated images (Shrivastava et al., 2017), as used by CycleGAN.

    Until ``pool_size`` images are stored, each queried image is stored and returned as is. After
    that, each image is, with probability 1/2, swapped for a random stored one (which it replaces
    in the pool) and otherwise returned as is. D therefore also sees older fakes, which damps
    oscillation. ``pool_size=0`` disables the pool. Draws come from a private generator seeded by
    ``seed``, so the sequence is reproducible and does not disturb the global RNG.

    This buffer is training state by nature; it lives outside the parameters and is not saved.
    """

    def __init__(self, pool_size: int = 50, seed: int = 0) -> None:
        check_positive_int(pool_size, "pool_size", minimum=0)
        check_positive_int(seed, "seed", minimum=0)
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []
        self._rng = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` fakes -> ``(B, C, H, W)`` mix of these and stored ones (detached)."""
        images = images.detach()
        if self.pool_size == 0:
            return images
        out = []
        for image in images:  # (C, H, W)
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self._rng) < 0.5:
                idx = int(torch.randint(len(self.images), (), generator=self._rng))
                out.append(self.images[idx])
                self.images[idx] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)


class CycleGAN(GenerativeModel):
    """Unpaired translation A <-> B with two generators, two PatchGANs and cycle consistency.

    Args:
        in_channels, out_channels: channels of domain A (``batch["image"]``) and B (``batch["target"]``).
        size: image side S (power of two).
        generator: "resnet" (the paper's) or "unet".
        base_channels: first-layer width of generators and discriminators. The paper uses 64;
            the default 16 keeps a 64x64 batch of 8 near 8 forward GMAC per step, so lab mode
            trains on a 2-core CPU (see ``benchmarks/bench_translation_models.py``).
        n_res_blocks: residual blocks of the ResNet generator (paper: 6 at 128 px, 9 at 256 px).
        depth: U-Net halvings (``generator="unet"`` only); default log2(size).
        d_layers: PatchGAN stride-2 layers; default from the size (2 at 64 px: 34x34 patches).
        norm: "instance" as in the paper.
        lambda_cycle: weight of the cycle loss (10).
        lambda_identity: identity weight relative to ``lambda_cycle`` (0.5); needs in == out channels.
        pool_size: image-pool capacity per domain (50); ``seed`` seeds the pools' draws.
        gan_loss: "lsgan" (paper) or "nonsaturating".
        lr, betas: Adam settings (2e-4, (0.5, 0.999)).
    """

    batch_keys = ("image", "target")
    spatial_dims = 2  # CycleGAN3D: 3

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        size: int = 64,
        generator: GeneratorKind = "resnet",
        base_channels: int = 16,
        n_res_blocks: int = 6,
        depth: int | None = None,
        d_layers: int | None = None,
        norm: NormKind = "instance",
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        seed: int = 0,
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
            weights={"lambda_cycle": lambda_cycle, "lambda_identity": lambda_identity},
        )  # fmt: skip
        check_positive_int(n_res_blocks, "n_res_blocks", minimum=0)
        check_positive_int(pool_size, "pool_size", minimum=0)
        check_positive_int(seed, "seed", minimum=0)
        if generator not in GENERATORS:
            raise ValueError(f"generator must be one of {GENERATORS}, got {generator!r}")
        if lambda_identity > 0 and in_channels != out_channels:
            raise ValueError(
                f"lambda_identity={lambda_identity} needs in_channels == out_channels (the identity "
                f"loss feeds B images to G_AB), got {in_channels} and {out_channels}; "
                f"set lambda_identity=0"
            )
        depth = int(math.log2(size)) if depth is None else depth
        if generator == "unet":
            check_unet_depth(depth, size)
        d_layers = default_patch_layers(size) if d_layers is None else d_layers
        check_patch_layers(d_layers, size)
        self.resolve_config(depth=depth, d_layers=d_layers, betas=betas)  # None -> from the size

        nd = self.spatial_dims

        def make_generator(c_in: int, c_out: int) -> nn.Module:
            if generator == "resnet":
                return ResnetGenerator(c_in, c_out, base_channels, n_res_blocks, 2, norm, nd)
            return UNetGenerator(c_in, c_out, size, base_channels, depth, norm, spatial_dims=nd)

        def make_discriminator(c_in: int) -> nn.Module:
            return PatchGANDiscriminator(c_in, base_channels, d_layers, norm, nd)

        self.g_ab = init_weights(make_generator(in_channels, out_channels))
        self.g_ba = init_weights(make_generator(out_channels, in_channels))
        self.d_a = init_weights(make_discriminator(in_channels))
        self.d_b = init_weights(make_discriminator(out_channels))
        self.pool_a = ImagePool(pool_size, seed)
        self.pool_b = ImagePool(pool_size, seed + 1)

    def configure_optimizers(self) -> Optimizers:
        lr, betas = self.config["lr"], self.config["betas"]
        g_params = [*self.g_ab.parameters(), *self.g_ba.parameters()]
        d_params = [*self.d_a.parameters(), *self.d_b.parameters()]
        return {
            "g": torch.optim.Adam(g_params, lr=lr, betas=betas),
            "d": torch.optim.Adam(d_params, lr=lr, betas=betas),
        }

    def generator_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """All generator terms for ``real_a (B, C_A, S, S)`` and ``real_b (B, C_B, S, S)`` in [-1, 1].

        Returns the unweighted terms ``gan_ab``, ``gan_ba``, ``cycle`` (sum of both L1 cycles),
        ``identity`` (0 when disabled), the weighted ``total`` and the fakes ``fake_a``, ``fake_b``.
        """
        cfg = self.config
        fake_b = self.g_ab(real_a)  # (B, C_B, S, S)
        fake_a = self.g_ba(real_b)  # (B, C_A, S, S)
        loss_gan_ab = self.gan_loss.g(self.d_b(fake_b))
        loss_gan_ba = self.gan_loss.g(self.d_a(fake_a))
        # Cycle consistency, forward a -> b -> a and backward b -> a -> b (paper eq. 2).
        loss_cycle = (self.g_ba(fake_b) - real_a).abs().mean() + (
            self.g_ab(fake_a) - real_b
        ).abs().mean()
        loss_identity = real_a.new_zeros(())
        if cfg["lambda_identity"] > 0:
            loss_identity = (self.g_ab(real_b) - real_b).abs().mean() + (
                self.g_ba(real_a) - real_a
            ).abs().mean()
        total = (
            loss_gan_ab
            + loss_gan_ba
            + cfg["lambda_cycle"] * loss_cycle
            + cfg["lambda_cycle"] * cfg["lambda_identity"] * loss_identity
        )
        return {
            "gan_ab": loss_gan_ab, "gan_ba": loss_gan_ba, "cycle": loss_cycle,
            "identity": loss_identity, "total": total, "fake_a": fake_a, "fake_b": fake_b,
        }  # fmt: skip

    def train_step(
        self, batch: Batch, optimizers: Optimizers, ctx: StepContext
    ) -> dict[str, float]:
        """One G update (both generators) then one D update (both discriminators, pooled fakes)."""
        check_paired_batch(batch, self.config, self.spatial_dims)
        real_a, real_b = to_signed(batch["image"]), to_signed(batch["target"])

        # 1. Generators, with both discriminators frozen.
        set_requires_grad([self.d_a, self.d_b], False)
        terms = self.generator_losses(real_a, real_b)
        ctx.optimize(terms["total"], optimizers["g"], name="g")

        # 2. Discriminators on real images vs. a history of fakes.
        set_requires_grad([self.d_a, self.d_b], True)
        fake_a = self.pool_a.query(terms["fake_a"])
        fake_b = self.pool_b.query(terms["fake_b"])
        loss_d_a = self.gan_loss.d(self.d_a(real_a), self.d_a(fake_a))
        loss_d_b = self.gan_loss.d(self.d_b(real_b), self.d_b(fake_b))
        ctx.optimize(loss_d_a + loss_d_b, optimizers["d"], name="d")
        return {
            "loss_d": (loss_d_a + loss_d_b).item(),
            "loss_d_a": loss_d_a.item(),
            "loss_d_b": loss_d_b.item(),
            "loss_g_gan": (terms["gan_ab"] + terms["gan_ba"]).item(),
            "loss_cycle": terms["cycle"].item(),
            "loss_identity": terms["identity"].item(),
            "loss_g": terms["total"].item(),
        }

    @torch.no_grad()
    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Domain A ``(B, in_channels, S, S)`` in [0, 1] -> domain B ``(B, out_channels, S, S)`` in [0, 1]."""
        check_images(x, self.config["in_channels"], self.config["size"], "x", self.spatial_dims)
        return to_unit(self.g_ab(to_signed(x)))

    @torch.no_grad()
    def translate_back(self, y: torch.Tensor) -> torch.Tensor:
        """Domain B ``(B, out_channels, S, S)`` in [0, 1] -> domain A ``(B, in_channels, S, S)`` in [0, 1]."""
        check_images(y, self.config["out_channels"], self.config["size"], "y", self.spatial_dims)
        return to_unit(self.g_ba(to_signed(y)))


class CycleGAN3D(CycleGAN):
    """CycleGAN on volumes: 3-D ResNet (or U-Net) generators and 3-D PatchGANs, on cubic patches.

    Same arguments as :class:`CycleGAN`, with lab-size defaults for 32³ patches: 8 base channels
    and 3 residual blocks (one training step runs six generator passes). Like the 2-D model it
    trains on two subject-disjoint domains (:func:`medgen_nb.evaluation.training_set` cuts their
    patches). The review's tables list 3-D CycleGANs for unpaired CT -> MR of the pelvis (Table 7,
    Sec. 6.2.2) and NAC-PET -> CT (Table 8, Sec. 6.3) (Pang et al. 2025).
    """

    spatial_dims = 3

    def __init__(
        self, size: int = 32, base_channels: int = 8, n_res_blocks: int = 3, **config
    ) -> None:
        super().__init__(
            size=size, base_channels=base_channels, n_res_blocks=n_res_blocks, **config
        )


MODELS: dict[str, type] = {"cyclegan": CycleGAN, "cyclegan3d": CycleGAN3D}
