"""Metrics: creation (review Table 1), translation (Table 5) and downstream tasks.

Every notebook scores its models with these functions, so numbers are comparable across chapters:

* translation (paired): :func:`mae`, :func:`mse`, :func:`rmse`, :func:`psnr`, :func:`ssim`,
  :func:`ms_ssim`, :func:`translation_report`, CT in HU: :func:`ct_mae_hu`;
* creation (unpaired, on features from :func:`extract_features`): :func:`fid`, :func:`kid`,
  :func:`mmd`, :func:`sliced_wasserstein`, :func:`wasserstein_1d` (intensities),
  :func:`inception_score`, :func:`mode_score`, :func:`precision_recall`,
  :func:`density_coverage`, :func:`memorisation`, :func:`inception_fid` (needs torch-fidelity);
* features: :class:`MedicalFeatureNet`, :func:`load_feature_net`, :func:`extract_features`,
  :func:`class_probabilities`; everything at once: :func:`creation_report`;
* uncertainty: :func:`bootstrap_ci`, :func:`mean_ci`, :func:`cluster_mean_ci` (subjects),
  :func:`fid_vs_n`;
* warnings: :class:`DataRangeWarning` (predictions far outside ``data_range``),
  :class:`SmallSampleWarning` (FID below its documented N >= 5 x D);
* downstream: :func:`accuracy`, :func:`balanced_accuracy`, :func:`binary_auc`, :func:`macro_auc`,
  :func:`dice`, :func:`iou`;
* test degradations: :func:`degrade`, :func:`gaussian_blur`, :func:`apply_failure` (noise, blur,
  shift or intensity scaling at a chosen strength).
"""

from medgen_nb.metrics._checks import DataRangeWarning, SmallSampleWarning, check_unit_range
from medgen_nb.metrics.bootstrap import (
    Interval,
    bootstrap_ci,
    cluster_mean_ci,
    cluster_means,
    fid_vs_n,
    mean_ci,
)
from medgen_nb.metrics.creation import (
    fid,
    frechet_distance,
    inception_fid,
    inception_score,
    kid,
    median_bandwidth,
    mmd,
    mode_score,
    sliced_wasserstein,
    wasserstein_1d,
)
from medgen_nb.metrics.ct import ct_mae_hu
from medgen_nb.metrics.detection import average_precision, box_iou, detection_scores  # noqa: F401
from medgen_nb.metrics.downstream import (
    accuracy,
    balanced_accuracy,
    binary_auc,
    dice,
    iou,
    macro_auc,
)
from medgen_nb.metrics.fidelity import (
    Memorisation,
    density_coverage,
    memorisation,
    precision_recall,
)
from medgen_nb.metrics.translation import (
    mae,
    ms_ssim,
    mse,
    psnr,
    rmse,
    ssim,
    ssim_map,
    translation_report,
)

# The feature network and the report that uses it load lazily (PEP 562), so that
# ``python -m medgen_nb.metrics.features --train`` does not import its own module twice.
_LAZY = {
    "MedicalFeatureNet": "features",
    "class_probabilities": "features",
    "extract_features": "features",
    "load_feature_net": "features",
    "apply_failure": "report",
    "creation_report": "report",
    "degrade": "report",
    "gaussian_blur": "report",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"medgen_nb.metrics.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'medgen_nb.metrics' has no attribute {name!r}")


__all__ = [
    "DataRangeWarning",
    "Interval",
    "MedicalFeatureNet",
    "Memorisation",
    "SmallSampleWarning",
    "accuracy",
    "apply_failure",
    "balanced_accuracy",
    "binary_auc",
    "bootstrap_ci",
    "cluster_mean_ci",
    "cluster_means",
    "check_unit_range",
    "class_probabilities",
    "creation_report",
    "ct_mae_hu",
    "degrade",
    "density_coverage",
    "dice",
    "extract_features",
    "fid",
    "fid_vs_n",
    "frechet_distance",
    "gaussian_blur",
    "inception_fid",
    "inception_score",
    "iou",
    "kid",
    "load_feature_net",
    "macro_auc",
    "mae",
    "mean_ci",
    "median_bandwidth",
    "memorisation",
    "mmd",
    "mode_score",
    "ms_ssim",
    "mse",
    "precision_recall",
    "psnr",
    "rmse",
    "sliced_wasserstein",
    "ssim",
    "ssim_map",
    "translation_report",
    "wasserstein_1d",
]
