"""Weight files of the zoo: half-precision safetensors, written atomically, read verified.

:func:`load` never unpickles: the file is read as bytes, its SHA-256 checked against the
manifest, parsed by safetensors and loaded strictly into a model built by
:func:`medgen_nb.models.create` from the entry's config.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from medgen_nb.models import create
from medgen_nb.models.base import GenerativeModel
from medgen_nb.utils import atomic_write, pick_device
from medgen_nb.zoo.manifest import ZooError, entry, train_command, weights_path

DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
}


def check_dtype(dtype: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise ZooError(f"weights dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def shipped_state(model: torch.nn.Module, dtype: str) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` on the CPU with floating tensors cast to ``dtype`` (ints kept)."""
    target = check_dtype(dtype)
    return {
        k: (v.detach().to("cpu", target) if v.is_floating_point() else v.detach().cpu())
        .contiguous()
        .clone()
        for k, v in model.state_dict().items()
    }


def write_weights(model: torch.nn.Module, dtype: str, path: Path) -> dict[str, Any]:
    """Save ``model``'s weights as ``dtype`` safetensors at ``path`` (atomically).

    Returns ``{"dtype", "sha256", "bytes", "parameters"}`` for the manifest.
    """
    blob = save_tensors(shipped_state(model, dtype), metadata={"dtype": dtype})
    with atomic_write(path) as fh:
        fh.write(blob)
    return {
        "dtype": dtype,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def as_stored(model: GenerativeModel, dtype: str) -> GenerativeModel:
    """``model`` with its weights rounded to ``dtype`` and back: what :func:`load` will return."""
    rounded = shipped_state(model, dtype)
    reference = model.state_dict()
    model.load_state_dict({k: v.to(reference[k].dtype) for k, v in rounded.items()})
    return model


def read_weights(
    name: str, spec: dict[str, Any], root: str | os.PathLike | None = None
) -> dict[str, torch.Tensor]:
    """The verified tensors of entry ``name``; :class:`ZooError` says what is wrong and the fix."""
    rebuild = f"rebuild it with `{train_command(name)}`"
    expected = spec["weights"].get("sha256")
    if not expected:
        raise ZooError(
            f"zoo entry {name!r} was never trained (no sha256 in the manifest); {rebuild}"
        )
    path = weights_path(name, root)
    if not path.is_file():
        raise ZooError(
            f"zoo entry {name!r}: its weight file {path} is missing; {rebuild}, or restore the "
            "file from the repository (git checkout)"
        )
    blob = path.read_bytes()
    got = hashlib.sha256(blob).hexdigest()
    if got != expected:
        raise ZooError(
            f"zoo entry {name!r}: the weight file {path} is corrupt or not the one the manifest "
            f"describes (sha256 {got[:16]}..., {len(blob)} bytes; the manifest expects "
            f"{expected[:16]}..., {spec['weights'].get('bytes')} bytes); {rebuild}, or restore it "
            "from the repository (git checkout)"
        )
    try:
        return load_tensors(blob)
    except (SafetensorError, ValueError) as err:  # a manifest edited to match a broken file
        raise ZooError(
            f"zoo entry {name!r}: {path} is not a safetensors file ({err}); {rebuild}"
        ) from None


def build_model(spec: dict[str, Any]) -> GenerativeModel:
    """A fresh model of the entry's registry name and config (random weights).

    ``model.family`` ``"downstream"`` names a model of :mod:`medgen_nb.downstream` (a judge
    classifier); otherwise the name is one of :mod:`medgen_nb.models`.
    """
    if spec["model"].get("family") == "downstream":
        from medgen_nb.downstream import create as create_downstream

        return create_downstream(spec["model"]["name"], **spec["model"]["config"])
    return create(spec["model"]["name"], **spec["model"]["config"])


def load(
    name: str, device: str | torch.device = "cpu", *, root: str | os.PathLike | None = None
) -> GenerativeModel:
    """Zoo entry ``name`` as a model in eval mode on ``device``, in seconds.

    The model is built with ``medgen_nb.models.create(model_name, **config)`` from the manifest
    and its weights (stored in half precision) are cast to the model's float32. Raises
    :class:`ZooError` for an unknown entry, a missing or corrupt weight file (naming
    ``python -m medgen_nb.zoo train NAME``) or weights that do not fit the config. ``root``: a
    copy of the zoo (default: the package's).
    """
    spec = entry(name, root)
    tensors = read_weights(name, spec, root)
    model = build_model(spec)
    reference = model.state_dict()
    missing, extra = (
        sorted(reference.keys() - tensors.keys()),
        sorted(tensors.keys() - reference.keys()),
    )
    wrong = [k for k in reference.keys() & tensors.keys() if reference[k].shape != tensors[k].shape]
    if missing or extra or wrong:
        raise ZooError(
            f"zoo entry {name!r}: the weights do not fit model {spec['model']['name']!r} with the "
            f"manifest's config (missing {missing[:3]}, unexpected {extra[:3]}, other shapes "
            f"{sorted(wrong)[:3]}); rebuild it with `{train_command(name)}`"
        )
    state = {k: v.to(reference[k].dtype) for k, v in tensors.items()}
    state.update(_rebuilt_buffers(model, tensors, spec["weights"]["dtype"]))
    model.load_state_dict(state)
    return model.to(pick_device(device)).eval()


def _rebuilt_buffers(
    model: torch.nn.Module, tensors: dict[str, torch.Tensor], dtype: str
) -> dict[str, torch.Tensor]:
    """Buffers the config alone determines, at the model's own precision.

    A buffer that training never changes (a diffusion schedule's alpha_bar table) is stored
    like a weight, in half precision, where alpha_bar at the last step (2.4e-9) rounds to 0.
    The freshly built model holds the exact table: where the stored tensor equals the fresh one
    rounded to the storage dtype, the fresh one is taken. Running statistics (batch norm),
    which training does change, never match and stay as stored.
    """
    target = check_dtype(dtype)
    return {
        key: fresh.clone()
        for key, fresh in model.named_buffers()
        if fresh.is_floating_point()
        and fresh.dtype != target
        and key in tensors
        and torch.equal(fresh.to(target), tensors[key])
    }
