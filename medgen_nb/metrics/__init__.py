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
  :func:`dice`, :func:`iou`; detection: :func:`box_iou`, :func:`detection_scores`,
  :func:`average_precision`;
* test degradations (:mod:`medgen_nb.metrics.degradations`): :func:`degrade`,
  :func:`gaussian_blur`, :func:`apply_failure` (noise, blur, shift or intensity scaling at a
  chosen strength).

Calling convention (one for the whole package):

* **Paired metrics** compare a model's output with its reference, image by image or case by case
  (translation, CT, lesion contrast, classification, segmentation)::

      metric(preds, target, *, data_range=..., mask=..., reduction="mean")

  ``preds`` first, ``target`` second; everything else by keyword (``data_range`` only where the
  metric needs one, ``mask`` where it can be restricted to a foreground). They return a float64
  ``torch.Tensor``: ``reduction="mean"`` (the default everywhere) is the mean over images or
  cases (0-d; ``(L,)`` per label for Dice and IoU), ``"none"`` one value per image or case
  ``(B,)`` (``(B, L)`` for Dice and IoU), for intervals over images or subjects. Metrics of
  several parts return a dict of such tensors (:func:`ct_mae_hu` by tissue;
  :func:`translation_report`, always per image). Set-level metrics without a per-case value
  (balanced accuracy, AUC) return a 0-d tensor and take no ``reduction``. The classification
  metrics (:func:`accuracy`, :func:`balanced_accuracy`, :func:`binary_auc`, :func:`macro_auc`)
  take ``preds=`` and ``target=`` by keyword only, because their order used to be
  ``(y_true, y_pred)`` and labels have the same shape either way round: a call in the old order
  raises a ``TypeError`` instead of silently scoring the wrong way.
* **Distribution metrics** compare a reference sample set with a generated one::

      metric(real, fake, *, ...)  ->  float  (dict[str, float] for several numbers)

  ``real`` first: it is the reference that fixes whatever the metric estimates from data (MMD's
  kernel bandwidth comes from ``real`` alone). :func:`mode_score`, once ``(fake, real)``, takes
  ``real=`` and ``fake=`` by keyword only, and :func:`memorisation` is
  ``(train, fake, *, heldout)``. :func:`bootstrap_ci` calls every two-sample statistic as
  ``statistic(real=..., fake=...)``; write your own statistics with those names.
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
from medgen_nb.metrics.degradations import apply_failure, degrade, gaussian_blur
from medgen_nb.metrics.detection import average_precision, box_iou, detection_scores
from medgen_nb.metrics.downstream import (
    accuracy,
    balanced_accuracy,
    balanced_accuracy_ci,
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
    "creation_report": "report",
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
    "average_precision",
    "balanced_accuracy",
    "balanced_accuracy_ci",
    "binary_auc",
    "bootstrap_ci",
    "box_iou",
    "cluster_mean_ci",
    "cluster_means",
    "check_unit_range",
    "class_probabilities",
    "creation_report",
    "ct_mae_hu",
    "degrade",
    "density_coverage",
    "detection_scores",
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
