"""Baselines that a model must beat: for translation, and for creation.

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

Source and target are images in [0, 1]; predictions are clipped to [0, 1].

For creation, :func:`train_vae_baseline` trains notebook 02's convolutional VAE (review §4.1) on
the same slices, at the same image size and with the same number of updates and batch size as the
generator it is compared with, so an FID comparison between families is like for like.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from medgen_nb.models._validate import check_unit_images
from medgen_nb.models.base import Configurable

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from medgen_nb.models.vae import ConvVAE

MappingMethod = Literal["lookup", "polynomial"]
MAPPING_METHODS: tuple[str, ...] = ("lookup", "polynomial")


def _as_float_tensor(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a (B, 1, H, W) tensor in [0, 1], got {shape}")
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
        keep = torch.ones_like(x, dtype=torch.bool)
        if mask is not None:
            if tuple(mask.shape) != tuple(x.shape):
                raise ValueError(
                    f"mask must have the source's shape {tuple(x.shape)}, got {tuple(mask.shape)}"
                )
            keep = mask.detach().cpu() > 0.5
        xs, ys = x[keep].numpy().astype(np.float64), y[keep].numpy().astype(np.float64)
        if xs.size < 2:
            raise ValueError(f"fit needs at least 2 (masked) pixels, got {xs.size}")
        if self.method == "polynomial":
            self.coefficients = np.polyfit(xs, ys, self.degree)
            return self
        edges = np.linspace(0.0, 1.0, self.n_bins + 1)
        idx = np.clip(np.digitize(xs, edges) - 1, 0, self.n_bins - 1)
        counts = np.bincount(idx, minlength=self.n_bins)
        sums = np.bincount(idx, weights=ys, minlength=self.n_bins)
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


# Notebook 02's VAE design: 32-D latent, 16 base channels, beta 1, Bernoulli (BCE) decoder.
VAE_BASELINE_CONFIG: dict[str, object] = dict(
    latent_dim=32, base_channels=16, beta=1.0, recon="bce"
)


def train_vae_baseline(
    train_set: Dataset,
    *,
    size: int,
    steps: int,
    batch_size: int,
    seed: int = 0,
    device: str | torch.device = "auto",
    checkpoint_dir: str | Path | None = None,
    in_channels: int = 1,
) -> ConvVAE:
    """Train the creation baseline: notebook 02's VAE on ``train_set`` with a matched budget.

    Give it the ``size``, ``steps`` and ``batch_size`` of the generator it is compared with, so
    both have seen the same number of training images at the same resolution. With a
    ``checkpoint_dir`` a finished run is loaded instead of retrained ("checkpoint exists -> load").

    Args:
        train_set: items with ``"image"`` ``(in_channels, size, size)`` in [0, 1].
        size: image side in px (a power of two >= 8).
        steps: optimisation steps (one batch each).
        batch_size: images per step.
        seed: seeds the initial weights and the batch order.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        checkpoint_dir: where to keep the checkpoint, or ``None`` to always train.
        in_channels: image channels.

    Returns:
        The trained VAE in eval mode; ``model.sample(n, generator=g)`` gives ``(n, C, size, size)``
        images in [0, 1].
    """
    from medgen_nb.models import create
    from medgen_nb.train import fit
    from medgen_nb.utils import seed_everything

    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    seed_everything(seed)
    model = create("vae", in_channels=in_channels, size=size, **VAE_BASELINE_CONFIG)
    fit(model, train_set, steps, device=device, batch_size=batch_size, seed=seed,
        checkpoint_dir=checkpoint_dir, progress=False)  # fmt: skip
    return model.eval()
