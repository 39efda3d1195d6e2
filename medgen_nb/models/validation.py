"""Input checks shared by the model families (clear ``ValueError`` messages, never ``assert``)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import torch

UNIT_TOLERANCE = 0.05
"""How far outside [0, 1] image values may stray before they are refused: room for floating-point
error and the mild overshoot of antialiased resampling, far below the errors the check is for
(8-bit values as floats reach 255, CT in HU thousands, [-1, 1] images -1)."""

_KEY_HINTS = {
    "image": "data sets must yield dicts with an 'image' key (as SliceDataset does), image "
    "tensors, or (image, label) pairs",
    "target": "paired models train on {'image': source, 'target': target} dicts, e.g. "
    "SliceDataset(subjects, sources=['t1w'], target='t2w'); an (image, label) pair has no target",
    "label": "class-conditional models need integer class labels: (image, label) pairs or dicts "
    "with a 'label' key, e.g. SliceDataset(..., label_from=...)",
}


def check_unit_images(x: torch.Tensor, name: str) -> None:
    """Raise unless ``x`` holds floating-point intensities in [0, 1] (within
    :data:`UNIT_TOLERANCE`), the convention of every model's inputs
    (:mod:`medgen_nb.data.intensity`)."""
    if not x.is_floating_point():
        fix = (
            "convert 8-bit images with x.float() / 255"
            if x.dtype == torch.uint8
            else "map their intensities to [0, 1] with medgen_nb.data.intensity (e.g. "
            "ct_window().forward(x.float()) for CT in HU)"
        )
        raise ValueError(
            f"{name} has dtype {x.dtype}, but images must be floating point in [0, 1]; {fix}"
        )
    if x.numel() == 0:
        return
    lo, hi = (float(v) for v in torch.aminmax(x.detach()))
    if math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"{name} contains NaN; images must be finite values in [0, 1]")
    if lo >= -UNIT_TOLERANCE and hi <= 1.0 + UNIT_TOLERANCE:
        return
    if lo >= -1.0 - UNIT_TOLERANCE and hi <= 1.0 + UNIT_TOLERANCE:
        fix = "these look like [-1, 1] images (another library's convention): pass (x + 1) / 2"
    else:
        fix = (
            "map physical units to [0, 1] with medgen_nb.data.intensity, e.g. "
            "ct_window().forward(hu) for CT in HU or mr_robust(volume).forward(volume) for MR; "
            "8-bit values stored as floats: x / 255; resampling overshoot: x.clamp(0, 1)"
        )
    raise ValueError(
        f"{name} must hold intensities in [0, 1] (the convention of every model, see "
        f"medgen_nb.data.intensity), got values in [{lo:.4g}, {hi:.4g}]; {fix}"
    )


def check_batch_keys(batch: Mapping[str, object], model: object) -> None:
    """Raise unless ``batch`` has every key in ``model.batch_keys`` (what its ``train_step``
    reads), naming the keys needed, the keys present and how to get the missing ones."""
    required = tuple(getattr(model, "batch_keys", ()))
    missing = [key for key in required if key not in batch]
    if missing:
        hints = "; ".join(_KEY_HINTS[key] for key in missing if key in _KEY_HINTS)
        raise ValueError(
            f"{type(model).__name__} needs batch keys {list(required)}, but the batch has "
            f"{sorted(batch)} (missing {missing})" + (f"; {hints}" if hints else "")
        )


def check_image_batch(
    x: torch.Tensor, channels: int, size: int, name: str = "batch['image']", spatial_dims: int = 2
) -> None:
    """Raise if ``x`` is not a ``(B, channels, size, size)`` batch (``(B, channels, size, size,
    size)`` with ``spatial_dims=3``; ``channels`` is the model's ``in_channels``) of
    floating-point intensities in [0, 1] (:func:`check_unit_images`)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 2 + spatial_dims:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        axes = "(B, C, H, W)" if spatial_dims == 2 else "(B, C, D, H, W)"
        raise ValueError(f"{name} must be a {axes} tensor, got {shape}")
    if x.shape[1] != channels:
        raise ValueError(
            f"{name} has {x.shape[1]} channels but the model was built with "
            f"in_channels={channels}; rebuild the model with in_channels={x.shape[1]} or select "
            "matching images"
        )
    if tuple(x.shape[2:]) != (size,) * spatial_dims:
        raise ValueError(
            f"{name} has spatial size {tuple(x.shape[2:])} but the model was built with "
            f"size={size}; resize the data set or rebuild the model"
        )
    check_unit_images(x, name)


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
    """Raise unless ``value`` is an int >= ``minimum`` (a bool is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_learning_rate(value: object, name: str = "lr") -> None:
    """Raise unless ``value`` is a finite number > 0 (``inf`` or NaN would only fail steps later,
    as a NaN loss)."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be a finite number > 0, e.g. 2e-4, got {value!r}")


