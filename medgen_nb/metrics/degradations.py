"""Controlled image degradations: bad "generators" and translation failures of known strength.

Not metrics themselves, but what the metrics are tested on: :func:`degrade` (blur + noise) makes
sample sets that every creation metric must rank real < mildly degraded < badly degraded, and
:func:`apply_failure` applies one typical failure of a translation model (noise, blur,
misregistration, intensity scaling) at a chosen strength, to show how each paired metric of review
Table 5 reacts. Images are ``(B, C, H, W)`` in [0, 1]; the outputs stay in [0, 1].
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from medgen_nb.metrics._checks import check_unit_range

FailureKind = Literal["noise", "blur", "shift", "scale"]
# What ``level`` means for each kind of failure (units in brackets).
FAILURE_LEVELS: dict[str, str] = {
    "noise": "noise std ([0, 1] units)",
    "blur": "Gaussian blur sigma (px)",
    "shift": "shift to the right (whole px)",
    "scale": "intensity factor",
}


# Images blurred per conv2d call: CPU convolution unfolds its input (im2col), which for a 1 x 13
# kernel is 13 copies of the batch, so 850 slices of 128 px at once took ~1 GB on top of the data.
BLUR_CHUNK = 64


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, C, H, W)`` with std ``sigma`` px (reflect borders).

    Works through the batch in chunks of :data:`BLUR_CHUNK` images to bound the extra memory.
    """
    if sigma <= 0:
        return images
    r = int(3 * sigma) + 1
    t = torch.arange(-r, r + 1, dtype=images.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).to(images.device)
    c = images.shape[1]
    k_row, k_col = k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k_row, groups=c)
        return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k_col, groups=c)

    return torch.cat([blur(images[i : i + BLUR_CHUNK]) for i in range(0, len(images), BLUR_CHUNK)])


def degrade(
    images: torch.Tensor, *, blur_sigma: float, noise_std: float, seed: int = 0
) -> torch.Tensor:
    """Blur by ``blur_sigma`` px, add Gaussian noise of std ``noise_std``, clip to [0, 1]."""
    check_unit_range(images, "images")
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=g, dtype=images.dtype)
    return (gaussian_blur(images, blur_sigma) + noise_std * noise).clamp(0, 1)


def apply_failure(
    images: torch.Tensor, kind: FailureKind, level: float, *, seed: int = 0
) -> torch.Tensor:
    """``images`` ``(B, C, H, W)`` in [0, 1] with one typical translation failure of strength ``level``.

    The failure modes of review §6.1 / Table 5 that pixel metrics weigh differently:

    * ``"noise"``: add Gaussian noise of std ``level`` ([0, 1] units; seeded by ``seed``), clip;
    * ``"blur"``: Gaussian blur with std ``level`` px (:func:`gaussian_blur`, reflect borders);
    * ``"shift"``: move the image ``level`` whole pixels to the right, wrapping around (a
      misregistration; the wrap only moves background when the object is surrounded by zeros);
    * ``"scale"``: multiply intensities by ``level`` (an intensity-scaling error), clip to [0, 1].

    ``level`` 0 (1 for ``"scale"``) returns the images unchanged. Returns ``(B, C, H, W)`` in [0, 1]
    with the dtype of ``images``.

    Raises:
        ValueError: unknown ``kind``, negative ``level``, a ``"shift"`` by a fraction of a pixel,
            or ``images`` not ``(B, C, H, W)`` in [0, 1].
    """
    if kind not in FAILURE_LEVELS:
        raise ValueError(f"kind must be one of {tuple(FAILURE_LEVELS)}, got {kind!r}")
    if not level >= 0:
        raise ValueError(f"level ({FAILURE_LEVELS[kind]}) must be >= 0, got {level!r}")
    if kind == "shift" and level != int(level):
        raise ValueError(f"level for kind 'shift' must be a whole number of pixels, got {level!r}")
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    check_unit_range(images, "images")
    if kind == "noise":
        return degrade(images, blur_sigma=0.0, noise_std=level, seed=seed)
    if kind == "blur":
        return gaussian_blur(images, level)
    if kind == "shift":
        return torch.roll(images, shifts=int(level), dims=-1)
    return (images * level).clamp(0, 1)
