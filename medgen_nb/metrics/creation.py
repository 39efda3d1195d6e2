"""Unpaired (creation) metrics of review Table 1: IS, MS, kernel MMD, KID, WD and FID.

Distribution metrics compare ``real`` and ``fake`` **feature matrices** ``(N, D)`` (from
:func:`medgen_nb.metrics.features.extract_features`, or any embedding) except the 1-D Wasserstein
distance, which compares raw intensities. IS and MS take class probabilities ``(N, K)``. All are
computed in float64 and returned as Python floats; wrap them in
:func:`medgen_nb.metrics.bootstrap.bootstrap_ci` for confidence intervals. The reference set comes
first, ``(real, fake)``; :func:`mode_score`, whose order was once the other way round, takes both
by keyword only.

Minimum sample sizes: covariance-based FID needs at least 2 samples and is biased upwards at
small N (the bias falls roughly as 1/N; see :func:`medgen_nb.metrics.bootstrap.fid_vs_n`), so only
compare FIDs computed with the same N, and use N >= 5 x the feature dimension (>= 640 for the
128-d medical feature network) for numbers you report: :func:`fid` warns with a
:class:`~medgen_nb.metrics._checks.SmallSampleWarning` below that (``warn_small_n=False``
silences it, as :func:`~medgen_nb.metrics.bootstrap.fid_vs_n` does on purpose). MMD and KID are
unbiased at any N >= 2 but their CIs are wide below a few hundred samples; they do not warn.

Kernels are fixed by the reference set, never by the sample being scored: MMD's Gaussian bandwidth
is :func:`median_bandwidth` of ``real`` alone (or a number you pass), so every model scored against
one real set, and every bootstrap draw, is measured with the same kernel; KID's cubic kernel
:math:`(x^\top y / D + 1)^3` has no data-dependent parameter at all.
"""

from __future__ import annotations

import numpy as np
import torch

from medgen_nb.metrics._checks import (
    ArrayLike,
    as_tensor,
    check_features,
    check_finite,
    check_positive_number,
    check_same_dim,
    warn_small_sample,
)

# Relative tolerance of the covariance checks in frechet_distance: asymmetry and negative
# eigenvalues up to 1e-5 x the largest |entry| / |eigenvalue| are rounding (float32 covariances).
COV_TOLERANCE = 1e-5


def _check_probs(probs: ArrayLike, name: str) -> torch.Tensor:
    p = check_features(probs, name, min_rows=1)
    if float(p.min()) < 0 or not torch.allclose(
        p.sum(1), torch.ones(p.shape[0], dtype=p.dtype), atol=1e-4
    ):
        raise ValueError(
            f"{name} must be class probabilities (N, K): non-negative rows summing to 1 "
            "(apply softmax to logits first)"
        )
    return p


