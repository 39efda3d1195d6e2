"""medgen_nb: helpers for a course on generative models for medical image creation and translation.

The package backs the numbered notebooks in ``notebooks/``.  Data flow one way::

    source -> simulator/loader -> Dataset -> model -> sampler -> metric -> figure
"""

__version__ = "0.2.0"

from medgen_nb.utils import atomic_write, cache_dir, pick_device, seed_everything

__all__ = ["__version__", "atomic_write", "cache_dir", "pick_device", "seed_everything"]
