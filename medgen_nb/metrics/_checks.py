"""Input checks shared by every metric: each raises a ``ValueError`` that names the argument.

Two rules that several metrics share live here, in one place:

* :func:`check_data_range`: the values' span against ``data_range`` (PSNR, SSIM, MS-SSIM);
* :func:`warn_small_sample`: FID's documented minimum sample size, N >= 5 x D.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Literal

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor
# Every paired metric reduces the same way: "mean" over images/cases, or "none" (one per item).
Reduction = Literal["mean", "none"]
REDUCTIONS: tuple[str, ...] = ("mean", "none")

# data_range rule (see check_data_range). The target is the reference and defines the range: its
# span may exceed data_range only by rounding (1 %: float16/float32 images, a window's edge).
TARGET_SPAN_TOLERANCE = 0.01
# Predictions may overshoot the range a little (an unclipped network output); a span above 1.5 x
# data_range warns (e.g. [-1, 1] tanh outputs scored against [0, 1] targets), above 100 x it is
# refused: that is a unit mistake (uint8 0-255 or HU against [0, 1]), not an overshoot.
PREDS_SPAN_WARN = 1.5
PREDS_SPAN_REFUSE = 100.0
# FID needs N >= 5 x D samples per set for a reportable number (notebook 01 section 3.3 shows the
# bias: 640 for the 128-d medical features).
FID_SAMPLES_PER_DIM = 5


class DataRangeWarning(UserWarning):
    """Predictions span more than :data:`PREDS_SPAN_WARN` x ``data_range`` (see check_data_range)."""


class SmallSampleWarning(UserWarning):
    """A distribution metric was computed below its documented minimum sample size."""


def as_tensor(x: ArrayLike, name: str) -> torch.Tensor:
    """A float64 CPU tensor (metrics are computed in double precision to match references)."""
    if isinstance(x, list | tuple):
        x = np.asarray(x, dtype=np.float64)
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor, numpy array or list, got {type(x).__name__}"
        )
    return x.detach().to("cpu", torch.float64)


def check_reduction(reduction: object) -> str:
    """``reduction`` if it is one of :data:`REDUCTIONS`, else a ``ValueError`` listing them."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction  # type: ignore[return-value]


def check_finite(x: torch.Tensor, name: str) -> None:
    if not torch.isfinite(x).all():
        n_bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or infinite values; clean it first")


