"""Pix2Pix (Isola et al., 2017): paired image-to-image translation with a conditional GAN.

A U-Net generator G maps a source image x to a target image; a PatchGAN discriminator D sees the
pair (x, y) and scores every overlapping patch as real or fake. The generator minimises

    L_G = L_GAN(G, D) + lambda_l1 * || y - G(x) ||_1

and D minimises half the usual cross-entropy on (x, y) vs (x, G(x)) (losses: :mod:`.gan_losses`).
Pix2Pix is, with CycleGAN, one of the two models most medical translation work builds on
(Pang et al. 2025, Sec. 4.2 and Fig. 5f; e.g. the MRI and CT entries in their Tables 4-6).
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
    activation,
    check_power_of_two_size,
    check_spatial_dims,
    conv_class,
    init_weights,
    norm_layer,
    set_requires_grad,
)
from medgen_nb.models.gan_losses import GANLoss, get_gan_loss
from medgen_nb.models.validation import (
    check_images,
    check_paired_batch,
    check_positive_int,
    check_translation_settings,
)

# Adversarial losses of the translation models: the two their papers use (Pix2Pix: nonsaturating
# cross-entropy; CycleGAN, UNIT: least squares). Their PatchGANs have no Lipschitz constraint, so
# "wasserstein" is not offered.
TranslationGanLoss = Literal["lsgan", "nonsaturating"]
TRANSLATION_GAN_LOSSES: tuple[str, ...] = ("lsgan", "nonsaturating")
# Isola et al. (2017, Sec. 3.3) halve D's objective so D learns more slowly than G; CycleGAN and
# UNIT train their discriminators the same way.
TRANSLATION_D_SCALE = 0.5


def translation_gan_loss(name: str) -> GANLoss:
    """The loss pair for ``gan_loss=name`` of Pix2Pix, CycleGAN and UNIT (D's loss halved).

    ``d(real, fake) = 0.5 * L_D`` and ``g(fake) = L_G`` with the plain forms of
    :mod:`.gan_losses`. Raises ``ValueError`` unless ``name`` is in :data:`TRANSLATION_GAN_LOSSES`.
    """
    return get_gan_loss(
        name, d_scale=TRANSLATION_D_SCALE, allowed=TRANSLATION_GAN_LOSSES, argument="gan_loss"
    )


def check_unet_depth(depth: int, size: int) -> None:
    """Raise unless a U-Net of ``depth`` halvings fits an image of ``size`` (>= 1x1 bottleneck)."""
    check_power_of_two_size(size, 4)
    max_depth = int(math.log2(size))
    if isinstance(depth, bool) or not isinstance(depth, int) or not 2 <= depth <= max_depth:
        raise ValueError(
            f"depth must be an int in [2, log2(size)] = [2, {max_depth}] for size={size} "
            f"(each level halves H and W), got {depth!r}"
        )


def default_patch_layers(size: int) -> int:
    """Stride-2 layers of the PatchGAN for ``size``: 3 (70x70 patches, the paper's) from 128 up,
    2 (34x34) at 64, 1 (16x16) at 32, so a patch covers about half the image or less."""
    return max(1, min(3, int(math.log2(size)) - 4))


class UNetGenerator(nn.Module):
    """Encoder-decoder with skip connections between mirrored levels (Ronneberger et al., 2015).

    ``depth`` stride-2 convolutions take ``(B, in_channels, S, S)`` down to ``S / 2**depth``; the
    decoder mirrors them, concatenating the encoder feature of the same resolution. Widths are
    ``base_channels * 2**level``, capped at 8x. The bottleneck and the first layer have no norm
    (a 1x1 map cannot be instance-normalised). Dropout on the three innermost decoder levels is
    Pix2Pix's source of noise.

    Shapes: ``(B, in_channels, S, S)`` in [-1, 1] -> ``(B, out_channels, S, S)`` in [-1, 1] (tanh);
    with ``spatial_dims=3`` volumes ``(B, C, S, S, S)`` and 3-D convolutions throughout.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        size: int,
        base_channels: int = 32,
        depth: int = 6,
        norm: NormKind = "batch",
        dropout: float = 0.0,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        check_unet_depth(depth, size)
        nd = check_spatial_dims(spatial_dims)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        widths = [base_channels * 2 ** min(level, 3) for level in range(depth)]
        self.downs = nn.ModuleList()
        for level, width in enumerate(widths):
            c_in = in_channels if level == 0 else widths[level - 1]
            outer_or_inner = level in (0, depth - 1)
            self.downs.append(
                ConvBlock(
                    c_in,
                    width,
                    "down",
                    "none" if outer_or_inner else norm,
                    "leaky",
                    spatial_dims=nd,
                )
            )
        self.ups = nn.ModuleList()
        for level in range(depth - 1, 0, -1):  # from the bottleneck outwards
            c_in = widths[level] if level == depth - 1 else 2 * widths[level]
            block = ConvBlock(c_in, widths[level - 1], "up", norm, "relu", spatial_dims=nd)
            if dropout > 0 and level >= depth - 3:
                block.append(nn.Dropout(dropout))
            self.ups.append(block)
        self.head = nn.Sequential(
            conv_class(nd, transposed=True)(2 * widths[0], out_channels, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for down in self.downs:
            h = down(h)  # (B, w_level, S / 2**(level+1), ...)
            skips.append(h)
        skips.pop()  # the bottleneck feeds the decoder directly
        for up in self.ups:
            h = torch.cat([up(h), skips.pop()], dim=1)  # (B, 2 * w_level, S', ...)
        return self.head(h)


class PatchGANDiscriminator(nn.Module):
    """Fully convolutional discriminator scoring overlapping patches (Isola et al., 2017, Sec. 3.2.2).

    ``n_layers`` stride-2 4x4 convolutions, then two stride-1 4x4 convolutions; ``n_layers=3`` gives
    the paper's 70x70 receptive field, 2 gives 34x34 (our 64x64 default), 1 gives 16x16.

    Shapes: ``(B, in_channels, S, S)`` -> raw scores ``(B, 1, S / 2**n_layers - 2, same)``; with
    ``spatial_dims=3`` the same on volumes (the patches are cubes).
    """

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 32,
        n_layers: int = 2,
        norm: NormKind = "batch",
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        check_positive_int(n_layers, "n_layers")
        nd = check_spatial_dims(spatial_dims)
        conv_nd = conv_class(nd)
        layers: list[nn.Module] = [
            ConvBlock(in_channels, base_channels, "down", "none", "leaky", spatial_dims=nd)
        ]
        width = base_channels
        for level in range(1, n_layers):
            nxt = base_channels * 2 ** min(level, 3)
            layers.append(ConvBlock(width, nxt, "down", norm, "leaky", spatial_dims=nd))
            width = nxt
        nxt = base_channels * 2 ** min(n_layers, 3)
        layers += [
            conv_nd(width, nxt, 4, stride=1, padding=1, bias=norm == "none"),
            norm_layer(norm, nxt, nd),
            activation("leaky"),
            conv_nd(nxt, 1, 4, stride=1, padding=1),
        ]
        self.net = nn.Sequential(*layers)

    @property
    def receptive_field(self) -> int:
        """Side of the input patch (pixels) that one output score sees, from the conv layers."""
        field = 1
        convs = [m for m in self.net.modules() if isinstance(m, nn.Conv2d | nn.Conv3d)]
        for conv in reversed(convs):
            k, s = conv.kernel_size[0], conv.stride[0]
            field = field * s + (k - s)
        return field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def check_patch_layers(d_layers: int, size: int) -> None:
    """The two final stride-1 4x4 convs each shrink the map by one pixel: need ``S / 2**n >= 3``."""
    if (
        isinstance(d_layers, bool)
        or not isinstance(d_layers, int)
        or d_layers < 1
        or size // 2**d_layers < 3
    ):
        raise ValueError(
            f"d_layers must be an int >= 1 with size / 2**d_layers >= 3 (size={size}), "
            f"got {d_layers!r}; try d_layers={default_patch_layers(size)}"
        )


class Pix2Pix(GenerativeModel):
    """Paired translation A -> B: U-Net generator + conditional PatchGAN discriminator.

    Args:
        in_channels, out_channels: channels of the source ``image`` and the ``target``.
        size: image side S in pixels (power of two >= 8).
        base_channels: width of the first generator / discriminator layer (lab mode: 32).
        depth: U-Net halvings, 2..log2(size); default log2(size) (1x1 bottleneck, as in the paper).
        d_layers: PatchGAN stride-2 layers; default :func:`default_patch_layers`.
        norm: normalisation ("batch" as in the paper).
        dropout: decoder dropout on the three innermost levels (the paper's noise, 0.5).
        lambda_l1: weight of the L1 term (100 in the paper).
        gan_loss: "nonsaturating" (the paper's cross-entropy) or "lsgan".
        lr, betas: Adam settings for both networks (2e-4, (0.5, 0.999)).

    The batch is ``{"image": (B, in_channels, S, S), "target": (B, out_channels, S, S)}`` in [0, 1],
    paired pixel-for-pixel.
    """

    batch_keys = ("image", "target")
    spatial_dims = 2  # Pix2Pix3D: 3

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        size: int = 64,
        base_channels: int = 32,
        depth: int | None = None,
        d_layers: int | None = None,
        norm: NormKind = "batch",
        dropout: float = 0.5,
        lambda_l1: float = 100.0,
        gan_loss: TranslationGanLoss = "nonsaturating",
        lr: float = 2e-4,
        betas: Sequence[float] = (0.5, 0.999),
    ) -> None:
        super().__init__()
        check_power_of_two_size(size, 8)
        self.gan_loss = translation_gan_loss(gan_loss)
        betas = check_translation_settings(
            in_channels=in_channels, out_channels=out_channels, base_channels=base_channels,
            lr=lr, betas=betas, weights={"lambda_l1": lambda_l1},
        )  # fmt: skip
        depth = int(math.log2(size)) if depth is None else depth
        check_unet_depth(depth, size)
        d_layers = default_patch_layers(size) if d_layers is None else d_layers
        check_patch_layers(d_layers, size)
        self.resolve_config(depth=depth, d_layers=d_layers, betas=betas)  # None -> from the size
        nd = self.spatial_dims
        self.generator = init_weights(
            UNetGenerator(in_channels, out_channels, size, base_channels, depth, norm, dropout, nd)
        )
        # Conditional D: sees the source and the (real or generated) target stacked on channels.
        self.discriminator = init_weights(
            PatchGANDiscriminator(in_channels + out_channels, base_channels, d_layers, norm, nd)
        )

    def configure_optimizers(self) -> Optimizers:
        lr, betas = self.config["lr"], self.config["betas"]
        return {
            "g": torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas),
            "d": torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas),
        }

    def _check_batch(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        check_paired_batch(batch, self.config, self.spatial_dims)
        return to_signed(batch["image"]), to_signed(batch["target"])

    def losses(
        self, x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Generator terms for source ``x``, target ``y`` and ``fake = G(x)``, all in [-1, 1].

        Returns ``gan`` (fool D on the pair (x, G(x))), ``l1`` (mean |y - G(x)|, in [-1, 1] units)
        and ``total = gan + lambda_l1 * l1``.
        """
        loss_gan = self.gan_loss.g(self.discriminator(torch.cat([x, fake], 1)))
        loss_l1 = (fake - y).abs().mean()
        return {
            "gan": loss_gan,
            "l1": loss_l1,
            "total": loss_gan + self.config["lambda_l1"] * loss_l1,
        }

    def train_step(
        self, batch: Batch, optimizers: Optimizers, ctx: StepContext
    ) -> dict[str, float]:
        """One D update then one G update on a paired batch; returns the losses as floats."""
        x, y = self._check_batch(batch)  # (B, C_src, S, S), (B, C_tgt, S, S) in [-1, 1]
        fake = self.generator(x)  # (B, C_tgt, S, S)

        # 1. Discriminator: real pairs (x, y) -> 1, generated pairs (x, G(x)) -> 0.
        set_requires_grad([self.discriminator], True)
        pred_real = self.discriminator(torch.cat([x, y], 1))
        pred_fake = self.discriminator(torch.cat([x, fake.detach()], 1))
        loss_d = self.gan_loss.d(pred_real, pred_fake)
        ctx.optimize(loss_d, optimizers["d"], name="d")

        # 2. Generator: fool the (frozen) D and stay close to y in L1.
        set_requires_grad([self.discriminator], False)
        terms = self.losses(x, y, fake)
        ctx.optimize(terms["total"], optimizers["g"], name="g")
        set_requires_grad([self.discriminator], True)
        return {
            "loss_d": loss_d.item(),
            "loss_g_gan": terms["gan"].item(),
            "loss_l1": terms["l1"].item(),
            "loss_g": terms["total"].item(),
        }

    @torch.no_grad()
    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Source ``(B, in_channels, S, S)`` in [0, 1] -> prediction ``(B, out_channels, S, S)`` in [0, 1].

        Uses the current train/eval mode: call ``model.eval()`` first to switch dropout off and
        use BatchNorm's running statistics.
        """
        check_images(x, self.config["in_channels"], self.config["size"], "x", self.spatial_dims)
        return to_unit(self.generator(to_signed(x)))


class Pix2Pix3D(Pix2Pix):
    """Pix2Pix on volumes: the same objective with a 3-D U-Net and a 3-D PatchGAN.

    Trains on cubic patches ``(B, C, S, S, S)`` cut from co-registered volumes
    (:class:`medgen_nb.data.volumes.PatchDataset`); whole volumes are translated tile by tile and
    blended (:func:`medgen_nb.data.volumes.sliding_window`). Context along the third axis is
    what a slice model lacks. Most multi-contrast MRI methods are 2-D, which the review puts down
    to memory; its Table 6 lists the 3-D exceptions, e.g. Ea-GANs and SA-GAN for T1 -> T2
    (Pang et al. 2025, Sec. 6.2.1).

    Same arguments as :class:`Pix2Pix`, with lab-size defaults: 32³ patches and 16 base channels
    (a 3-D layer has ``k`` times the weights of its 2-D twin for a ``k``-tap kernel).
    """

    spatial_dims = 3

    def __init__(self, size: int = 32, base_channels: int = 16, **config) -> None:
        super().__init__(size=size, base_channels=base_channels, **config)


MODELS: dict[str, type] = {"pix2pix": Pix2Pix, "pix2pix3d": Pix2Pix3D}
