"""Checkpoints without pickle: tensors in safetensors, everything else in JSON, both atomic.

A checkpoint in ``directory`` is a pair written in this order::

    ckpt-00000300.safetensors   model weights + optimizer tensors ("model.*", "optim.<name>.<i>.<key>")
    ckpt-00000300.json          step, model name + config, sha256 of the tensor file, optimizer
                                hyper-parameters, RNG states (as lists), training history, and
                                ``record_sha256``: the SHA-256 of the record itself

Each file is written with :func:`medgen_nb.utils.atomic_write`, and the JSON is the commit record:
it is written last and names the SHA-256 of its tensor file. A save interrupted at any point
therefore leaves either no new JSON (the previous checkpoint stays the newest) or a complete pair.
Loading never unpickles anything: ``safetensors`` holds raw arrays and JSON holds plain values.

Loading checks the pair: the record must be a JSON object with the fields above, name a tensor
file beside it (a plain file name, never a path out of the folder), match that file's SHA-256 and,
from format 2 on, its own ``record_sha256`` (the SHA-256 of the canonical JSON of the record
without that field), so an edited ``beta`` is refused rather than loaded. Records of format 1,
written before the record hash existed, still load, with the tensor hash checked only.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from medgen_nb.models import create, registry
from medgen_nb.models.base import GenerativeModel, Optimizers
from medgen_nb.models.validation import check_positive_int
from medgen_nb.utils import atomic_write

FORMAT_VERSION = 2  # 2: the record carries record_sha256; 1: written before it existed
_OBJECT, _TEXT, _INT = ((dict,), "a JSON object"), ((str,), "a string"), ((int,), "an integer")
_RECORD_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "format_version": _INT,
    "model": _TEXT,
    "config": _OBJECT,
    "step": _INT,
    "tensors": _TEXT,
    "sha256": _TEXT,
    "optimizers": _OBJECT,
    "rng": ((dict, type(None)), "a JSON object or null"),
    "history": _OBJECT,
}
_NAME = re.compile(r"^ckpt-(\d{8})\.json$")
_FILE = re.compile(r"^ckpt-(\d{8})\.(json|safetensors)$")


@dataclass
class TrainingState:
    """What :func:`load_training_state` restores besides weights: where training stopped."""

    step: int
    history: dict[str, Any] = field(default_factory=dict)
    rng: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def model_name(model: GenerativeModel) -> str:
    """The registry name of ``model``'s class (what :func:`medgen_nb.models.create` takes)."""
    for name, cls in registry().items():
        if type(model) is cls:
            return name
    raise ValueError(
        f"{type(model).__name__} is not in the model registry; add it to its family's MODELS dict"
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def capture_rng() -> dict[str, Any]:
    """Python, NumPy and torch (CPU + CUDA) RNG states as JSON-friendly lists."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "numpy": [
            np_state[0],
            np_state[1].tolist(),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ],
        "torch": torch.get_rng_state().tolist(),
        "cuda": [s.tolist() for s in torch.cuda.get_rng_state_all()]
        if torch.cuda.is_available()
        else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npy = state["numpy"]
    np.random.set_state((npy[0], np.asarray(npy[1], dtype=np.uint32), npy[2], npy[3], npy[4]))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if (
        state.get("cuda")
        and torch.cuda.is_available()
        and len(state["cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def _flatten_optimizers(optimizers: Optimizers) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        plain: dict[str, dict[str, Any]] = {}
        for pid, st in sd["state"].items():
            for key, value in st.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{name}.{pid}.{key}"] = value.detach().cpu().contiguous().clone()
                else:
                    plain.setdefault(str(pid), {})[key] = value
        meta[name] = {
            "param_groups": _jsonable(sd["param_groups"]),
            "plain_state": _jsonable(plain),
        }
    return tensors, meta


def _unflatten_optimizer(name: str, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"optim.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            pid, sub = key[len(prefix) :].split(".", 1)
            state.setdefault(int(pid), {})[sub] = value
    for pid, entries in meta["plain_state"].items():
        state.setdefault(int(pid), {}).update(entries)
    groups = [
        {k: tuple(v) if k == "betas" else v for k, v in group.items()}
        for group in meta["param_groups"]
    ]
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    directory: str | Path,
    model: GenerativeModel,
    optimizers: Optimizers | None = None,
    *,
    step: int = 0,
    history: dict[str, Any] | None = None,
    keep: int = 2,
    batch_order: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoint ``ckpt-<step>`` into ``directory`` and prune older ones.

    Pruning keeps the newest ``keep`` checkpoints up to ``step`` (this one always among them) and
    deletes older ones; checkpoints of a *later* step are left alone (they belong to another run,
    see ``fit(..., resume=False, overwrite=True)``).

    ``batch_order`` (from :func:`medgen_nb.train.fit`: seed, global batch size, world size) is
    stored under that key, so a resumed run can check it continues the same batch order.

    Returns the path of the JSON record. The model must carry ``model.config`` (its constructor
    keywords) and be registered, so :func:`load_checkpoint` can rebuild it.
    """
    if not hasattr(model, "config"):
        raise ValueError(
            f"{type(model).__name__} has no .config dict; store constructor keywords there"
        )
    check_positive_int(keep, "keep")
    check_positive_int(step, "step", minimum=0)
    directory = Path(directory)
    stem = f"ckpt-{step:08d}"
    tensors = {
        f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()
    }
    opt_tensors, opt_meta = _flatten_optimizers(optimizers or {})
    tensors.update(opt_tensors)
    blob = save_tensors(tensors)
    with atomic_write(directory / f"{stem}.safetensors") as fh:
        fh.write(blob)
    record = {
        "format_version": FORMAT_VERSION,
        "model": model_name(model),
        "config": _jsonable(model.config),
        "step": step,
        "tensors": f"{stem}.safetensors",
        "sha256": hashlib.sha256(blob).hexdigest(),
        "optimizers": opt_meta,
        "rng": capture_rng(),
        "history": _jsonable(history or {}),
        "torch_version": torch.__version__,
        **({"batch_order": _jsonable(batch_order)} if batch_order is not None else {}),
    }
    record = json.loads(json.dumps(record))  # exactly what a reader will parse (tuples -> lists)
    record["record_sha256"] = _record_digest(record)
    json_path = directory / f"{stem}.json"
    _write_json(json_path, record)  # the commit point
    _prune(directory, keep, step)
    return json_path


def _write_json(path: Path, record: dict[str, Any]) -> None:
    with atomic_write(path, "w") as fh:
        json.dump(record, fh)


def _step_files(directory: Path) -> dict[int, list[Path]]:
    """``step -> [ckpt-<step>.json, ckpt-<step>.safetensors]`` (those present) in ``directory``."""
    found: dict[int, list[Path]] = {}
    if directory.is_dir():
        for p in directory.iterdir():
            if m := _FILE.match(p.name):
                found.setdefault(int(m.group(1)), []).append(p)
    return found


def checkpoint_files(directory: str | Path) -> list[Path]:
    """The checkpoint files (``ckpt-<step>.json`` / ``.safetensors``) in ``directory``, sorted.

    Other files in the folder are not checkpoints and are never listed (or deleted) here.
    """
    return sorted(p for paths in _step_files(Path(directory)).values() for p in paths)


def _prune(directory: Path, keep: int, written: int) -> None:
    """Delete checkpoints older than step ``written`` beyond the newest ``keep`` (``written``
    included). The checkpoint just written and any newer one are never deleted."""
    files = _step_files(directory)
    recorded = sorted(s for s, paths in files.items() if s <= written and _has_json(paths))
    kept = set(recorded[-keep:]) | {written}
    for step, paths in files.items():
        if step < written and step not in kept:
            for p in paths:
                p.unlink(missing_ok=True)


def _has_json(paths: list[Path]) -> bool:
    return any(p.suffix == ".json" for p in paths)


def _record_digest(record: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces) of ``record`` minus its own hash."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _check_record(record: Any, json_path: Path) -> dict[str, Any]:
    """Raise ``ValueError`` unless ``record`` is a checkpoint record this version can read."""
    expected = f"expected a JSON object with the keys {sorted(_RECORD_FIELDS)}"
    if not isinstance(record, dict):
        raise ValueError(
            f"{json_path} is not a checkpoint record: {expected}, got a JSON "
            f"{type(record).__name__}; it is damaged or not medgen_nb's, so delete or move it"
        )
    missing = sorted(set(_RECORD_FIELDS) - set(record))
    if missing:
        raise ValueError(
            f"{json_path} is not a checkpoint record: missing keys {missing} ({expected})"
        )
    for key, (kinds, want) in _RECORD_FIELDS.items():
        value = record[key]
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise ValueError(
                f"{json_path} is not a valid checkpoint record: {key!r} must be {want}, got "
                f"{type(value).__name__}"
            )
    version = record["format_version"]
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{json_path} has format {version}, written by a newer medgen_nb (this one reads "
            f"formats up to {FORMAT_VERSION}); upgrade medgen_nb to load it"
        )
    if "record_sha256" in record or version >= 2:
        if "record_sha256" not in record:
            raise ValueError(
                f"{json_path} is a format-{version} checkpoint record but has no record_sha256: "
                "it was edited after it was written; restore the original file or retrain"
            )
        if record["record_sha256"] != _record_digest(record):
            raise ValueError(
                f"{json_path} does not match its record_sha256: the record was edited or damaged "
                "after it was written (checkpoints are not meant to be edited by hand); restore "
                "the original file, use an older checkpoint, or retrain"
            )
    return record


def _tensor_path(record: dict[str, Any], json_path: Path) -> Path:
    """The tensor file a record names; it must be a plain file name beside the record."""
    name = record["tensors"]
    if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        raise ValueError(
            f"{json_path} names its tensor file {name!r}, which is not a plain file name inside "
            f"the checkpoint folder {json_path.parent}; medgen_nb writes ckpt-<step>.safetensors "
            "beside the JSON, so this record is damaged or not medgen_nb's"
        )
    return json_path.parent / name


def _read_record(json_path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Load and verify one checkpoint pair; raise ``ValueError`` if it is incomplete or altered."""
    try:
        record = json.loads(json_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{json_path} cannot be read as JSON ({err}): it is damaged; delete it and load an "
            "older checkpoint"
        ) from err
    record = _check_record(record, json_path)
    tensor_path = _tensor_path(record, json_path)
    if not tensor_path.is_file():
        raise ValueError(f"checkpoint {json_path} names {tensor_path.name}, which is missing")
    blob = tensor_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != record["sha256"]:
        raise ValueError(f"checkpoint {tensor_path} does not match the SHA-256 in {json_path.name}")
    return record, load_tensors(blob)


def latest_checkpoint(directory: str | Path) -> Path | None:
    """JSON record of the newest complete, verified checkpoint in ``directory`` (None if none)."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    candidates = sorted((p for p in directory.iterdir() if _NAME.match(p.name)), reverse=True)
    for path in candidates:
        try:
            _read_record(path)
        except (ValueError, OSError) as err:  # incomplete or damaged: fall back to an older one
            warnings.warn(f"skipping damaged checkpoint {path.name}: {err}", stacklevel=2)
            continue
        return path
    return None


def _resolve(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise ValueError(f"no complete checkpoint (ckpt-<step>.json + .safetensors) in {path}")
        return found
    if path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    if not path.exists():
        raise ValueError(f"checkpoint {path} does not exist")
    return path


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> GenerativeModel:
    """Rebuild a model from a checkpoint directory (newest) or a ``ckpt-*.json`` / ``.safetensors``
    path, via :func:`medgen_nb.models.create`; returned in eval mode on ``device``."""
    record, tensors = _read_record(_resolve(path))
    try:
        model = create(record["model"], **record["config"])
    except TypeError as err:  # a keyword the constructor no longer takes
        fix = (
            "rename the keys under 'config' in the JSON record, or retrain"
            if "record_sha256" not in record  # format 1: no record hash to keep in step
            else "load it with the medgen_nb version that wrote it, or retrain"
        )
        raise ValueError(
            f"checkpoint {path} stores a config that {record['model']!r} no longer accepts "
            f"({err}); it was probably written by an older medgen_nb (e.g. channels=/width= "
            f"before they became in_channels=/base_channels=): {fix}"
        ) from err
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    return model.to(device).eval()


def load_training_state(
    path: str | Path, model: GenerativeModel, optimizers: Optimizers
) -> TrainingState:
    """Restore weights and optimizer states into existing objects; returns step, history and RNG.

    Raises ``ValueError`` if the checkpoint was written for a different model or configuration.
    """
    record, tensors = _read_record(_resolve(path))
    name = model_name(model)
    config = _jsonable(model.config)
    if record["model"] != name or record["config"] != config:
        raise ValueError(
            f"checkpoint {path} holds model {record['model']!r} with config {record['config']}, "
            f"but fit() got {name!r} with config {config}. To keep that run, use a new "
            "checkpoint_dir; to continue it, build the model with the stored config; to discard "
            "it, fit(..., resume=False, overwrite=True) deletes its checkpoints first"
        )
    device = model.device
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if set(record["optimizers"]) != set(optimizers):
        raise ValueError(
            f"checkpoint has optimizers {sorted(record['optimizers'])}, model has {sorted(optimizers)}"
        )
    for name_, opt in optimizers.items():
        opt.load_state_dict(_unflatten_optimizer(name_, record["optimizers"][name_], tensors))
    model.to(device)
    return TrainingState(
        step=record["step"], history=record["history"], rng=record["rng"], meta=record
    )
