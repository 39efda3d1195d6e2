"""Paired (translation) metrics of review Table 5: MAE, MSE, RMSE, PSNR, SSIM, MS-SSIM.

All take ``preds`` and ``target`` of shape ``(B, C, H, W)`` and return either one number per image
(``reduction="none"``, shape ``(B,)``, for confidence intervals over images) or their mean over the
batch (``reduction="mean"``, a 0-d tensor). Means over images, not over the pooled pixels, so that
every image counts once whatever its mask size. Computation is in float64.

Conventions that differ between papers, fixed here once:

* ``data_range`` (PSNR, SSIM) is the width of the *possible* intensity range, e.g. 1.0 for the
  package's [0, 1] images or 3000 for HU images in [-1000, 2000]. It is a required keyword and is
  never taken from the image's own maximum, which would make PSNR depend on the image content.
  Any real scalar works (``1.0``, ``np.float32(1.0)``, ``torch.tensor(1.0)``). It is checked
  against the values (:func:`medgen_nb.metrics._checks.check_data_range`): a ``target`` whose
  span (max - min) exceeds ``data_range`` by more than 1 % is refused with a ``ValueError``, as are
  ``preds`` spanning more than 100 x ``data_range`` (a unit mistake such as uint8 or HU against
  [0, 1]); ``preds`` spanning more than 1.5 x ``data_range`` give a ``DataRangeWarning``. A little
  overshoot of an unclipped prediction, and a ``data_range`` wider than the images, pass silently.
* ``mask`` (``(B, 1, H, W)``, ``(B, C, H, W)`` or ``(B, H, W)``, binary) restricts a metric to the
  foreground (brain or body), so that a large empty background does not inflate the score.
* SSIM uses a Gaussian window (11 x 11, sigma 1.5) and K1 = 0.01, K2 = 0.03 (Wang et al. 2004), with
  the population (not sample) covariance, and averages the SSIM map over the pixels whose whole
  window lies inside the image (and inside the mask). Unmasked, this equals
  ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)``. (torchmetrics' ``structural_similarity_index_measure`` computes
  the same map, which we reuse, but averages it over reflect-padded borders too.)
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import (
    multiscale_structural_similarity_index_measure,
    structural_similarity_index_measure,
)

from medgen_nb.metrics._checks import ArrayLike, check_data_range, check_images, check_mask

Reduction = Literal["mean", "none"]
REDUCTIONS: tuple[str, ...] = ("mean", "none")
MS_SSIM_BETAS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003


def _reduce(per_image: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return per_image.mean() if reduction == "mean" else per_image


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Per-image mean of a (B, C, H, W) map over the mask (or all pixels): shape (B,)."""
    if mask is None:
        return values.flatten(1).mean(1)
    m = mask.to(values.dtype)
    return (values * m).flatten(1).sum(1) / m.flatten(1).sum(1)


