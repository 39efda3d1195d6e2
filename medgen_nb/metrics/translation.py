"""Paired (translation) metrics of review Table 5: MAE, MSE, RMSE, PSNR, SSIM, MS-SSIM.

All take ``preds`` and ``target`` of shape ``(B, C, H, W)``, or volumes ``(B, C, D, H, W)``
(every metric but MS-SSIM; SSIM then uses a K x K x K Gaussian window), and return either one number per image
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
* ``mask`` (``(B, 1, H, W)``, ``(B, C, H, W)`` or ``(B, H, W)``, binary; for volumes the same
  with ``D, H, W``) restricts a metric to the foreground (brain or body), so that a large empty
  background does not inflate the score.
* SSIM uses a Gaussian window of ``kernel_size`` taps (11 x 11, sigma 1.5) and K1 = 0.01,
  K2 = 0.03 (Wang et al. 2004), with the population (not sample) covariance, and averages the SSIM
  map over the pixels whose whole window lies inside the image (and inside the mask). Unmasked,
  this equals ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)``. The window is built here (:func:`gaussian_window`), so
  ``kernel_size`` is honoured: torchmetrics' and scikit-image's Gaussian SSIM ignore it and derive
  the size from sigma (``2 * int(3.5 * sigma + 0.5) + 1``); for the defaults both give 11.
* MS-SSIM is torchmetrics' (whose window follows sigma alone), so :func:`ms_ssim` refuses a
  ``kernel_size`` other than that size rather than silently ignoring it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

from medgen_nb.metrics._checks import (
    ArrayLike,
    Reduction,
    check_data_range,
    check_images,
    check_mask,
    check_positive_number,
    check_reduction,
)

MS_SSIM_BETAS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003


def _reduce(per_image: torch.Tensor, reduction: str) -> torch.Tensor:
    return per_image.mean() if check_reduction(reduction) == "mean" else per_image


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Per-image mean of a (B, C, H, W) map over the bool mask (or all pixels): shape (B,).

    ``values`` is a temporary of the caller and is overwritten (zeroed outside the mask), which
    saves a copy of the size of the whole batch.
    """
    if mask is None:
        return values.flatten(1).mean(1)
    return values.mul_(mask).flatten(1).sum(1) / mask.flatten(1).sum(1)


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
    return _reduce(_masked_mean((p - t).abs_(), m), reduction)


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

    Local means, variances and covariance are Gaussian-weighted over a ``kernel_size`` x
    ``kernel_size`` window of std ``sigma`` px (:func:`gaussian_window`). Convolved in float32 on
    ``x / data_range`` (equivalent, and much faster than float64 on CPU). ``data_range`` is checked
    against the values as for :func:`psnr` (see the module docstring).
    """
    p, t = check_images(preds, target)
    dr = check_data_range(data_range, p, t)
    return _ssim_map(p, t, dr, kernel_size, sigma, k1, k2)


def gaussian_window(kernel_size: int, sigma: float) -> torch.Tensor:
    """The normalised 1-D Gaussian window of SSIM: ``kernel_size`` taps of std ``sigma`` px, ``(K,)``.

    Truncated at ``kernel_size`` whatever ``sigma`` is (torchmetrics and scikit-image instead derive
    the size from sigma, ``2 * int(3.5 * sigma + 0.5) + 1``: 11 for sigma 1.5, so the defaults agree).
    """
    if (
        isinstance(kernel_size, bool)
        or not isinstance(kernel_size, int)
        or kernel_size < 3
        or kernel_size % 2 == 0
    ):
        raise ValueError(f"kernel_size must be an odd int >= 3, got {kernel_size!r}")
    s = check_positive_number(sigma, "sigma")
    x = torch.arange(kernel_size, dtype=torch.float32) - (kernel_size - 1) / 2
    w = torch.exp(-(x**2) / (2 * s**2))
    return w / w.sum()


# Images per chunk of the SSIM map: bounds its memory (five moment images per image) near 10 MB.
SSIM_CHUNK = 64
SSIM_VOLUME_CHUNK = 1  # volumes per chunk: one 64³ volume has as many voxels as 64 64² images


def _ssim_map(
    p: torch.Tensor,
    t: torch.Tensor,
    dr: float,
    kernel_size: int,
    sigma: float,
    k1: float,
    k2: float,
) -> torch.Tensor:
    """:func:`ssim_map` of checked float64 images (or volumes) and a checked ``data_range``."""
    chunk = SSIM_CHUNK if p.ndim == 4 else SSIM_VOLUME_CHUNK
    if len(p) > chunk:  # the windowed moments of a whole test split at once peak at GBs
        return torch.cat(
            [
                _ssim_map(p[i : i + chunk], t[i : i + chunk], dr, kernel_size, sigma, k1, k2)
                for i in range(0, len(p), chunk)
            ]
        )
    w = gaussian_window(kernel_size, sigma)
    spatial = tuple(p.shape[2:])  # (H, W) or (D, H, W)
    if min(spatial) <= kernel_size:
        raise ValueError(
            f"images of size {spatial} are too small for an SSIM window of "
            f"kernel_size={kernel_size}; use larger images or a smaller kernel_size"
        )
    # Scale by data_range (SSIM is invariant to it when c1, c2 scale with it) and convolve in
    # float32: CPU float64 convolutions are ~15x slower; the result agrees with float64 to ~1e-6.
    x, y = (p / dr).float(), (t / dr).float()
    b, c = x.shape[:2]
    r = (kernel_size - 1) // 2
    stack = torch.cat([x, y, x * x, y * y, x * y]).reshape(5 * b * c, 1, *spatial)
    stack = F.pad(stack, (r, r) * len(spatial), mode="reflect")
    if len(spatial) == 2:
        # One pass of the (K, K) window w w^T over the five moment images x, y, x², y², xy (a
        # single 2-D convolution is faster on CPU than two 1-D passes; the result is the same).
        stack = F.conv2d(stack, (w[:, None] * w[None, :])[None, None])
    else:
        # The (K, K, K) window is separable: three 1-D passes of K taps instead of K³ per voxel.
        for axis in range(3):
            taps = [1, 1, 1, 1, 1]
            taps[2 + axis] = kernel_size
            stack = F.conv3d(stack, w.view(taps))
    mu_x, mu_y, e_xx, e_yy, e_xy = stack.reshape(5, b, c, *spatial)
    sigma_x2 = (e_xx - mu_x**2).clamp_min(0)  # population variances; clamp rounding below 0
    sigma_y2 = (e_yy - mu_y**2).clamp_min(0)
    sigma_xy = e_xy - mu_x * mu_y
    c1, c2 = k1**2, k2**2  # (K L)^2 with L = 1 after the scaling above
    index = ((2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (sigma_x2 + sigma_y2 + c2)
    )
    return index.double()


def _window_inside(mask: torch.Tensor | None, shape: torch.Size, kernel_size: int) -> torch.Tensor:
    """Pixels whose whole ``kernel_size`` window lies inside the image and inside ``mask``."""
    r = (kernel_size - 1) // 2
    inside = torch.zeros(shape, dtype=torch.bool)
    inside[(..., *[slice(r, -r)] * (len(shape) - 2))] = True
    if mask is None:
        return inside
    # Binary erosion by a k x k (x k) box = a min-pool; zero padding makes the border count as
    # outside.
    pool = F.max_pool2d if len(shape) == 4 else F.max_pool3d
    eroded = -pool(-mask.to(torch.float64), kernel_size, stride=1, padding=r)
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

    Each scale's contrast-structure term (and the last scale's SSIM) is clipped at 0 before it is
    raised to its beta (torchmetrics' ``normalize="relu"``): a poor output, whose term is negative
    at some scale, scores a number near 0 instead of NaN (a negative number to a fractional power).

    Raises:
        ValueError: ``kernel_size`` is not the Gaussian window size torchmetrics derives from
            ``sigma`` (``2 * int(3.5 * sigma + 0.5) + 1``, 11 for sigma 1.5), which it would
            silently use instead; images too small for the scales; ``data_range`` as for psnr.
    """
    p, t = check_images(preds, target)
    if p.ndim != 4:
        raise ValueError(
            f"ms_ssim takes images (B, C, H, W), got shape {tuple(p.shape)}; score volumes with "
            "ssim(), which works in 3-D"
        )
    dr = check_data_range(data_range, p, t)
    s = check_positive_number(sigma, "sigma")
    window = 2 * int(3.5 * s + 0.5) + 1
    if kernel_size != window:
        raise ValueError(
            f"ms_ssim's Gaussian window follows sigma: sigma={s:g} gives {window} x {window} px, "
            f"but kernel_size={kernel_size!r}; pass kernel_size={window}, or choose sigma for the "
            "window you want (ssim() honours any kernel_size)"
        )
    need = (kernel_size - 1) * 2 ** (len(betas) - 1)
    if min(p.shape[-2:]) <= need:
        raise ValueError(
            f"MS-SSIM with {len(betas)} scales and kernel_size={kernel_size} needs images larger "
            f"than {need} px, got {tuple(p.shape[-2:])}; pass fewer betas, or a smaller sigma with its kernel_size"
        )
    per_image = multiscale_structural_similarity_index_measure(
        (p / dr).float(), (t / dr).float(), gaussian_kernel=True, sigma=s,
        kernel_size=kernel_size, data_range=1.0, k1=k1, k2=k2, betas=betas, reduction="none",
        normalize="relu",
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
