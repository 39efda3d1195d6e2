"""Input checks shared by the model families (clear ``ValueError`` messages, never ``assert``)."""

from __future__ import annotations

import torch


def check_image_batch(
    x: torch.Tensor, channels: int, size: int, name: str = "batch['image']"
) -> None:
    """Raise if ``x`` is not a ``(B, channels, size, size)`` batch (``channels`` is the model's
    ``in_channels``)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a (B, C, H, W) tensor, got {shape}")
    if x.shape[1] != channels:
        raise ValueError(
            f"{name} has {x.shape[1]} channels but the model was built with "
            f"in_channels={channels}; rebuild the model with in_channels={x.shape[1]} or select "
            "matching images"
        )
    if tuple(x.shape[2:]) != (size, size):
        raise ValueError(
            f"{name} has spatial size {tuple(x.shape[2:])} but the model was built with "
            f"size={size}; resize the data set or rebuild the model"
        )


def check_labels(
    labels: torch.Tensor | None, n: int, num_classes: int, name: str = "labels"
) -> torch.Tensor:
    """Return ``labels`` as a ``(n,)`` int64 tensor with values in ``[0, num_classes)``."""
    if labels is None:
        raise ValueError(
            f"{name} are required by this conditional model (num_classes={num_classes}); "
            "pass integer class labels, e.g. a SliceDataset built with label_from=..."
        )
    labels = torch.as_tensor(labels).long().reshape(-1)
    if labels.numel() != n:
        raise ValueError(f"{name} must hold {n} labels (one per image), got {labels.numel()}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{name} must lie in [0, {num_classes}), got values in "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )
    return labels


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """Raise unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def check_images(x: torch.Tensor, channels: int, size: int, name: str) -> None:
    """Raise a clear ``ValueError`` unless ``x`` has shape ``(B, channels, size, size)``.

    Used by the translation models, whose source and target have separate channel counts
    (``in_channels`` / ``out_channels``), so the message names the shape rather than one keyword.
    """
    if x.ndim != 4 or x.shape[1] != channels or tuple(x.shape[2:]) != (size, size):
        raise ValueError(
            f"{name} must have shape (B, {channels}, {size}, {size}) to match the model's "
            f"configuration, got {tuple(x.shape)}; rebuild the model with matching "
            f"in_channels/out_channels/size or fix the data"
        )
