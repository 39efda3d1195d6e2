"""medgen_nb: helpers for a course on generative models for medical image creation and translation.

The package backs the numbered notebooks in ``notebooks/``.  Data flow one way::

    source -> simulator/loader -> Dataset -> model -> sampler -> metric -> figure
"""

from medgen_nb.utils import atomic_write, cache_dir, pick_device, seed_everything
from medgen_nb.version import __version__

__all__ = ["__version__", "atomic_write", "cache_dir", "pick_device", "seed_everything"]
