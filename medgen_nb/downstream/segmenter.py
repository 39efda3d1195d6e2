"""A small U-Net (Ronneberger et al., 2015) for slice segmentation, trained with Dice + CE.

The encoder applies two 3x3 convolutions per level and halves the image ``depth`` times; the
decoder doubles it back with transposed convolutions and concatenates the encoder features of
the same size (the skip connections), so the output is full resolution. The loss is the sum of
cross-entropy (per pixel, well behaved early in training) and the soft Dice loss (per class,
insensitive to how small a structure is), the combination nnU-Net trains with (Isensee et al.,
2021).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from medgen_nb.downstream.base import DownstreamModel
from medgen_nb.models.base import Batch
from medgen_nb.models.blocks import ConvBlock
from medgen_nb.models.validation import check_positive_int

DEPTH = 3  # halvings: 64 px -> 8 px at the bottom, 16 px -> 2 px


def soft_dice_loss(logits: torch.Tensor, seg: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    r"""``1 - mean_c Dice_c`` over the foreground classes, with soft (probability) overlaps.

    .. math:: Dice_c = \frac{2 \sum_i p_{ic} y_{ic} + \epsilon}{\sum_i p_{ic} + \sum_i y_{ic} + \epsilon}

    with ``p = softmax(logits)``, ``y`` the one-hot labels, sums over every pixel of the batch.
    ``eps`` keeps a class absent from the batch at Dice 1 when it is also not predicted.

    Args:
        logits: ``(B, K, H, W)`` class scores, ``K >= 2`` (class 0 is background).
        seg: ``(B, H, W)`` int64 labels in ``0 .. K - 1``.
    """
    k = logits.shape[1]
    p = torch.softmax(logits, dim=1)  # (B, K, H, W)
    y = F.one_hot(seg, k).permute(0, 3, 1, 2).to(p.dtype)  # (B, K, H, W)
    overlap = (p * y).sum(dim=(0, 2, 3))  # (K,)
    dice_c = (2 * overlap + eps) / (p.sum(dim=(0, 2, 3)) + y.sum(dim=(0, 2, 3)) + eps)
    return 1 - dice_c[1:].mean()


class DoubleConv(nn.Sequential):
    """Two 3x3 conv -> GroupNorm -> ReLU blocks: ``(B, in_ch, H, W) -> (B, out_ch, H, W)``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(
            ConvBlock(in_ch, out_ch, "same", "group", "relu"),
            ConvBlock(out_ch, out_ch, "same", "group", "relu"),
        )


class UNet(nn.Module):
    """``(B, in_channels, S, S) -> (B, out_channels, S, S)``; channels ``base_channels * 2**level``
    (capped at 8x) at ``S / 2**level``. ``S`` must be divisible by ``2**depth``."""

    def __init__(self, in_channels: int, out_channels: int, base_channels: int, depth: int = DEPTH):
        super().__init__()
        chans = [base_channels * min(2**i, 8) for i in range(depth + 1)]  # per level, 0 = full size
        self.down = nn.ModuleList(
            [DoubleConv(in_channels, chans[0])]
            + [DoubleConv(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True)]
        )
        self.upsample = nn.ModuleList(
            [
                ConvBlock(b, a, "up", "group", "relu")
                for a, b in zip(chans[:-1], chans[1:], strict=True)
            ]
        )
        self.up = nn.ModuleList([DoubleConv(2 * a, a) for a in chans[:-1]])
        self.head = nn.Conv2d(chans[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)  # (B, chans[level], S / 2**level, S / 2**level)
        x = skips.pop()  # the bottom level has no skip of its own
        for upsample, block in zip(reversed(self.upsample), reversed(self.up), strict=True):
            x = block(torch.cat([upsample(x), skips.pop()], dim=1))
        return self.head(x)


class SegmentationUNet(DownstreamModel):
    """U-Net segmenter: ``(N, C, S, S)`` in [0, 1] -> ``(N, S, S)`` int64 labels ``0 .. K - 1``.

    Config: ``in_channels``, ``num_classes`` (K >= 2, background included), ``size`` (power of
    two >= 16), ``base_channels``, ``lr`` (Adam).
    """

    batch_keys = ("image", "seg")

    def __init__(
        self,
        *,
        in_channels: int = 1,
        num_classes: int = 2,
        size: int = 64,
        base_channels: int = 16,
        lr: float = 1e-3,
    ) -> None:
        check_positive_int(num_classes, "num_classes", minimum=2)
        super().__init__(
            in_channels=in_channels, size=size, base_channels=base_channels, lr=lr,
            num_classes=num_classes,
        )  # fmt: skip
        self.net = UNet(in_channels, num_classes, base_channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, S, S)`` in [0, 1] -> per-pixel class logits ``(N, K, S, S)``."""
        return self.net(self.check_images(images))

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self(batch["image"]).float()  # (B, K, S, S)
        seg = self.check_label_map(
            batch["seg"], len(logits), 'batch["seg"]', self.config["num_classes"]
        )
        loss_ce = F.cross_entropy(logits, seg)
        loss_dice = soft_dice_loss(logits, seg)
        loss = loss_ce + loss_dice
        return loss, {"loss": loss.item(), "loss_ce": loss_ce.item(), "loss_dice": loss_dice.item()}

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, S, S)`` in [0, 1] -> ``(N, K, S, S)`` class probabilities per pixel."""
        return torch.softmax(self(images).float(), dim=1)

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, S, S)`` in [0, 1] -> ``(N, S, S)`` int64 label map (most probable class)."""
        return self(images).argmax(1)


MODELS: dict[str, type] = {"segmenter": SegmentationUNet}