def _kl_rows(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p_i || q) for each row p_i, in nats; 0 log 0 = 0."""
    ratio = torch.where(p > 0, p / q.clamp_min(1e-300), torch.ones_like(p))
    return (p * ratio.log()).sum(-1)


def inception_score(fake: ArrayLike) -> float:
    r"""Inception Score, :math:`\exp(\mathbb{E}_x KL(p(y|x) \| p(y)))` (review Table 1).

    Args:
        fake: ``(N, K)`` class probabilities p(y|x) of generated images from any classifier (the
            medical feature network's slice-level head:
            :func:`~medgen_nb.metrics.features.class_probabilities`).
    Returns:
        a number in [1, K]: 1 when every prediction is the same (or uniform); K when predictions
        are confident and the classes are used equally often.
    """
    p = _check_probs(fake, "fake")
    p_y = p.mean(0)  # marginal p(y) over generated images
    return float(_kl_rows(p, p_y).mean().exp())


def mode_score(*, real: ArrayLike, fake: ArrayLike) -> float:
    r"""Mode Score, :math:`\exp(\mathbb{E}_x KL(p(y|x)\|p(y)) - KL(p(y)\|p(y^*)))` (review Table 1).

    The extra term penalises a generated class histogram p(y) that differs from the real one
    p(y*).

    Args:
        real: ``(M, K)`` class probabilities of real images (p(y*) is their mean).
        fake: ``(N, K)`` class probabilities of generated images.

    Both by keyword only (``mode_score(real=p_real, fake=p_fake)``): the order used to be
    ``(fake, real)``, and the two have the same shape, so a positional call in either order would
    compute something without complaint.
    """
    pf = _check_probs(fake, "fake")
    pr = _check_probs(real, "real")
    check_same_dim(pr, pf, ("real", "fake"))
    p_y, p_y_star = pf.mean(0), pr.mean(0)
    gap = _kl_rows(p_y[None], p_y_star)[0]
    return float((_kl_rows(pf, p_y).mean() - gap).exp())


def frechet_distance(mu1: ArrayLike, cov1: ArrayLike, mu2: ArrayLike, cov2: ArrayLike) -> float:
    r"""Fréchet (2-Wasserstein) distance² between Gaussians N(mu1, cov1) and N(mu2, cov2).

    .. math:: \|\mu_1 - \mu_2\|^2 + \mathrm{Tr}(C_1 + C_2 - 2 (C_1 C_2)^{1/2})

    :math:`\mathrm{Tr}(C_1C_2)^{1/2}` is computed as the sum of square roots of the eigenvalues of
    the symmetric :math:`C_1^{1/2} C_2 C_1^{1/2}`, which is stable for singular covariances.

    Raises:
        ValueError: shapes that do not match, NaN or infinite entries, or a covariance that is not
            symmetric positive semi-definite (asymmetry or a negative eigenvalue beyond
            :data:`COV_TOLERANCE` relative to its scale: not a covariance matrix).
    """
    given = {"mu1": mu1, "cov1": cov1, "mu2": mu2, "cov2": cov2}
    tensors = {name: as_tensor(x, name) for name, x in given.items()}
    m1, m2 = tensors["mu1"].numpy(), tensors["mu2"].numpy()
    c1, c2 = tensors["cov1"].numpy(), tensors["cov2"].numpy()
    d = m1.shape[0] if m1.ndim else -1
    if m1.shape != (d,) or m2.shape != (d,) or c1.shape != (d, d) or c2.shape != (d, d):
        raise ValueError(
            f"need mu (D,) and cov (D, D) of one D, got {m1.shape}, {c1.shape}, {m2.shape}, {c2.shape}"
        )
    for name, x in tensors.items():
        check_finite(x, name)
    w1, v1 = np.linalg.eigh((c1 + c1.T) / 2)
    _check_covariance(c1, w1, "cov1")
    _check_covariance(c2, np.linalg.eigvalsh((c2 + c2.T) / 2), "cov2")
    sqrt_c1 = (v1 * np.sqrt(w1.clip(min=0))) @ v1.T
    middle = sqrt_c1 @ c2 @ sqrt_c1
    tr_sqrt = np.sqrt(np.linalg.eigvalsh((middle + middle.T) / 2).clip(min=0)).sum()
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * tr_sqrt)


def _check_covariance(c: np.ndarray, eigenvalues: np.ndarray, name: str) -> None:
    """Refuse a matrix that is not symmetric positive semi-definite (beyond rounding)."""
    scale = float(np.abs(c).max())
    asymmetry = float(np.abs(c - c.T).max())
    if asymmetry > COV_TOLERANCE * scale:
        raise ValueError(
            f"{name} is not symmetric (max |C - C^T| = {asymmetry:.3g} for entries up to "
            f"{scale:.3g}); pass a covariance matrix, e.g. torch.cov(features.T)"
        )
    lowest, top = float(eigenvalues.min()), float(np.abs(eigenvalues).max())
    if lowest < -COV_TOLERANCE * top:
        raise ValueError(
            f"{name} is not positive semi-definite: its smallest eigenvalue is {lowest:.4g} "
            f"(largest |eigenvalue| {top:.4g}); a covariance matrix has none below 0. Pass "
            "torch.cov(features.T) of the features, not an edited or estimated matrix"
        )


def fid(real: ArrayLike, fake: ArrayLike, *, warn_small_n: bool = True) -> float:
    """Fréchet distance between Gaussians fitted to ``real`` ``(N, D)`` and ``fake`` ``(M, D)``.

    With medical-network features this is an "FMD" (Fréchet medical distance); it is the FID of
    review Table 1 when the features are Inception-v3 pool features (see :func:`inception_fid`).
    Covariances use the unbiased 1/(N-1) normalisation, as torchmetrics and pytorch-fid do.

    Warns:
        SmallSampleWarning: when ``min(N, M) < 5 * D`` (640 for 128-d features), the documented
            minimum for a reportable FID, unless ``warn_small_n=False`` (for deliberate small-N
            studies such as :func:`~medgen_nb.metrics.bootstrap.fid_vs_n`).
    """
    r = check_features(real, "real")
    f = check_features(fake, "fake")
    check_same_dim(r, f, ("real", "fake"))
    if warn_small_n:
        warn_small_sample("fid", r.shape[0], f.shape[0], r.shape[1])
    return frechet_distance(r.mean(0), torch.cov(r.T), f.mean(0), torch.cov(f.T))


def median_bandwidth(real: ArrayLike) -> float:
    """Median heuristic from the reference set alone: the median distance between distinct rows.

    Args:
        real: ``(N, D)`` reference features, N >= 2.
    Returns:
        sigma for :func:`mmd`, in feature units (1.0 when all rows coincide).

    Computed once from ``real`` and reused for every model and every bootstrap draw (what
    :func:`mmd` and :func:`~medgen_nb.metrics.bootstrap.bootstrap_ci` do), so that MMDs are
    measured with one kernel. Estimating it from each real + fake pool, as before, gave each
    generator its own kernel: a worse generator widened the bandwidth and flattened its own MMD.
    """
    x = check_features(real, "real")
    d = torch.cdist(x, x)
    # A boolean mask of the upper triangle: an eighth of the memory of triu_indices' int64 pairs.
    upper = d[torch.ones(len(d), len(d), dtype=torch.bool).triu_(1)]
    del d
    sigma = float(upper.median())
    return sigma if sigma > 0 else 1.0


def _unbiased_mmd2(k_xx: torch.Tensor, k_yy: torch.Tensor, k_xy: torch.Tensor) -> float:
    """Unbiased MMD² (Gretton et al. 2012, eq. 3): the diagonal pairs (i, i) are excluded."""

    def off_diagonal_mean(k: torch.Tensor) -> torch.Tensor:
        n = k.shape[0]  # sum minus trace: no (n, n) mask or copy of the off-diagonal entries
        return (k.sum() - k.diagonal().sum()) / (n * (n - 1))

    return float(off_diagonal_mean(k_xx) + off_diagonal_mean(k_yy) - 2 * k_xy.mean())


def mmd(real: ArrayLike, fake: ArrayLike, *, bandwidth: float | None = None) -> float:
    r"""Kernel MMD² with a Gaussian kernel, unbiased estimator (review Table 1).

    :math:`k(x, y) = \exp(-\|x - y\|^2 / (2\sigma^2))` with :math:`\sigma` = ``bandwidth``.

    Args:
        real: ``(N, D)`` reference features; fixes the kernel when ``bandwidth`` is None.
        fake: ``(M, D)`` features of the sample being scored.
        bandwidth: sigma in feature units (a finite number > 0), or None for
            :func:`median_bandwidth` of ``real`` alone. Models scored against the same ``real``
            thus share one kernel; :func:`~medgen_nb.metrics.bootstrap.bootstrap_ci` computes it
            once on the full real set and passes it to every draw. Pass it explicitly to compare
            MMDs against different real sets.
    Returns:
        MMD², dimensionless (a difference of mean kernel values); unbiased, so slightly
        negative values occur when the two distributions are equal.
    """
    x, y = check_features(real, "real"), check_features(fake, "fake")
    check_same_dim(x, y, ("real", "fake"))
    sigma = (
        median_bandwidth(x) if bandwidth is None else check_positive_number(bandwidth, "bandwidth")
    )

    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # In place: one (N, M) buffer per kernel matrix instead of one per operation.
        return torch.cdist(a, b).pow_(2).div_(-2 * sigma**2).exp_()

    return _unbiased_mmd2(k(x, x), k(y, y), k(x, y))


# Keyword arguments that bootstrap_ci fixes once from the full real set (see its docstring).
mmd.fixed_from_real = {"bandwidth": median_bandwidth}  # type: ignore[attr-defined]


def kid(real: ArrayLike, fake: ArrayLike) -> float:
    r"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² with the cubic kernel.

    :math:`k(x, y) = (x^\top y / D + 1)^3`. Computed on the full samples (torchmetrics averages it
    over random subsets to save memory; with one subset of all samples the two agree). The kernel
    depends only on the feature dimension D, never on the samples, so every model and bootstrap
    draw is already scored with one kernel (no bandwidth to fix).
    """
    x, y = check_features(real, "real"), check_features(fake, "fake")
    check_same_dim(x, y, ("real", "fake"))
    d = x.shape[1]

    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a @ b.T).div_(d).add_(1.0).pow_(3)  # in place, as in mmd

    return _unbiased_mmd2(k(x, x), k(y, y), k(x, y))


