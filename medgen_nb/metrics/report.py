"""One call that scores generated images the same way in every notebook.

:func:`creation_report` embeds real and generated ``(N, 1, H, W)`` images with the medical feature
network and returns every review Table 1 metric with the fidelity/diversity split. The images it
is usually shown on (blurred, noisy, shifted) come from :mod:`medgen_nb.metrics.degradations`.
"""

from __future__ import annotations

import torch

from medgen_nb.metrics.creation import (
    fid,
    inception_score,
    kid,
    mmd,
    mode_score,
    sliced_wasserstein,
    wasserstein_1d,
)
from medgen_nb.metrics.features import MedicalFeatureNet, class_probabilities, extract_features
from medgen_nb.metrics.fidelity import density_coverage, precision_recall

# Lower is better for these; higher is better for the others in the report.
LOWER_IS_BETTER: tuple[str, ...] = ("fid", "kid", "mmd", "sliced_wd", "intensity_wd")


def creation_report(
    real: torch.Tensor, fake: torch.Tensor, net: MedicalFeatureNet | None = None
) -> dict[str, float]:
    """All creation metrics for ``(N, 1, H, W)`` real and ``(M, 1, H, W)`` generated images in [0, 1].

    Returns ``fid``, ``kid``, ``mmd``, ``sliced_wd`` (feature space), ``intensity_wd`` (pixel
    values), ``precision``, ``recall``, ``density``, ``coverage``, ``inception_score``,
    ``mode_score`` (IS/MS from the network's slice-level head, the default of
    :func:`~medgen_nb.metrics.features.class_probabilities`). MMD's kernel bandwidth comes from
    ``real`` alone, so reports of several models against one real set share one kernel. For
    intervals wrap the individual metrics in :func:`medgen_nb.metrics.bootstrap_ci`.
    """
    f_real, f_fake = extract_features(real, net), extract_features(fake, net)
    p_real, p_fake = class_probabilities(real, net), class_probabilities(fake, net)
    return {
        "fid": fid(f_real, f_fake),
        "kid": kid(f_real, f_fake),
        "mmd": mmd(f_real, f_fake),
        "sliced_wd": sliced_wasserstein(f_real, f_fake),
        "intensity_wd": wasserstein_1d(real, fake),
        **precision_recall(f_real, f_fake),
        **density_coverage(f_real, f_fake),
        "inception_score": inception_score(p_fake),
        "mode_score": mode_score(real=p_real, fake=p_fake),
    }
