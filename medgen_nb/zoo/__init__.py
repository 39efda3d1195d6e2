"""Pretrained zoo: lab models trained once to a quality gate, shipped inside the package.

::

    from medgen_nb import zoo

    zoo.available()                         # ['pix2pix_t1w_t2w_64', ...]
    zoo.entry("pix2pix_t1w_t2w_64")         # task, model config, recipe, sha256, versions, metrics
    model = zoo.load("pix2pix_t1w_t2w_64")  # built by models.create, weights verified, eval mode
    zoo.is_stale("pix2pix_t1w_t2w_64")      # True once the package or the phantom changed
    model = zoo.fit_recipe("dcgan_mr_contrast_32")  # retrain from the recipe (minutes)

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


def fit_recipe(name, data=None, *, device="cpu", progress=True, root=None):
    """Retrain entry ``name`` from its recipe (see :func:`medgen_nb.zoo.creation.fit_recipe`)."""
    from medgen_nb.zoo.creation import fit_recipe as _fit_recipe  # heavy imports only when used

    return _fit_recipe(name, data, device=device, progress=progress, root=root)


__all__ = [
    "Recipe",
    "fit_recipe",
    "ZooError",
    "available",
    "entry",
    "is_stale",
    "load",
    "stale_reasons",
    "train_command",
    "weights_path",
]
