"""Figures: image grids, modality panels, translation comparisons, training curves.

Plot functions take results and return a ``matplotlib.figure.Figure``; models never plot.
Every image argument is in [0, 1] unless a physical unit is stated.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

# No matplotlib.use() here: switching backends at import would silence the inline backend of every
# notebook that imports this module. Without a display, matplotlib already falls back to Agg.
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

ImageLike = np.ndarray | torch.Tensor


def as_numpy_images(images: ImageLike) -> np.ndarray:
    """``(N, C, H, W)``, ``(C, H, W)`` or ``(H, W)`` tensor/array -> ``(N, H, W)`` or ``(N, H, W, 3)`` float array."""
    a = (
        images.detach().float().cpu().numpy()
        if isinstance(images, torch.Tensor)
        else np.asarray(images, dtype=np.float32)
    )
    if a.ndim == 2:
        a = a[None, None]
    elif a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"images must have 2 to 4 dimensions (N, C, H, W), got shape {a.shape}")
    if a.shape[1] == 1:
        return a[:, 0]
    if a.shape[1] == 3:
        return a.transpose(0, 2, 3, 1)
    return a[:, 0]  # several channels (stacked modalities): show the first


def image_grid(
    images: ImageLike,
    ncols: int = 8,
    titles: Sequence[str] | None = None,
    suptitle: str | None = None,
    cmap: str = "gray",
    vmin: float = 0.0,
    vmax: float = 1.0,
    cell_inches: float = 1.4,
) -> Figure:
    """A grid of images (in [0, 1] unless ``vmin``/``vmax`` say otherwise)."""
    a = as_numpy_images(images)
    n = len(a)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(cell_inches * ncols, cell_inches * nrows + (0.4 if suptitle else 0)),
        squeeze=False,
    )
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(a[k], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if titles is not None and k < len(titles):
                ax.set_title(titles[k], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def panel(
    images: Mapping[str, ImageLike],
    suptitle: str | None = None,
    cmaps: Mapping[str, str] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    units: Mapping[str, str] | None = None,
    cell_inches: float = 2.2,
) -> Figure:
    """One row of named 2-D images, each with its own colour map, range and unit (colour bar)."""
    if not images:
        raise ValueError("panel needs at least one image")
    fig, axes = plt.subplots(
        1, len(images), figsize=(cell_inches * len(images), cell_inches + 0.5), squeeze=False
    )
    for ax, (name, img) in zip(axes[0], images.items(), strict=True):
        a = as_numpy_images(img)[0]
        lo, hi = (ranges or {}).get(name, (0.0, 1.0))
        im = ax.imshow(
            a, cmap=(cmaps or {}).get(name, "gray"), vmin=lo, vmax=hi, interpolation="nearest"
        )
        ax.set_title(name, fontsize=9)
        ax.axis("off")
        if units and name in units:
            cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
            cb.set_label(units[name], fontsize=7)
            cb.ax.tick_params(labelsize=6)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def translation_comparison(
    source: ImageLike,
    prediction: ImageLike,
    target: ImageLike,
    names: tuple[str, str] = ("source", "target"),
    error_range: float = 0.5,
    suptitle: str | None = None,
) -> Figure:
    """Source, prediction, target and the signed error map (prediction - target, in [0, 1] units)."""
    p, t = as_numpy_images(prediction)[0], as_numpy_images(target)[0]
    if p.shape != t.shape:
        raise ValueError(f"prediction shape {p.shape} differs from target shape {t.shape}")
    return panel(
        {
            f"{names[0]} (input)": source,
            "prediction": p,
            f"{names[1]} (reference)": t,
            "error": p - t,
        },
        suptitle=suptitle,
        cmaps={"error": "RdBu_r"},
        ranges={"error": (-error_range, error_range)},
        units={"error": "prediction − reference"},
    )


def version_comparison(
    v1: dict[str, np.ndarray],
    v2: dict[str, np.ndarray],
    modalities: list[str] | None = None,
    suptitle: str | None = None,
    row_labels: tuple[str, str] = ("v1", "v2"),
) -> Figure:
    """Two rows of axial slices in [0, 1]: the phantom v1 reference above, v2 below.

    ``v1`` and ``v2`` map modality -> ``(X, Y)`` slice in RAS order (shown with anterior up);
    ``modalities`` picks and orders the columns (default: those present in both); ``row_labels``
    names the two rows.
    """
    names = modalities or [m for m in v1 if m in v2]
    missing = [m for m in names if m not in v1 or m not in v2]
    if missing or not names:
        raise ValueError(f"modalities {missing or names} are not present in both versions")
    fig, axes = plt.subplots(2, len(names), figsize=(1.6 * len(names), 3.6), squeeze=False)
    for col, name in enumerate(names):
        for row, (label, slices) in enumerate(zip(row_labels, (v1, v2), strict=True)):
            ax = axes[row, col]
            ax.imshow(np.rot90(slices[name]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=8)
            if col == 0:
                ax.set_ylabel(label, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def plot_history(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str] | None = None,
    smooth: int = 1,
    title: str | None = None,
) -> Figure:
    """Training curves: one line per logged key, optionally smoothed by a running mean of ``smooth`` steps."""
    keys = list(keys) if keys is not None else [k for k, v in history.items() if len(v) > 0]
    if not keys:
        raise ValueError("history has nothing to plot")
    fig, ax = plt.subplots(figsize=(6, 3))
    for key in keys:
        if key not in history:
            raise ValueError(f"history has no key {key!r}; it has {sorted(history)}")
        y = np.asarray(history[key], dtype=float)
        if smooth > 1 and len(y) >= smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        ax.plot(y, label=key)
    ax.set_xlabel("logged step")
    ax.set_ylabel("value")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def point_panels(
    rows: Mapping[str, Sequence[torch.Tensor]],
    column_titles: Sequence[str],
    *,
    reference: torch.Tensor | None = None,
    limit: float = 3.0,
    paths: Mapping[str, torch.Tensor] | None = None,
    suptitle: str | None = None,
) -> Figure:
    """Scatter plots of 2-D point sets: one row per name, one column per snapshot.

    ``rows[name][j]`` is an ``(N, 2)`` tensor shown in column ``j``; ``reference`` (``(M, 2)``,
    e.g. the real data or the mixture's centres) is drawn in every panel in grey;
    ``paths[name]`` (``(T, K, 2)``: K trajectories over T steps) is drawn as lines in the last
    column of that row.
    """
    names = list(rows)
    n_cols = len(column_titles)
    if not names or any(len(v) != n_cols for v in rows.values()):
        raise ValueError(f"every row needs {n_cols} point sets (one per column title)")
    fig, axes = plt.subplots(
        len(names), n_cols, figsize=(2.2 * n_cols, 2.2 * len(names)), squeeze=False
    )
    for r, name in enumerate(names):
        for c, points in enumerate(rows[name]):
            ax = axes[r, c]
            if reference is not None:
                ax.scatter(*reference.T.numpy(), s=4, c="0.75", linewidths=0)
            if paths is not None and name in paths and c == n_cols - 1:
                for k in range(paths[name].shape[1]):
                    ax.plot(*paths[name][:, k].T.numpy(), lw=0.6, alpha=0.7)
            p = points.detach().cpu()
            ax.scatter(*p.T.numpy(), s=3, c="C3", linewidths=0, alpha=0.6)
            ax.set_xlim(-limit, limit)
            ax.set_ylim(-limit, limit)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(column_titles[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def figure_to_png(fig: Figure, dpi: int = 80) -> bytes:
    """Render a figure to PNG bytes and close it (for widgets and files)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()
