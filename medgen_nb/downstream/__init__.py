"""Downstream models: does a synthetic image help a classifier, segmenter or detector?

* :class:`SliceClassifier` (``"classifier"``): a small CNN, cross-entropy on ``batch["label"]``;
* :class:`SegmentationUNet` (``"segmenter"``): a small U-Net, Dice + cross-entropy on
  ``batch["seg"]``;
* :class:`NoduleDetector` (``"detector"``): a centre-heatmap (CenterNet-style) detector trained
  on the instance map ``batch["seg"]``;
* :func:`training_sets`: real, synthetic and real + synthetic training sets of one size.

All three follow the contract of :mod:`medgen_nb.models.base` and train with
:func:`medgen_nb.train.fit`; ``create(name, **model.config)`` rebuilds one.
"""

from __future__ import annotations

from medgen_nb.downstream import classifier, detector, segmenter
from medgen_nb.downstream.classifier import SliceClassifier
from medgen_nb.downstream.detector import NoduleDetector
from medgen_nb.downstream.mixing import MixedSubset, TensorItems, training_sets
from medgen_nb.downstream.segmenter import SegmentationUNet, UNet, soft_dice_loss
from medgen_nb.models import register
from medgen_nb.models.base import GenerativeModel

MODELS: dict[str, type] = {**classifier.MODELS, **segmenter.MODELS, **detector.MODELS}
for _name, _cls in MODELS.items():  # so that fit() checkpoints them and load_checkpoint rebuilds
    register(_name, _cls)


def available() -> list[str]:
    """The downstream model names :func:`create` accepts."""
    return sorted(MODELS)


def create(name: str, **config) -> GenerativeModel:
    """Build the downstream model registered as ``name`` with keyword configuration ``config``."""
    if name not in MODELS:
        raise ValueError(f"unknown downstream model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](**config)


__all__ = [
    "MODELS",
    "MixedSubset",
    "NoduleDetector",
    "SegmentationUNet",
    "SliceClassifier",
    "TensorItems",
    "UNet",
    "available",
    "create",
    "soft_dice_loss",
    "training_sets",
]
