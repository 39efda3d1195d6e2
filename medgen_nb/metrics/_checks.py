"""Input checks shared by every metric: each raises a ``ValueError`` that names the argument."""

from __future__ import annotations

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


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


def check_finite(x: torch.Tensor, name: str) -> None:
    if not torch.isfinite(x).all():
        n_bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or infinite values; clean it first")


def check_images(
    preds: ArrayLike, target: ArrayLike, *, unit_range: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a (B, C, H, W) prediction/target pair of equal shape; return float64 tensors."""
    p, t = as_tensor(preds, "preds"), as_tensor(target, "target")
    if p.ndim != 4:
        raise ValueError(f"preds must be (B, C, H, W), got shape {tuple(p.shape)}")
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
    """Broadcast a (B, 1|C, H, W) or (B, H, W) foreground mask to ``shape`` as bool."""
    if mask is None:
        return None
    m = as_tensor(mask, "mask")
    if m.ndim == 3:
        m = m.unsqueeze(1)
    if (
        m.ndim != 4
        or m.shape[0] != shape[0]
        or m.shape[2:] != shape[2:]
        or m.shape[1]
        not in (
            1,
            shape[1],
        )
    ):
        raise ValueError(
            f"mask must be (B, 1, H, W), (B, C, H, W) or (B, H, W) matching images of shape "
            f"{tuple(shape)}, got {tuple(m.shape)}"
        )
    values = torch.unique(m)
    if not bool(((values == 0) | (values == 1)).all()):
        raise ValueError(f"mask must be binary (0/1 or bool), got values {values[:5].tolist()}...")
    m = m.bool().expand(shape)
    empty = (~m.flatten(1).any(1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"mask is empty for batch item(s) {empty}; every image needs foreground")
    return m


def check_data_range(data_range: float) -> float:
    if isinstance(data_range, bool) or not isinstance(data_range, int | float):
        raise ValueError(f"data_range must be a positive number, got {data_range!r}")
    if not np.isfinite(data_range) or data_range <= 0:
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    return float(data_range)


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
