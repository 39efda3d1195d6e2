"""What the three downstream models share: settings checks, one Adam optimizer, one step.

The downstream models are not generative, but they follow the same contract as every model
(:class:`medgen_nb.models.base.GenerativeModel`): ``configure_optimizers()`` and
``train_step(batch, optimizers, ctx)``, so :func:`medgen_nb.train.fit` trains them and the
checkpoint code saves them. Each subclass supplies ``loss(batch) -> (loss, logs)``.
"""

from __future__ import annotations

import torch

from medgen_nb.models.base import Batch, GenerativeModel, Optimizers, StepContext
from medgen_nb.models.blocks import check_power_of_two_size
from medgen_nb.models.validation import (
    check_image_batch,
    check_learning_rate,
    check_positive_int,
)

MIN_SIZE = 16  # the classifier halves down to 4x4 and the U-Net three times: 16 px is the least


class DownstreamModel(GenerativeModel):
    """Base class: checks the settings all three share. Every constructor keyword lands in
    ``self.config`` through :class:`medgen_nb.models.base.Configurable`, like every model's."""

    def __init__(
        self, *, in_channels: int, size: int, base_channels: int, lr: float, **settings: object
    ) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_power_of_two_size(size, MIN_SIZE)
        check_positive_int(base_channels, "base_channels")
        check_learning_rate(lr)  # self.config: captured by models.base.Configurable

    def check_images(self, images: torch.Tensor, name: str = "images") -> torch.Tensor:
        """Raise unless ``images`` is ``(N, in_channels, size, size)`` in [0, 1]; return it on
        the model's device."""
        check_image_batch(images, self.config["in_channels"], self.config["size"], name)
        return images.to(self.device)

    def check_label_map(
        self, seg: torch.Tensor, n: int, name: str, num_classes: int | None = None
    ) -> torch.Tensor:
        """Raise unless ``seg`` is an ``(n, size, size)`` integer map with values >= 0 (and
        < ``num_classes`` when given); return it as int64 on the model's device."""
        s = self.config["size"]
        if not isinstance(seg, torch.Tensor) or tuple(seg.shape) != (n, s, s):
            shape = tuple(seg.shape) if isinstance(seg, torch.Tensor) else type(seg).__name__
            raise ValueError(
                f"{name} must be a ({n}, {s}, {s}) integer label map (one per image, e.g. "
                f"SliceDataset(..., seg_key=...)), got {shape}"
            )
        if seg.is_floating_point() or seg.is_complex() or seg.dtype == torch.bool:
            raise ValueError(
                f"{name} must hold integer labels (int64), got dtype {seg.dtype}; pass .long()"
            )
        lo, hi = int(seg.min()), int(seg.max())
        top = num_classes - 1 if num_classes is not None else None
        if lo < 0 or (top is not None and hi > top):
            allowed = f"0..{top}" if top is not None else ">= 0"
            raise ValueError(f"{name} must hold labels {allowed}, got values in [{lo}, {hi}]")
        return seg.to(self.device, torch.long)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must implement loss()")

    def configure_optimizers(self) -> Optimizers:
        return {"net": torch.optim.Adam(self.parameters(), lr=self.config["lr"])}

    def train_step(
        self, batch: Batch, optimizers: Optimizers, ctx: StepContext
    ) -> dict[str, float]:
        loss, logs = self.loss(batch)
        ctx.optimize(loss, optimizers["net"], name="net")
        return logs
