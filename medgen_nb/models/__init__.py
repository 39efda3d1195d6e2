"""The model zoo: one file per family, one registry of names.

``create("pix2pix", in_channels=1, out_channels=1, size=64)`` builds a model by name. Each family
module exports ``MODELS: dict[str, type]``; this module merges them. An unknown name raises an
error that lists the valid ones.
"""

from __future__ import annotations

import importlib

from medgen_nb.models.base import GenerativeModel, StepContext

FAMILIES: tuple[str, ...] = ("vae", "gan", "pix2pix", "cyclegan", "unit", "diffusion")


def registry() -> dict[str, type]:
    """Name -> model class, over every family."""
    names: dict[str, type] = {}
    for family in FAMILIES:
        module = importlib.import_module(f"medgen_nb.models.{family}")
        for name, cls in module.MODELS.items():
            if name in names:
                raise RuntimeError(f"model name {name!r} is defined twice")
            names[name] = cls
    return names


def available() -> list[str]:
    """All model names :func:`create` accepts."""
    return sorted(registry())


def create(name: str, **config) -> GenerativeModel:
    """Build the model registered as ``name`` with keyword configuration ``config``."""
    models = registry()
    if name not in models:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(models)}")
    return models[name](**config)


__all__ = ["FAMILIES", "GenerativeModel", "StepContext", "available", "create", "registry"]
