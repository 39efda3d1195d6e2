"""A small CNN slice classifier: does this image hold a lesion (or belong to class k)?

The network halves the image with strided convolutions down to 4x4 (channels ``base_channels``
doubling per halving, capped at 8x), averages over space and maps to ``K`` class logits. It is
trained with cross-entropy on ``batch["label"]``. GroupNorm (not BatchNorm) keeps train and eval
mode identical, so predictions do not depend on the mode a caller left the model in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from medgen_nb.downstream.base import DownstreamModel
from medgen_nb.models.base import Batch
from medgen_nb.models.blocks import ConvBlock
from medgen_nb.models.gan_nets import pyramid_channels
from medgen_nb.models.validation import check_labels, check_positive_int


class SliceClassifier(DownstreamModel):
    """CNN classifier: ``(N, C, S, S)`` images in [0, 1] -> ``(N, K)`` class probabilities.

    Config: ``in_channels``, ``num_classes`` (K >= 2), ``size`` (power of two >= 16),
    ``base_channels``, ``lr`` (Adam).
    """

    batch_keys = ("image", "label")

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
        chans = pyramid_channels(size, base_channels)  # 64 -> [16, 32, 64, 128] at 32, 16, 8, 4 px
        layers: list[nn.Module] = [ConvBlock(in_channels, chans[0], "down", "group", "relu")]
        layers += [
            ConvBlock(a, b, "down", "group", "relu")
            for a, b in zip(chans[:-1], chans[1:], strict=True)
        ]
        self.features = nn.Sequential(*layers)  # (N, c_last, 4, 4)
        self.head = nn.Linear(chans[-1], num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, S, S)`` in [0, 1] -> class logits ``(N, K)``."""
        x = self.check_images(images)
        return self.head(self.features(x).mean(dim=(2, 3)))  # global average pool: (N, c_last)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self(batch["image"]).float()  # (B, K)
        y = check_labels(batch["label"], len(logits), self.config["num_classes"], 'batch["label"]')
        loss = F.cross_entropy(logits, y.to(logits.device))
        accuracy = (logits.argmax(1) == y.to(logits.device)).float().mean()
        return loss, {"loss": loss.item(), "acc": accuracy.item()}

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, S, S)`` in [0, 1] -> ``(N, K)`` class probabilities (rows sum to 1)."""
        return torch.softmax(self(images).float(), dim=1)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, S, S)`` in [0, 1] -> ``(N,)`` int64 most probable class."""
        return self(images).argmax(1)


MODELS: dict[str, type] = {"classifier": SliceClassifier}