def check_images(
    preds: ArrayLike, target: ArrayLike, *, unit_range: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a prediction/target pair of equal shape, images ``(B, C, H, W)`` or volumes
    ``(B, C, D, H, W)``; return float64 tensors."""
    p, t = as_tensor(preds, "preds"), as_tensor(target, "target")
    if p.ndim not in (4, 5):
        raise ValueError(
            f"preds must be images (B, C, H, W) or volumes (B, C, D, H, W), got shape "
            f"{tuple(p.shape)}"
        )
    if p.shape != t.shape:
        raise ValueError(
            f"preds and target must have the same shape, got {tuple(p.shape)} and {tuple(t.shape)}"
        )
    if p.shape[0] == 0:
        raise ValueError("preds is empty (batch size 0)")
    check_finite(p, "preds")
    check_finite(t, "target")
    if unit_range:
        check_unit_range(p, "preds")
        check_unit_range(t, "target")
    return p, t


def check_unit_range(x: torch.Tensor, name: str) -> None:
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{name} must lie in [0, 1] (the package intensity convention), got [{lo:.4g}, {hi:.4g}]"
            "; map physical units with medgen_nb.data.intensity first"
        )


def check_mask(mask: ArrayLike | None, shape: torch.Size) -> torch.Tensor | None:
    """Broadcast a (B, 1|C, *spatial) or (B, *spatial) foreground mask to ``shape`` as bool
    (``spatial`` is (H, W) for images, (D, H, W) for volumes)."""
    if mask is None:
        return None
    # Kept in its own dtype (bool or 0/1 numbers), not copied to float64 like images.
    if isinstance(mask, list | tuple):
        mask = np.asarray(mask)
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(mask)
    if not isinstance(mask, torch.Tensor):
        raise ValueError(
            f"mask must be a torch.Tensor, numpy array or list, got {type(mask).__name__}"
        )
    m = mask.detach().cpu()
    if m.ndim == len(shape) - 1:
        m = m.unsqueeze(1)
    if (
        m.ndim != len(shape)
        or m.shape[0] != shape[0]
        or m.shape[2:] != shape[2:]
        or m.shape[1] not in (1, shape[1])
    ):
        axes = "H, W" if len(shape) == 4 else "D, H, W"
        raise ValueError(
            f"mask must be (B, 1, {axes}), (B, C, {axes}) or (B, {axes}) matching images of "
            f"shape {tuple(shape)}, got {tuple(m.shape)}"
        )
    if m.dtype != torch.bool:
        if not bool(((m == 0) | (m == 1)).all()):
            values = torch.unique(m.double())  # only to name the offending values
            raise ValueError(
                f"mask must be binary (0/1 or bool), got values {values[:5].tolist()}..."
            )
        m = m != 0
    m = m.expand(shape)
    empty = (~m.flatten(1).any(1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"mask is empty for batch item(s) {empty}; every image needs foreground")
    return m


def check_positive_number(value: object, name: str) -> float:
    """``value`` as a finite float > 0; raises a ``ValueError`` naming ``name`` otherwise.

    Accepts Python ints and floats, numpy scalars (``np.float32(1.0)``) and one-element arrays or
    tensors (``torch.tensor(1.0)``, ``image.max()``); refuses bools, strings, complex numbers and
    arrays of more than one element.
    """
    v = value
    if isinstance(v, torch.Tensor | np.ndarray):
        n = v.size if isinstance(v, np.ndarray) else v.numel()
        if n != 1:
            raise ValueError(
                f"{name} must be one positive number, got an array of shape {tuple(v.shape)}"
            )
        v = v.item()
    if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
        raise ValueError(
            f"{name} must be a positive number (int, float, or a numpy/torch scalar), got "
            f"{value!r} of type {type(value).__name__}"
        )
    v = float(v)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def _span(x: torch.Tensor) -> tuple[float, float, float]:
    lo, hi = float(x.min()), float(x.max())
    return hi - lo, lo, hi


def check_data_range(
    data_range: object, preds: torch.Tensor | None = None, target: torch.Tensor | None = None
) -> float:
    """``data_range`` as a positive float, checked against the images' values when given.

    The rule, shared by PSNR, SSIM and MS-SSIM (``span`` = max - min over the whole batch):

    * ``target`` span > ``data_range`` x (1 + :data:`TARGET_SPAN_TOLERANCE`): ``ValueError``.
      The target is the reference; ``data_range`` is the width of its possible range, so the
      target must fit in it (uint8 images need 255, HU in [-1000, 2000] need 3000).
    * ``preds`` span > :data:`PREDS_SPAN_REFUSE` x ``data_range``: ``ValueError`` (a unit mistake).
    * ``preds`` span > :data:`PREDS_SPAN_WARN` x ``data_range``: :class:`DataRangeWarning`.
      Smaller overshoot (an unclipped network output) passes silently, and so does a ``data_range``
      wider than the images (a dim slice on a fixed scale, the recommended use).
    """
    dr = check_positive_number(data_range, "data_range")
    if target is not None:
        span, lo, hi = _span(target)
        if span > dr * (1 + TARGET_SPAN_TOLERANCE):
            raise ValueError(
                f"target spans {span:.4g} (values in [{lo:.4g}, {hi:.4g}]) but data_range={dr:.4g}"
                "; data_range is the width of the possible intensity range and must cover the "
                "target. Pass the range of your units (255 for uint8, 3000 for HU in "
                "[-1000, 2000]), or map the images to [0, 1] (medgen_nb.data.intensity) and use "
                "data_range=1.0"
            )
    if preds is not None:
        span, lo, hi = _span(preds)
        message = (
            f"preds span {span:.4g} (values in [{lo:.4g}, {hi:.4g}]), {span / dr:.3g} x "
            f"data_range={dr:.4g}"
        )
        if span > PREDS_SPAN_REFUSE * dr:
            raise ValueError(
                f"{message}; preds and target must be in the same units (e.g. both in [0, 1]: "
                "divide uint8 images by 255, map HU with medgen_nb.data.intensity)"
            )
        if span > PREDS_SPAN_WARN * dr:
            warnings.warn(
                f"{message}: errors beyond a range of that width weigh heavily in the score. "
                "Are preds in the target's units (a [-1, 1] output needs (x + 1) / 2 for [0, 1] "
                "targets)? Is data_range the fixed width of the scale, not one image's max - min?",
                DataRangeWarning,
                stacklevel=2,  # the metric's line: stable text in notebook outputs
            )
    return dr


def check_features(x: ArrayLike, name: str, min_rows: int = 2) -> torch.Tensor:
    """Validate an (N, D) feature matrix with at least ``min_rows`` samples."""
    f = as_tensor(x, name)
    if f.ndim != 2:
        raise ValueError(f"{name} must be an (N, D) feature matrix, got shape {tuple(f.shape)}")
    if f.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} samples, got {f.shape[0]}")
    check_finite(f, name)
    return f


def check_same_dim(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same feature dimension, "
            f"got {a.shape[1]} and {b.shape[1]}"
        )


def warn_small_sample(metric: str, n_real: int, n_fake: int, dim: int) -> None:
    """Warn (:class:`SmallSampleWarning`) when ``min(n_real, n_fake)`` < 5 x ``dim``.

    The documented minimum for a reportable FID (module docstring of
    :mod:`medgen_nb.metrics.creation`): N >= :data:`FID_SAMPLES_PER_DIM` x D, 640 for 128-d
    features. The warning's location is the metric's own line, so its text does not depend on the
    caller (notebook outputs stay stable).
    """
    need = FID_SAMPLES_PER_DIM * dim
    if min(n_real, n_fake) < need:
        warnings.warn(
            f"{metric} with N = {n_real} real and {n_fake} fake samples of D = {dim} features is "
            f"below the documented minimum N >= {FID_SAMPLES_PER_DIM} x D = {need}: the estimate "
            "is biased upwards at small N (see fid_vs_n). Compare only values of the same N and "
            "do not report this one as final; pass warn_small_n=False to silence this warning",
            SmallSampleWarning,
            stacklevel=2,
        )
