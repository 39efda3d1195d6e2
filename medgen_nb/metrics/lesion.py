"""Does a translated image keep a lesion? Lesion-versus-surroundings contrast.

Whole-image PSNR and SSIM (review Table 5, §6.1) barely move when a small lesion is erased or
invented, because the lesion covers a few percent of the pixels. Unpaired translation with a
cycle-consistency loss can do exactly that when the two domains' training images differ in lesion
content (Cohen, Luck & Honari, MICCAI 2018, "Distribution matching losses can hallucinate
features in medical image translation"; Pang et al. 2025, §7.2 on the reliability of generated
images). This module measures what such a failure changes: the lesion's contrast to the tissue
around it,

.. math:: C(x) = \\overline{x}_{L} - \\overline{x}_{R},

where :math:`L` is the lesion mask and :math:`R` a ring of ``ring_px`` pixels around it (inside the
optional foreground mask), and the *retained contrast* :math:`C(\\hat y) / C(y)` of a prediction
:math:`\\hat y` against the reference :math:`y` (1: lesion kept, 0: erased, < 0: inverted).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from medgen_nb.metrics._checks import ArrayLike, Reduction, as_tensor, check_reduction


def lesion_ring(
    lesion: ArrayLike, *, ring_px: int = 3, mask: ArrayLike | None = None
) -> torch.Tensor:
    """Boolean ring of pixels within ``ring_px`` (chessboard distance) of ``lesion``, outside it.

    Args:
        lesion: ``(B, 1, H, W)`` lesion masks (nonzero = lesion).
        ring_px: ring width in pixels (>= 1).
        mask: optional ``(B, 1, H, W)`` foreground (e.g. head) mask; the ring is kept inside it.
    Returns:
        ``(B, 1, H, W)`` bool.
    """
    if isinstance(ring_px, bool) or not isinstance(ring_px, int) or ring_px < 1:
        raise ValueError(f"ring_px must be an int >= 1, got {ring_px!r}")
    les = as_tensor(lesion, "lesion")
    if les.ndim != 4 or les.shape[1] != 1:
        raise ValueError(f"lesion must have shape (B, 1, H, W), got {tuple(les.shape)}")
    inside = les > 0
    grown = F.max_pool2d(inside.double(), 2 * ring_px + 1, stride=1, padding=ring_px) > 0
    ring = grown & ~inside
    if mask is not None:
        m = as_tensor(mask, "mask")
        if m.shape != les.shape:
            raise ValueError(
                f"mask must have the lesion's shape {tuple(les.shape)}, got {tuple(m.shape)}"
            )
        ring &= m > 0
    return ring


def lesion_contrast(
    images: ArrayLike, lesion: ArrayLike, *, ring_px: int = 3, mask: ArrayLike | None = None
) -> torch.Tensor:
    """Per image, mean intensity inside ``lesion`` minus mean in the surrounding ring: ``(B,)``.

    Args:
        images: ``(B, 1, H, W)`` in their own units (e.g. [0, 1]).
        lesion, ring_px, mask: as in :func:`lesion_ring`.
    Raises:
        ValueError: if an image has an empty lesion or an empty ring.
    """
    x = as_tensor(images, "images")
    les = as_tensor(lesion, "lesion")
    if x.shape != les.shape:
        raise ValueError(
            f"images and lesion must have the same shape, got {tuple(x.shape)} and "
            f"{tuple(les.shape)}"
        )
    inside = les > 0
    ring = lesion_ring(les, ring_px=ring_px, mask=mask)
    n_in, n_ring = inside.flatten(1).sum(1), ring.flatten(1).sum(1)
    empty = ((n_in == 0) | (n_ring == 0)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(
            f"batch item(s) {empty} have no lesion pixel or no ring pixel; pass only slices with "
            f"a lesion (and a ring inside the mask)"
        )
    mean_in = (x * inside).flatten(1).sum(1) / n_in
    mean_ring = (x * ring).flatten(1).sum(1) / n_ring
    return mean_in - mean_ring


def retained_contrast(
    preds: ArrayLike,
    target: ArrayLike,
    *,
    lesion: ArrayLike,
    ring_px: int = 3,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """``lesion_contrast(preds) / lesion_contrast(target)``: 1 = lesion kept, 0 = erased.

    A paired metric (``preds`` then ``target``; the rest by keyword): ``reduction="mean"`` gives
    the mean of the per-image ratios (0-d), ``"none"`` the ratios ``(B,)``.
    """
    check_reduction(reduction)
    ratio = lesion_contrast(preds, lesion, ring_px=ring_px, mask=mask) / lesion_contrast(
        target, lesion, ring_px=ring_px, mask=mask
    )
    return ratio.mean() if reduction == "mean" else ratio
