"""Bootstrap confidence intervals, and FID's small-sample bias.

Every distribution metric is an estimate from finite samples; a difference between two models
means little without an interval. :func:`bootstrap_ci` gives one for a statistic of one sample
(percentile bootstrap, resampling with replacement) or of a real and a fake set (half-sampling
without replacement: see its docstring for why, and for what that interval describes).
:func:`mean_ci` does the same for per-image values (translation metrics, Dice), and
:func:`cluster_mean_ci` resamples subjects instead of slices.

Infinite values are refused, not dropped: an interval over them is undefined ("inf [7.7, nan]"),
and dropping them would silently change the mean (an ``inf`` PSNR is a *perfect* image). Cap or
remove them yourself, saying so (e.g. ``psnr.clamp(max=100)``). NaN keeps its documented meaning
in :func:`mean_ci` ("no value for this item", e.g. an image without bone) and is skipped.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from medgen_nb.metrics._checks import ArrayLike, SmallSampleWarning, as_tensor, check_features
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

    def __format__(self, spec: str) -> str:
        """``f"{iv:.2f}"`` -> ``"21.07 [20.51, 21.60]"``: the spec applies to all three numbers."""
        if not spec:
            return str(self)
        return f"{self.value:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def _check_boot(n_boot: int, confidence: float) -> None:
    if not isinstance(n_boot, int) or n_boot < 10:
        raise ValueError(f"n_boot must be an int >= 10, got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def _refuse_inf(x: torch.Tensor | np.ndarray, name: str, fix: str) -> None:
    n_inf = int(np.isinf(np.asarray(x)).sum())
    if n_inf:
        raise ValueError(
            f"{name} contains {n_inf} infinite value(s) (of {np.asarray(x).size}); a mean or "
            f"interval over them is undefined. {fix}"
        )


def _check_statistic(value: float, draws: np.ndarray, key: str | None) -> None:
    """Refuse a statistic that was not finite on the full sample or on some resamples."""
    what = "statistic" if key is None else f"statistic[{key!r}]"
    if not np.isfinite(float(value)):
        raise ValueError(
            f"{what} is {float(value)} on the full sample; a bootstrap interval needs a finite "
            "statistic"
        )
    bad = int((~np.isfinite(draws)).sum())
    if bad:
        raise ValueError(
            f"{what} is NaN or inf in {bad} of {draws.size} bootstrap resamples (e.g. a ratio "
            "whose denominator can resample to 0), so its interval is undefined; use a statistic "
            "that is finite on every resample"
        )


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
    """Confidence interval of ``statistic(real=real, fake=fake, **kwargs)`` or ``statistic(real)``.

    Args:
        statistic: e.g. :func:`fid`, :func:`mmd`, :func:`kid`, :func:`precision_recall`,
            :func:`~medgen_nb.metrics.creation.mode_score` (called as ``statistic(real=...,
            fake=...)``, the distribution-metric convention), or a one-sample statistic such as
            :func:`inception_score` (leave ``fake`` None; called as ``statistic(real)``). A
            statistic returning a dict gets one interval per key.
        real, fake: sample sets whose first axis indexes samples (features ``(N, D)``,
            probabilities ``(N, K)``, images ``(N, C, H, W)``).
        n_boot: number of resamples (>= 10; 200 is enough for a 95 % interval to ~0.01 precision).
        seed: seeds the resampling so intervals are reproducible.

    **Two samples** (``fake`` given): each draw takes ``n // 2`` of the ``n`` rows of ``real`` and of
    ``fake`` *without* replacement. Resampling with replacement repeats about a third of the rows;
    to FID that is a smaller, less diverse sample, biased upwards, and to the k-NN radii of
    precision/recall a repeated row is a neighbour at distance 0, so the radii shrink: the
    resampled values sat beside the point estimate, not around it (an FID interval entirely above
    its own value). Half-samples have no repeats, and for a smooth statistic the spread of a
    half-sample drawn without replacement around the full-sample value matches the spread of the
    full-sample value between independent data sets (the finite-population factor
    ``1 - m / n = 1 / 2`` offsets the doubled variance of ``m = n / 2`` rows; the delete-d
    jackknife with d = n / 2). The half-samples are still smaller than the data, so their values
    are shifted (FID up by its ~1/N bias); the interval is therefore the half-sample percentiles
    *moved by that shift*, so that their mean lands on the full-sample value:

        ``[value + q_low - mean, value + q_high - mean]`` of the half-sample values ``q``.

    It is a confidence interval for the *expected value of the metric at these sample sizes* (N
    real and M fake rows from the same two distributions), not for its large-N limit: FID's
    small-sample bias is in the value and in the interval alike, so compare only intervals of
    equal N (:func:`fid_vs_n` shows the bias). Checked on Gaussian features, nominal 95 %: FID at
    N = 100, D = 16 covered that expectation in 96-99 % of 100 data sets (1.0-1.6 x the width the
    sampling spread needs), precision and recall at N = 150, D = 8 in 97 % and 92 % of 60
    (``benchmarks/bootstrap_coverage.py``; resampling with replacement covered it in 0-64 % and
    40-50 %). It is
    not clipped to a metric's range (a precision near 1 can get an upper end just above 1). Needs
    ``n // 2`` rows to be enough for the statistic (FID: 2 per set, precision/recall: k + 1).

    Keyword arguments that a statistic declares in its ``fixed_from_real`` attribute (MMD's
    ``bandwidth``: :func:`~medgen_nb.metrics.creation.median_bandwidth`) and that the caller did
    not pass are computed once from the full ``real`` set and passed to every draw, so that all
    draws use one kernel.

    **One sample** (``fake`` None): the percentile bootstrap, ``len(real)`` rows drawn with
    replacement (right for means and smooth functions of means such as a ratio of means or IS).

    A :class:`~medgen_nb.metrics._checks.SmallSampleWarning` (FID below its minimum N) is issued
    once, for the full sample; the draws do not repeat it.

    Raises:
        ValueError: ``real`` or ``fake`` contains infinite values or has fewer than 2 samples (4
            for two samples), or ``statistic`` is NaN or infinite on the full sample or on any
            resample (the interval would be undefined).
    """
    _check_boot(n_boot, confidence)
    samples = [as_tensor(real, "real")] + ([] if fake is None else [as_tensor(fake, "fake")])
    need = 2 if fake is None else 4  # two-sample draws keep n // 2 >= 2 rows
    for s, name in zip(samples, ("real", "fake"), strict=False):
        if s.ndim == 0 or s.shape[0] < need:
            raise ValueError(
                f"{name} needs at least {need} samples for a bootstrap, got {tuple(s.shape)}"
            )
        _refuse_inf(s, name, "Remove or cap those samples first.")
    rng = np.random.default_rng(seed)
    if fake is None:

        def draw() -> list[torch.Tensor]:
            return [torch.from_numpy(rng.integers(0, len(samples[0]), len(samples[0])))]

        def call(parts: list[torch.Tensor]) -> float | dict[str, float]:
            return statistic(parts[0], **kwargs)
    else:
        fixed = getattr(statistic, "fixed_from_real", {})
        kwargs = {**{k: fn(samples[0]) for k, fn in fixed.items() if k not in kwargs}, **kwargs}

        def draw() -> list[torch.Tensor]:
            return [torch.from_numpy(rng.permutation(len(s))[: len(s) // 2]) for s in samples]

        def call(parts: list[torch.Tensor]) -> float | dict[str, float]:
            return statistic(real=parts[0], fake=parts[1], **kwargs)

    value = call(samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)  # already said for the full sample
        draws = [call([s[i] for s, i in zip(samples, draw(), strict=True)]) for _ in range(n_boot)]
    keys = list(value) if isinstance(value, dict) else [None]
    per_key = {k: np.array([d if k is None else d[k] for d in draws], dtype=float) for k in keys}
    intervals = {}
    for k, stacked in per_key.items():
        v = value if k is None else value[k]
        _check_statistic(v, stacked, k)
        if fake is not None:  # move the half-sample values so that their mean is the value
            stacked = stacked - stacked.mean() + float(v)
        intervals[k] = _interval(v, stacked, confidence, n_boot)
    return intervals[None] if keys == [None] else intervals


def mean_ci(
    per_item: ArrayLike, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Bootstrap CI of the mean of per-image (or per-case) values, e.g. ``psnr(..., reduction="none")``.

    NaNs (e.g. an image without bone in :func:`ct_mae_hu`) are ignored.

    Raises:
        ValueError: ``per_item`` contains ``inf`` or ``-inf`` (e.g. the PSNR of an image identical
            to its target); they are refused, not dropped, because dropping them changes the mean.
            Cap them (``per_item.clamp(max=100)``) or remove them, and say so when reporting.
    """
    _check_boot(n_boot, confidence)
    v = as_tensor(per_item, "per_item").flatten().numpy()
    fix = (
        "An inf PSNR is an image identical to its target: cap the values, e.g. "
        "per_item.clamp(max=100), or drop those items, and report how many you changed."
    )
    _refuse_inf(v, "per_item", fix)
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
            fid(
                r[rng.choice(len(r), n, replace=False)],
                f[rng.choice(len(f), n, replace=False)],
                warn_small_n=False,  # small N is the point here
            )
            for _ in range(repeats)
        ]
        out[int(n)] = (float(np.mean(vals)), float(np.std(vals)))
    return out


