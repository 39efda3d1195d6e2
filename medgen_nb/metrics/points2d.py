"""Mode coverage of samples from a mixture with known centres (the 2-D GAN benchmark)."""

from __future__ import annotations

import torch


def mode_coverage(
    samples: torch.Tensor, centres: torch.Tensor, *, tolerance: float, min_share: float = 0.1
) -> dict[str, float | int | torch.Tensor]:
    """How many mixture modes a set of samples reaches, and how many samples are on a mode.

    A sample is *on a mode* (high quality, in the words of Srivastava et al. 2017) when it lies
    within ``tolerance`` of its nearest centre; they use three standard deviations of the modes,
    a looser ``tolerance`` suits generators trained for seconds. A mode is *covered* when it holds
    at least ``min_share`` of the samples an equal share would give it.

    Args:
        samples: ``(N, 2)`` generated points.
        centres: ``(K, 2)`` the modes' centres (e.g. :func:`medgen_nb.data.points2d.ring_centres`).
        tolerance: distance from a centre within which a sample counts for that mode.

    Returns:
        ``{"modes": covered modes (int), "high_quality": fraction of samples on a mode,
        "counts": (K,) high-quality samples per mode}``.
    """
    if samples.ndim != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples must be (N, {centres.shape[1]}), got {tuple(samples.shape)}")
    if not torch.isfinite(samples).all():
        raise ValueError("samples contain NaN or infinite values")
    distance, nearest = torch.cdist(samples.float(), centres.float()).min(1)
    if tolerance <= 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    good = distance < tolerance
    counts = torch.bincount(nearest[good], minlength=len(centres))
    covered = int((counts >= min_share * len(samples) / len(centres)).sum())
    return {"modes": covered, "high_quality": float(good.float().mean()), "counts": counts}
