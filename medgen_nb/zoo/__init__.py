"""Pretrained zoo: lab models trained once to a quality gate, shipped inside the package.

::

    from medgen_nb import zoo

    zoo.available()                         # ['pix2pix_t1w_t2w_64', ...]
    zoo.entry("pix2pix_t1w_t2w_64")         # task, model config, recipe, sha256, versions, metrics
    model = zoo.load("pix2pix_t1w_t2w_64")  # built by models.create, weights verified, eval mode
    zoo.is_stale("pix2pix_t1w_t2w_64")      # True once the package or the phantom changed

The command line rebuilds and checks entries: ``python -m medgen_nb.zoo list | train NAME |
train --all | train --stale | verify [NAME]``. Weights are half-precision safetensors under
``medgen_nb/zoo/weights/`` (never pickles), described by ``medgen_nb/zoo/manifest.json``
(:mod:`medgen_nb.zoo.manifest`). This layer sits above evaluation (it trains and scores through
it) and below widgets and notebooks.
"""

from medgen_nb.zoo.manifest import (
    ZooError,
    available,
    entry,
    is_stale,
    stale_reasons,
    train_command,
    weights_path,
)
from medgen_nb.zoo.recipe import Recipe
from medgen_nb.zoo.store import load

__all__ = [
    "Recipe",
    "ZooError",
    "available",
    "entry",
    "is_stale",
    "load",
    "stale_reasons",
    "train_command",
    "weights_path",
]