def cluster_means(per_item: ArrayLike, clusters: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``per_item`` within each cluster (e.g. subject), ignoring NaN.

    Returns ``(cluster_ids, means)``, sorted by id; a cluster whose values are all NaN is left out.
    """
    v = as_tensor(per_item, "per_item").flatten().double().numpy()
    c = np.asarray(as_tensor(clusters, "clusters").flatten().numpy())
    if v.shape != c.shape:
        raise ValueError(
            f"per_item and clusters must have one entry each per item, got {v.shape} and {c.shape}"
        )
    if np.isinf(v).any():
        raise ValueError(
            f"per_item holds {int(np.isinf(v).sum())} infinite values (e.g. the PSNR of an image "
            "identical to its target); clamp them (e.g. .clamp(max=100)) before averaging"
        )
    ids, means = [], []
    for cid in np.unique(c):
        vals = v[(c == cid) & ~np.isnan(v)]
        if vals.size:
            ids.append(cid)
            means.append(vals.mean())
    return np.asarray(ids), np.asarray(means, dtype=np.float64)


def cluster_mean_ci(
    per_item: ArrayLike,
    clusters: ArrayLike,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Cluster-bootstrap CI of the mean over clusters (subjects) of each cluster's mean.

    Slices of one subject are correlated (same anatomy, same scanner), so resampling slices as if
    they were independent gives intervals that are too narrow. Here whole subjects are resampled
    with replacement: the point estimate is the mean of the per-subject means (each subject
    weighs the same), and the interval is the percentile interval of that mean over resamples.
    Needs at least 2 subjects with a finite value.
    """
    _check_boot(n_boot, confidence)
    _, means = cluster_means(per_item, clusters)
    if means.size < 2:
        raise ValueError(
            f"a subject-level interval needs at least 2 subjects with values, got {means.size}; "
            "test on more subjects"
        )
    rng = np.random.default_rng(seed)
    draws = means[rng.integers(0, means.size, (n_boot, means.size))].mean(1)
    return _interval(float(means.mean()), draws, confidence, n_boot)
