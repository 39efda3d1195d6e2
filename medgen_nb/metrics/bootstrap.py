"""Bootstrap confidence intervals, and FID's small-sample bias.

Every distribution metric is an estimate from finite samples; a difference between two models
means little without an interval. :func:`bootstrap_ci` resamples the real and generated sets
(independently, with replacement) and reports the percentile interval of the statistic.
:func:`mean_ci` does the same for per-image values (translation metrics, Dice).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from medgen_nb.metrics._checks import ArrayLike, as_tensor, check_features
from medgen_nb.metrics.creation import fid


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile-bootstrap confidence interval."""

    value: float
    low: float
    high: float
    confidence: float
    n_boot: int

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}] ({self.confidence:.0%} CI)"


def _check_boot(n_boot: int, confidence: float) -> None:
    if not isinstance(n_boot, int) or n_boot < 10:
        raise ValueError(f"n_boot must be an int >= 10, got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def _interval(value: float, draws: np.ndarray, confidence: float, n_boot: int) -> Interval:
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return Interval(float(value), float(low), float(high), confidence, n_boot)


def bootstrap_ci(
    statistic: Callable[..., float | dict[str, float]],
    real: ArrayLike,
    fake: ArrayLike | None = None,
    *,
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    **kwargs,
) -> Interval | dict[str, Interval]:
    """Percentile bootstrap CI of ``statistic(real, fake, **kwargs)`` (or ``statistic(real)``).

    Args:
        statistic: e.g. :func:`fid`, :func:`mmd`, :func:`kid`, :func:`precision_recall`,
            :func:`inception_score` (one sample: leave ``fake`` None). A statistic returning a
            dict gets one interval per key.
        real, fake: sample sets whose first axis indexes samples (features ``(N, D)``,
            probabilities ``(N, K)``, images ``(N, C, H, W)``).
        n_boot: number of resamples (>= 10; 200 is enough for a 95 % interval to ~0.01 precision).
        seed: seeds the resampling so intervals are reproducible.
    Statistics with the attribute ``accepts_sample_ids`` (the unbiased kernel estimators) also
    receive the original indices of each resampled row, so repeated rows are not counted as
    independent pairs (that would bias MMD/KID upwards).
    """
    _check_boot(n_boot, confidence)
    samples = [as_tensor(real, "real")] + ([] if fake is None else [as_tensor(fake, "fake")])
    for s, name in zip(samples, ("real", "fake"), strict=False):
        if s.ndim == 0 or s.shape[0] < 2:
            raise ValueError(
                f"{name} needs at least 2 samples for a bootstrap, got {tuple(s.shape)}"
            )
    pass_ids = getattr(statistic, "accepts_sample_ids", False) and fake is not None
    value = statistic(*samples, **kwargs)
    rng = np.random.default_rng(seed)
    draws: list = []
    for _ in range(n_boot):
        idx = [torch.from_numpy(rng.integers(0, len(s), len(s))) for s in samples]
        extra = {"sample_ids": tuple(idx)} if pass_ids else {}
        draws.append(
            statistic(*(s[i] for s, i in zip(samples, idx, strict=True)), **kwargs, **extra)
        )
    if isinstance(value, dict):
        return {
            key: _interval(value[key], np.array([d[key] for d in draws]), confidence, n_boot)
            for key in value
        }
    return _interval(value, np.array(draws, dtype=float), confidence, n_boot)


def mean_ci(
    per_item: ArrayLike, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Bootstrap CI of the mean of per-image (or per-case) values, e.g. ``psnr(..., reduction="none")``.

    NaNs (e.g. an image without bone in :func:`ct_mae_hu`) are ignored.
    """
    _check_boot(n_boot, confidence)
    v = as_tensor(per_item, "per_item").flatten().numpy()
    v = v[~np.isnan(v)]
    if v.size < 2:
        raise ValueError(f"per_item needs at least 2 non-NaN values, got {v.size}")
    rng = np.random.default_rng(seed)
    draws = v[rng.integers(0, v.size, (n_boot, v.size))].mean(1)
    return _interval(float(v.mean()), draws, confidence, n_boot)


def fid_vs_n(
    real: ArrayLike,
    fake: ArrayLike,
    sizes: Sequence[int] = (16, 32, 64, 128, 256, 512),
    *,
    repeats: int = 5,
    seed: int = 0,
) -> dict[int, tuple[float, float]]:
    """FID of random subsets of ``n`` real and ``n`` fake features, for each ``n`` in ``sizes``.

    Shows FID's upward small-sample bias: even two samples of one distribution give FID > 0 that
    shrinks roughly like 1/n. Returns ``{n: (mean, std)}`` over ``repeats`` subsets (without
    replacement). Every ``n`` must be >= 2 and at most the smaller set's size.
    """
    r, f = check_features(real, "real"), check_features(fake, "fake")
    limit = min(len(r), len(f))
    bad = [n for n in sizes if not 2 <= n <= limit]
    if bad:
        raise ValueError(f"sizes must lie in [2, {limit}] (the smaller sample size), got {bad}")
    rng = np.random.default_rng(seed)
    out = {}
    for n in sizes:
        vals = [
            fid(r[rng.choice(len(r), n, replace=False)], f[rng.choice(len(f), n, replace=False)])
            for _ in range(repeats)
        ]
        out[int(n)] = (float(np.mean(vals)), float(np.std(vals)))
    return out