def wasserstein_1d(real: ArrayLike, fake: ArrayLike) -> float:
    r"""Exact 1-Wasserstein distance between two empirical 1-D distributions (any shapes, flattened).

    :math:`W_1 = \int |F_r(t) - F_g(t)|\,dt`, the area between the two empirical CDFs. For image
    batches in [0, 1] this compares intensity histograms (units: intensity).
    """
    u = as_tensor(real, "real").flatten()
    v = as_tensor(fake, "fake").flatten()
    for t, name in ((u, "real"), (v, "fake")):
        if t.numel() == 0:
            raise ValueError(f"{name} is empty")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    u, v = u.sort().values, v.sort().values
    grid = torch.cat([u, v]).sort().values
    widths = grid.diff()
    cdf_u = torch.searchsorted(u, grid[:-1], right=True) / u.numel()
    cdf_v = torch.searchsorted(v, grid[:-1], right=True) / v.numel()
    return float(((cdf_u - cdf_v).abs() * widths).sum())


def sliced_wasserstein(
    real: ArrayLike, fake: ArrayLike, *, n_projections: int = 128, seed: int = 0
) -> float:
    """Sliced 1-Wasserstein distance in feature space: the mean exact 1-D W1 over random directions.

    Directions are uniform on the unit sphere, drawn from ``seed`` so results are reproducible.
    """
    x, y = check_features(real, "real", 1), check_features(fake, "fake", 1)
    check_same_dim(x, y, ("real", "fake"))
    if n_projections < 1:
        raise ValueError(f"n_projections must be >= 1, got {n_projections}")
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(x.shape[1], n_projections, generator=g, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    px, py = x @ dirs, y @ dirs  # (N, P), (M, P)
    return float(np.mean([wasserstein_1d(px[:, i], py[:, i]) for i in range(n_projections)]))


def inception_fid(real: ArrayLike, fake: ArrayLike) -> float:
    """Classic FID with torchmetrics' Inception-v3 (2048-d pool features), for comparison with papers.

    Args: ``(N, 1|3, H, W)`` images in [0, 1] (grey images are repeated to 3 channels).
    Raises:
        RuntimeError: when torch-fidelity (which carries the Inception weights) is not installed;
            it is not a medgen_nb dependency. Use :func:`fid` on medical features instead.
    """
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance

        metric = FrechetInceptionDistance(feature=2048, normalize=True)
    except (ImportError, ModuleNotFoundError, RuntimeError) as err:
        raise RuntimeError(
            "Inception FID needs torch-fidelity and its Inception-v3 weights "
            "(pip install torch-fidelity, with network access once); medgen_nb does not ship them. "
            "Use medgen_nb.metrics.fid(extract_features(real), extract_features(fake)) instead."
        ) from err
    for images, is_real in ((real, True), (fake, False)):
        x = as_tensor(images, "images").float()
        metric.update(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x, real=is_real)
    return float(metric.compute())
