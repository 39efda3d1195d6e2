"""The translation baseline a model must beat: a per-pixel intensity mapping.

A translation network is only interesting if it beats the simplest thing that could work. For two
MR contrasts of the same anatomy that simplest thing is a *per-pixel intensity mapping*: every
tissue has one T1w and one T2w intensity, so a function ``f`` with ``T2w ≈ f(T1w)`` already
recovers much of the target. It cannot use context (partial volume, lesions whose T1w intensity
overlaps a healthy tissue, coil bias that differs between contrasts), which is exactly what the
convolutional models of Pang et al. 2025, §4.2 (Fig. 5e-g) and §6.2.1 (multi-contrast MRI) add.

:class:`IntensityMappingBaseline` learns ``f`` from paired training slices:

* ``method="lookup"``: the conditional mean :math:`f(v) = E[y \\mid x \\in \\text{bin}(v)]` over
  ``n_bins`` equal-width bins of the source intensity, linearly interpolated between bin centres.
  Among all per-pixel mappings, the conditional mean minimises the mean squared error, so this is
  the strongest baseline of its kind (up to binning). Empty bins are filled by interpolation.
* ``method="polynomial"``: a least-squares polynomial of ``degree`` in the source intensity.

Source and target are images ``(B, 1, H, W)`` or volumes ``(B, 1, D, H, W)`` in [0, 1] (a
per-voxel map needs no spatial context, so one class serves 2-D and 3-D tasks); predictions are
clipped to [0, 1].

The creation baseline (notebook 02's VAE trained with a matched budget) trains a model, so it
lives in the evaluation layer: :func:`medgen_nb.evaluation.train_vae_baseline`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from medgen_nb.models.base import Configurable
from medgen_nb.models.validation import check_unit_images

MappingMethod = Literal["lookup", "polynomial"]
MAPPING_METHODS: tuple[str, ...] = ("lookup", "polynomial")
PIXEL_CHUNK = 2**18  # pixels per step of fit()


def _as_float_tensor(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim not in (4, 5) or x.shape[1] != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{name} must be a (B, 1, H, W) image or (B, 1, D, H, W) volume tensor in [0, 1], "
            f"got {shape}"
        )
    check_unit_images(x, name)
    return x.detach().float().cpu()


class IntensityMappingBaseline(Configurable):
    """Per-pixel mapping ``target ≈ f(source)`` fitted on paired training images.

    Args:
        method: ``"lookup"`` (binned conditional mean, the MSE-optimal per-pixel map) or
            ``"polynomial"``.
        n_bins: source-intensity bins of the lookup table (>= 2).
        degree: polynomial degree (>= 1), for ``method="polynomial"``.

    ``self.config`` holds these three settings (:class:`~medgen_nb.models.base.Configurable`).

    Example::

        base = IntensityMappingBaseline().fit(train["image"], train["target"])
        pred = base.translate(test["image"])  # (B, 1, H, W) in [0, 1]
    """

    def __init__(self, method: MappingMethod = "lookup", n_bins: int = 64, degree: int = 5) -> None:
        if method not in MAPPING_METHODS:
            raise ValueError(f"method must be one of {MAPPING_METHODS}, got {method!r}")
        if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 2:
            raise ValueError(f"n_bins must be an int >= 2, got {n_bins!r}")
        if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
            raise ValueError(f"degree must be an int >= 1, got {degree!r}")
        self.method, self.n_bins, self.degree = method, n_bins, degree
        self.centres: np.ndarray | None = None  # (n_bins,) source intensities of the table
        self.values: np.ndarray | None = None  # (n_bins,) mapped target intensities
        self.coefficients: np.ndarray | None = None  # (degree + 1,), highest power first

    @property
    def fitted(self) -> bool:
        return self.values is not None or self.coefficients is not None

    def fit(
        self, source: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> IntensityMappingBaseline:
        """Learn ``f`` from paired ``source`` and ``target`` ``(B, 1, H, W)`` in [0, 1].

        ``mask`` ``(B, 1, H, W)`` restricts fitting to its pixels. For whole-slice translation
        fit on all pixels: air and CSF are both dark on T1w, so a table fitted on head pixels only
        maps the background to CSF's bright T2w value. Returns ``self``.
        """
        x = _as_float_tensor(source, "source")
        y = _as_float_tensor(target, "target")
        if x.shape != y.shape:
            raise ValueError(
                f"source and target must have the same shape, got {tuple(x.shape)} and "
                f"{tuple(y.shape)}"
            )
        if mask is not None and tuple(mask.shape) != tuple(x.shape):
            raise ValueError(
                f"mask must have the source's shape {tuple(x.shape)}, got {tuple(mask.shape)}"
            )
        # Both fits only need running sums over pixels, so pixels are taken PIXEL_CHUNK at a time:
        # a float64 copy of every training pixel (and polyfit's Vandermonde matrix) would take
        # several hundred MB for a thousand 64 px slices.
        x, y = x.reshape(-1), y.reshape(-1)
        keep = None if mask is None else (mask.detach().cpu() > 0.5).reshape(-1)
        edges = np.linspace(0.0, 1.0, self.n_bins + 1)
        counts, sums = np.zeros(self.n_bins), np.zeros(self.n_bins)
        r = np.zeros((0, self.degree + 2))  # R of the QR of [vander(x) | y], updated per chunk
        n_pixels = 0
        for start in range(0, len(x), PIXEL_CHUNK):
            chunk = slice(start, start + PIXEL_CHUNK)
            xs, ys = x[chunk], y[chunk]
            if keep is not None:
                xs, ys = xs[keep[chunk]], ys[keep[chunk]]
            xs, ys = xs.numpy().astype(np.float64), ys.numpy().astype(np.float64)
            n_pixels += xs.size
            if self.method == "polynomial":
                # Streaming least squares: the R factor of the stacked rows is the R of the QR
                # of all rows (the QR-update form of lstsq, as stable as np.polyfit).
                rows = np.column_stack([np.vander(xs, self.degree + 1), ys])
                r = np.linalg.qr(np.vstack([r, rows]), mode="r")
            else:
                idx = np.clip(np.digitize(xs, edges) - 1, 0, self.n_bins - 1)
                counts += np.bincount(idx, minlength=self.n_bins)
                sums += np.bincount(idx, weights=ys, minlength=self.n_bins)
        if n_pixels < 2:
            raise ValueError(f"fit needs at least 2 (masked) pixels, got {n_pixels}")
        if self.method == "polynomial":
            d = self.degree + 1  # r[:d, :d] c = r[:d, d] solves min |vander(x) c - y|
            # Column scaling and rcond as np.polyfit's (R keeps the column norms of vander(x)),
            # so degenerate data (one source intensity) get polyfit's minimum-norm answer too.
            scale = np.sqrt((r[:d, :d] ** 2).sum(0))
            scale[scale == 0] = 1.0
            rcond = n_pixels * np.finfo(np.float64).eps
            c = np.linalg.lstsq(r[:d, :d] / scale, r[:d, d], rcond=rcond)[0]
            self.coefficients = c / scale
            return self
        centres = 0.5 * (edges[:-1] + edges[1:])
        filled = counts > 0
        # Conditional mean E[y | x in bin]; bins nobody visited take the interpolated neighbours.
        self.centres = centres
        self.values = np.interp(centres, centres[filled], sums[filled] / counts[filled])
        return self

    def mapping(self, v: np.ndarray) -> np.ndarray:
        """``f`` evaluated at source intensities ``v`` (any shape, [0, 1]) -> same shape, [0, 1]."""
        if not self.fitted:
            raise ValueError("this IntensityMappingBaseline is not fitted yet; call fit() first")
        v = np.asarray(v, dtype=np.float64)
        if self.method == "polynomial":
            out = np.polyval(self.coefficients, v)
        else:
            out = np.interp(v, self.centres, self.values)
        return np.clip(out, 0.0, 1.0)

    @torch.no_grad()
    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Source ``(B, 1, H, W)`` in [0, 1] -> prediction ``(B, 1, H, W)`` in [0, 1] (float32)."""
        xs = _as_float_tensor(x, "x")
        return torch.from_numpy(self.mapping(xs.numpy()).astype(np.float32)).to(x.device)

    def eval(self) -> IntensityMappingBaseline:
        """No-op, so the baseline can be used wherever a model's ``eval(); translate()`` is."""
        return self