def mae(
    preds: ArrayLike,
    target: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Mean absolute error :math:`\frac1N\sum_i |x_i - y_i|`, in the images' units.

    Args:
        preds, target: ``(B, C, H, W)``.
        mask: optional foreground mask; only its pixels are averaged.
        reduction: ``"mean"`` (0-d) or ``"none"`` (per image, ``(B,)``).
    """
    p, t = check_images(preds, target)
    m = check_mask(mask, p.shape)
    return _reduce(_masked_mean((p - t).abs(), m), reduction)


def mse(
    preds: ArrayLike,
    target: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Mean squared error :math:`\frac1N\sum_i (x_i - y_i)^2`, in squared image units."""
    p, t = check_images(preds, target)
    m = check_mask(mask, p.shape)
    return _reduce(_masked_mean((p - t) ** 2, m), reduction)


def rmse(
    preds: ArrayLike,
    target: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Root mean squared error per image (the mean is taken over per-image RMSEs)."""
    return _reduce(mse(preds, target, mask=mask, reduction="none").sqrt(), reduction)


def psnr(
    preds: ArrayLike,
    target: ArrayLike,
    *,
    data_range: float,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Peak signal-to-noise ratio in dB, :math:`10\log_{10}(\mathrm{data\_range}^2/\mathrm{MSE})`.

    Args:
        data_range: width of the possible intensity range (1.0 for [0, 1] images; 3000 for HU in
            [-1000, 2000]); a real scalar, required, never estimated from the images.
    Returns:
        dB; ``inf`` for an image identical to its target.
    Raises:
        ValueError: the target spans more than ``data_range`` (1 % tolerance), or the predictions
            more than 100 x ``data_range``; see the module docstring. Predictions spanning more
            than 1.5 x ``data_range`` give a ``DataRangeWarning``.
    """
    p, t = check_images(preds, target)
    dr = check_data_range(data_range, p, t)
    return _reduce(_psnr(p, t, dr, mask), reduction)


def _psnr(p: torch.Tensor, t: torch.Tensor, dr: float, mask: ArrayLike | None) -> torch.Tensor:
    """Per-image PSNR of checked float64 images."""
    return 10.0 * torch.log10(dr**2 / mse(p, t, mask=mask, reduction="none"))


def ssim_map(
    preds: ArrayLike,
    target: ArrayLike,
    *,
    data_range: float,
    kernel_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """The local SSIM index at every pixel, ``(B, C, H, W)`` (borders use reflect padding).

    Computed in float32 on ``x / data_range`` (equivalent, and much faster than float64 on CPU).
    ``data_range`` is checked against the values as for :func:`psnr` (see the module docstring).
    """
    p, t = check_images(preds, target)
    dr = check_data_range(data_range, p, t)
    return _ssim_map(p, t, dr, kernel_size, sigma, k1, k2)


def _ssim_map(
    p: torch.Tensor,
    t: torch.Tensor,
    dr: float,
    kernel_size: int,
    sigma: float,
    k1: float,
    k2: float,
) -> torch.Tensor:
    """:func:`ssim_map` of checked float64 images and a checked ``data_range``."""
    if not isinstance(kernel_size, int) or kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd int >= 3, got {kernel_size!r}")
    if min(p.shape[-2:]) <= kernel_size:
        raise ValueError(
            f"images of size {tuple(p.shape[-2:])} are too small for an SSIM window of "
            f"kernel_size={kernel_size}; use larger images or a smaller kernel_size"
        )
    # Scale by data_range (SSIM is invariant to it when c1, c2 scale with it) and convolve in
    # float32: CPU float64 convolutions are ~15x slower; the result agrees with float64 to ~1e-6.
    _, full = structural_similarity_index_measure(
        (p / dr).float(), (t / dr).float(), gaussian_kernel=True, sigma=sigma,
        kernel_size=kernel_size, data_range=1.0, k1=k1, k2=k2, reduction="none",
        return_full_image=True,
    )  # fmt: skip
    return full.double()


def _window_inside(mask: torch.Tensor | None, shape: torch.Size, kernel_size: int) -> torch.Tensor:
    """Pixels whose whole ``kernel_size`` window lies inside the image and inside ``mask``."""
    r = (kernel_size - 1) // 2
    inside = torch.zeros(shape, dtype=torch.bool)
    inside[..., r:-r, r:-r] = True
    if mask is None:
        return inside
    # Binary erosion by a k x k square = a min-pool; zero padding makes the border count as outside.
    eroded = -F.max_pool2d(-mask.to(torch.float64), kernel_size, stride=1, padding=r)
    return inside & (eroded > 0.5)


def ssim(
    preds: ArrayLike,
    target: ArrayLike,
    *,
    data_range: float,
    mask: ArrayLike | None = None,
    kernel_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Structural similarity (Wang et al. 2004), review Table 5.

    .. math:: \mathrm{SSIM} = \frac{(2\mu_x\mu_y + c_1)(2\sigma_{xy} + c_2)}
              {(\mu_x^2 + \mu_y^2 + c_1)(\sigma_x^2 + \sigma_y^2 + c_2)},\quad
              c_1 = (K_1 L)^2,\ c_2 = (K_2 L)^2,\ L = \mathrm{data\_range}

    Local statistics use a Gaussian window of ``kernel_size`` (11) and ``sigma`` (1.5); the map is
    averaged over pixels whose window lies wholly inside the image and the ``mask``, so a masked
    SSIM equals the SSIM of the crop when the mask is a rectangle. Range [-1, 1], 1 = identical.

    Raises:
        ValueError: if no pixel has its window inside the mask (mask too small or too thin); if
            the target spans more than ``data_range`` or the predictions more than 100 x it (see
            the module docstring; over 1.5 x it they warn).
    """
    p, t = check_images(preds, target)
    dr = check_data_range(data_range, p, t)
    return _reduce(_ssim(p, t, dr, mask, kernel_size, sigma, k1, k2), reduction)


def _ssim(
    p: torch.Tensor,
    t: torch.Tensor,
    dr: float,
    mask: ArrayLike | None,
    kernel_size: int,
    sigma: float,
    k1: float,
    k2: float,
) -> torch.Tensor:
    """Per-image masked SSIM of checked float64 images and a checked ``data_range``: ``(B,)``."""
    full = _ssim_map(p, t, dr, kernel_size, sigma, k1, k2)
    m = check_mask(mask, full.shape)
    valid = _window_inside(m, full.shape, kernel_size)
    empty = (~valid.flatten(1).any(1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(
            f"mask leaves no pixel whose {kernel_size}x{kernel_size} SSIM window fits inside it "
            f"for batch item(s) {empty}; use a larger mask or a smaller kernel_size"
        )
    return _masked_mean(full, valid)


def ms_ssim(
    preds: ArrayLike,
    target: ArrayLike,
    *,
    data_range: float,
    kernel_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    betas: tuple[float, ...] = MS_SSIM_BETAS,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Multi-scale SSIM (Wang et al. 2003) via torchmetrics, one value per image.

    Each of the ``len(betas)`` scales halves the image, so the side must exceed
    ``(kernel_size - 1) * 2 ** (len(betas) - 1)``: 160 px for the defaults. For 64-128 px images pass
    fewer scales, e.g. ``betas=(0.0448, 0.2856, 0.3001)`` (torchmetrics renormalises nothing, so the
    result is then a product of three terms). No mask: downsampling mixes foreground and background.
    ``data_range`` is checked against the values as for :func:`psnr` (see the module docstring).
    """
    p, t = check_images(preds, target)
    dr = check_data_range(data_range, p, t)
    need = (kernel_size - 1) * 2 ** (len(betas) - 1)
    if min(p.shape[-2:]) <= need:
        raise ValueError(
            f"MS-SSIM with {len(betas)} scales and kernel_size={kernel_size} needs images larger "
            f"than {need} px, got {tuple(p.shape[-2:])}; pass fewer betas or a smaller kernel_size"
        )
    per_image = multiscale_structural_similarity_index_measure(
        (p / dr).float(), (t / dr).float(), gaussian_kernel=True, sigma=sigma,
        kernel_size=kernel_size, data_range=1.0, k1=k1, k2=k2, betas=betas, reduction="none",
        normalize=None,
    )  # fmt: skip
    return _reduce(per_image.double(), reduction)


def translation_report(
    preds: ArrayLike, target: ArrayLike, *, data_range: float, mask: ArrayLike | None = None
) -> dict[str, torch.Tensor]:
    """All Table 5 metrics per image: ``{"mae", "mse", "rmse", "psnr", "ssim"}`` -> ``(B,)``.

    ``data_range`` is checked once against the values, as for :func:`psnr`.
    """
    p, t = check_images(preds, target)
    dr = check_data_range(data_range, p, t)
    kw = {"mask": mask, "reduction": "none"}
    return {
        "mae": mae(p, t, **kw),
        "mse": mse(p, t, **kw),
        "rmse": rmse(p, t, **kw),
        "psnr": _psnr(p, t, dr, mask),
        "ssim": _ssim(p, t, dr, mask, 11, 1.5, 0.01, 0.03),
    }