def check_betas(value: object, name: str = "betas") -> tuple[float, float]:
    """Return Adam's ``(beta1, beta2)`` as a tuple; raise unless they are two numbers in [0, 1)."""
    items = tuple(value) if isinstance(value, list | tuple) else ()
    if len(items) != 2 or not all(_is_number(b) and 0 <= b < 1 for b in items):
        raise ValueError(
            f"{name} must be two numbers in [0, 1) (Adam's beta1, beta2, e.g. (0.5, 0.999)), "
            f"got {value!r}"
        )
    return items  # type: ignore[return-value]


def check_weight(value: object, name: str) -> None:
    """Raise unless ``value`` (a loss weight) is a finite number >= 0."""
    if not _is_number(value) or not math.isfinite(value) or value < 0:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def check_translation_settings(
    *, lr: object, betas: object, weights: Mapping[str, object], **channels: object
) -> tuple[float, float]:
    """The settings Pix2Pix, CycleGAN and UNIT share: channel counts (keywords) >= 1, Adam's
    ``lr`` and ``betas``, and finite loss ``weights`` >= 0. Returns ``betas`` as a tuple."""
    for name, value in channels.items():
        check_positive_int(value, name)
    for name, value in weights.items():
        check_weight(value, name)
    check_learning_rate(lr)
    return check_betas(betas)


def check_flag(value: object, name: str) -> None:
    """Raise unless ``value`` is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_paired_batch(
    batch: Mapping[str, torch.Tensor], config: Mapping[str, object], spatial_dims: int = 2
) -> None:
    """Check a translation model's ``batch["image"]`` (``in_channels``) and ``batch["target"]``
    (``out_channels``) against its ``config`` with :func:`check_images`."""
    for key, channels in (("image", "in_channels"), ("target", "out_channels")):
        check_images(
            batch[key],
            config[channels],
            config["size"],
            f'batch["{key}"]',
            spatial_dims,  # type: ignore[arg-type]
        )


def check_images(
    x: torch.Tensor, channels: int, size: int, name: str, spatial_dims: int = 2
) -> None:
    """Raise a clear ``ValueError`` unless ``x`` has shape ``(B, channels, size, size)`` (or
    ``(B, channels, size, size, size)`` with ``spatial_dims=3``) and holds floating-point
    intensities in [0, 1] (:func:`check_unit_images`).

    Used by the translation models, whose source and target have separate channel counts
    (``in_channels`` / ``out_channels``), so the message names the shape rather than one keyword.
    """
    spatial = (size,) * spatial_dims
    if x.ndim != 2 + spatial_dims or x.shape[1] != channels or tuple(x.shape[2:]) != spatial:
        want = ", ".join(map(str, (channels, *spatial)))
        hint = (
            "; whole volumes are translated patch by patch with "
            "medgen_nb.data.volumes.sliding_window"
            if spatial_dims == 3 and x.ndim == 5
            else ""
        )
        raise ValueError(
            f"{name} must have shape (B, {want}) to match the model's configuration, got "
            f"{tuple(x.shape)}; rebuild the model with matching in_channels/out_channels/size "
            f"or fix the data{hint}"
        )
    check_unit_images(x, name)
