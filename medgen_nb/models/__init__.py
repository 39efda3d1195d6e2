"""The model zoo: one file per family, one registry of names.

``create("pix2pix", in_channels=1, out_channels=1, size=64)`` builds a model by name. Each family
module exports ``MODELS: dict[str, type]``; this module merges them. An unknown name raises an
error that lists the valid ones.
"""

from __future__ import annotations

import importlib

from medgen_nb.models.base import GenerativeModel, StepContext

FAMILIES: tuple[str, ...] = ("vae", "gan", "pix2pix", "cyclegan", "unit", "diffusion")


# Models of higher layers (e.g. medgen_nb.downstream) register here when they are imported, so
# the checkpoint code can name and rebuild them without importing upwards.
_REGISTERED: dict[str, type] = {}


def register(name: str, cls: type) -> type:
    """Make ``cls`` known to :func:`create`, :func:`registry` and the checkpoint code as ``name``."""
    if not isinstance(cls, type) or not issubclass(cls, GenerativeModel):
        raise ValueError(f"register needs a GenerativeModel subclass, got {cls!r}")
    known = registry()
    if name in known and known[name] is not cls:
        raise ValueError(f"model name {name!r} is taken by {known[name].__name__}")
    _REGISTERED[name] = cls
    return cls


def registry() -> dict[str, type]:
    """Name -> model class, over every family (and models registered by :func:`register`)."""
    names: dict[str, type] = dict(_REGISTERED)
    for family in FAMILIES:
        module = importlib.import_module(f"medgen_nb.models.{family}")
        for name, cls in module.MODELS.items():
            if name in names and names[name] is not cls:
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
        raise ValueError(
            f"unknown model {name!r}; choose one of {sorted(models)} (downstream models register "
            "when medgen_nb.downstream is imported)"
        )
    return models[name](**config)


__all__ = [
    "FAMILIES",
    "GenerativeModel",
    "StepContext",
    "available",
    "create",
    "register",
    "registry",
]
