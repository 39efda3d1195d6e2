"""Fidelity vs diversity, and memorisation, from nearest neighbours in feature space.

FID and MMD mix two failures into one number: unrealistic samples (low fidelity) and missing
modes (low diversity). The k-NN manifold estimates below separate them:

* precision / recall (Kynkäänniemi et al. 2019): the real manifold is the union of balls around
  each real feature with radius = distance to its k-th nearest real neighbour. Precision = share
  of generated samples inside the real manifold; recall = share of real samples inside the
  generated manifold.
* density / coverage (Naeem et al. 2020): density counts how many real balls hold each generated
  sample (divided by k; ~1 for matching distributions, robust to outliers); coverage = share of
  real balls holding at least one generated sample.

A generator can also score well by copying its training images. :func:`memorisation` compares
the distances from generated samples to their nearest *training* image with the same distances for
a held-out real set that the model never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from medgen_nb.metrics._checks import ArrayLike, check_features, check_same_dim

# Rows of the (N, N) distance matrix held at once by _kth_neighbour_radius: its memory stays at
# CHUNK * N doubles (10 MB for N = 2500) instead of N * N plus kthvalue's working copy.
CHUNK = 512


def _kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest *other* row: (N,)."""
    return torch.cat(
        [  # the 1st value of each row is the row itself (distance 0)
            torch.cdist(x[i : i + CHUNK], x).kthvalue(k + 1, dim=1).values
            for i in range(0, len(x), CHUNK)
        ]
    )


def _check_pair(real: ArrayLike, fake: ArrayLike, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    x = check_features(real, "real", min_rows=k + 1)
    y = check_features(fake, "fake", min_rows=k + 1)
    check_same_dim(x, y, ("real", "fake"))
    return x, y


def precision_recall(real: ArrayLike, fake: ArrayLike, *, k: int = 3) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019), each in [0, 1].

    Args:
        real, fake: ``(N, D)`` and ``(M, D)`` features; both need more than ``k`` rows.
        k: neighbourhood size for the manifold radii (the paper uses 3).
    """
    x, y = _check_pair(real, fake, k)
    r_real, r_fake = _kth_neighbour_radius(x, k), _kth_neighbour_radius(y, k)
    d = torch.cdist(y, x)  # (M, N): generated to real
    precision = (d <= r_real[None, :]).any(1).double().mean()
    recall = (d.T <= r_fake[None, :]).any(1).double().mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(real: ArrayLike, fake: ArrayLike, *, k: int = 5) -> dict[str, float]:
    """Density (>= 0, ~1 when matched) and coverage (in [0, 1]) of Naeem et al. 2020."""
    x, y = _check_pair(real, fake, k)
    r_real = _kth_neighbour_radius(x, k)
    inside = torch.cdist(y, x) <= r_real[None, :]  # (M, N)
    density = inside.double().sum() / (k * y.shape[0])
    coverage = inside.any(0).double().mean()
    return {"density": float(density), "coverage": float(coverage)}


@dataclass(frozen=True)
class Memorisation:
    """Result of :func:`memorisation`; distances in feature (or pixel) units.

    Attributes:
        ratio: median NN distance fake->train divided by median NN distance held-out->train.
            ~1 for a model that generalises; well below 1 (e.g. < 0.5) suggests copying.
        copy_fraction: share of generated samples closer to the training set than 95 % of
            held-out real images are (expected ~0.05 without memorisation).
        generated_nn: (M,) NN distance of each generated sample to the training set.
        heldout_nn: (H,) NN distance of each held-out real sample to the training set.
    """

    ratio: float
    copy_fraction: float
    generated_nn: torch.Tensor
    heldout_nn: torch.Tensor


def memorisation(train: ArrayLike, fake: ArrayLike, *, heldout: ArrayLike) -> Memorisation:
    """Compare nearest-training-neighbour distances of generated vs held-out real samples.

    Args:
        train: ``(N, D)`` features (or flattened images) of the model's training set: the real
            reference, first as in every distribution metric.
        fake: ``(M, D)`` generated samples, in the same space.
        heldout: ``(H, D)`` real samples the model never saw (the test split), same space; by
            keyword only (the old order was ``(generated, train, heldout)``, so a positional call
            in that order now raises a ``TypeError`` instead of swapping the sets).
    """
    t = check_features(train, "train", 1)
    g = check_features(fake, "fake", 1)
    h = check_features(heldout, "heldout", 2)
    check_same_dim(t, g, ("train", "fake"))
    check_same_dim(t, h, ("train", "heldout"))
    d_gen = torch.cdist(g, t).min(1).values
    d_held = torch.cdist(h, t).min(1).values
    ref = float(d_held.median())
    if ref == 0:
        raise ValueError("heldout samples duplicate training samples (median NN distance 0)")
    threshold = torch.quantile(d_held, 0.05)
    return Memorisation(
        ratio=float(d_gen.median()) / ref,
        copy_fraction=float((d_gen < threshold).double().mean()),
        generated_nn=d_gen,
        heldout_nn=d_held,
    )
