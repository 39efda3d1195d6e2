"""Data: sources of real files, simulators, datasets and intensity conventions."""

from medgen_nb.data.intensity import IntensityMap, ct_window, mr_robust, pet_suv
from medgen_nb.data.slices import SliceDataset, Subject, UnpairedDataset, split_subjects
from medgen_nb.data.sources import REGISTRY, CarriedFile, SourceUnavailableError, attribution, fetch

__all__ = [
    "REGISTRY",
    "CarriedFile",
    "IntensityMap",
    "SliceDataset",
    "SourceUnavailableError",
    "Subject",
    "UnpairedDataset",
    "attribution",
    "ct_window",
    "fetch",
    "mr_robust",
    "pet_suv",
    "split_subjects",
]
