"""The zoo's manifest: one JSON entry per checkpoint, and where its weight file lives.

An entry (``manifest.json["entries"][name]``) has two parts:

* what to build, written by hand when an entry is added: ``description``, ``task`` (name, data,
  alignment, build arguments), ``model`` (registry name + config), ``recipe``
  (:class:`~medgen_nb.zoo.recipe.Recipe`), ``weights.dtype`` and ``gate`` (metric, bound);
* what training produced, written by ``python -m medgen_nb.zoo train NAME``: ``weights.sha256``
  and ``weights.bytes``, ``versions`` (package and simulator), ``metrics`` (held-out scores with
  subject-level intervals and N), ``gate_passed`` and ``training`` (wall time, device, threads).

An entry whose ``weights.sha256`` is null has a recipe but was never trained.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from medgen_nb.tasks import get as get_task
from medgen_nb.tasks.base import simulator_versions
from medgen_nb.utils import atomic_write
from medgen_nb.version import __version__

ZOO_DIR = Path(__file__).resolve().parent
MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
SPEC_KEYS: tuple[str, ...] = ("description", "task", "model", "recipe", "weights", "gate")


class ZooError(ValueError):
    """A zoo entry cannot be used: unknown, untrained, missing, corrupt or mismatched weights."""


def train_command(name: str) -> str:
    """The command that (re)builds entry ``name`` from its recipe."""
    return f"python -m medgen_nb.zoo train {name}"


def zoo_root(root: str | os.PathLike | None = None) -> Path:
    """The folder holding ``manifest.json`` and ``weights/`` (default: the package's own zoo).

    Another root (a copy of the zoo) lets tests and experiments train, corrupt or edit entries
    without touching the shipped files.
    """
    return ZOO_DIR if root is None else Path(root)


def read_manifest(root: str | os.PathLike | None = None) -> dict[str, Any]:
    """The manifest as a dict ``{"format": 1, "entries": {name: entry}}``."""
    path = zoo_root(root) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ZooError(
            f"the zoo manifest {path} is missing; restore it from the repository"
        ) from None
    except json.JSONDecodeError as err:
        raise ZooError(f"the zoo manifest {path} is not valid JSON ({err})") from None
    if manifest.get("format") != FORMAT_VERSION or not isinstance(manifest.get("entries"), dict):
        raise ZooError(
            f"the zoo manifest {path} has format {manifest.get('format')!r}; this medgen_nb "
            f"reads format {FORMAT_VERSION} with an 'entries' dict"
        )
    return manifest


def write_manifest(manifest: dict[str, Any], root: str | os.PathLike | None = None) -> None:
    """Write the manifest atomically (sorted keys, indented: diffs stay readable)."""
    with atomic_write(zoo_root(root) / MANIFEST_NAME, "w") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")


def available(root: str | os.PathLike | None = None) -> list[str]:
    """Sorted names of the zoo's entries (trained or not)."""
    return sorted(read_manifest(root)["entries"])


def entry(name: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """The manifest entry ``name`` (a copy); unknown names raise :class:`ZooError` listing them."""
    entries = read_manifest(root)["entries"]
    if not isinstance(name, str) or name not in entries:
        raise ZooError(f"unknown zoo entry {name!r}; the zoo has {sorted(entries)}")
    found = json.loads(json.dumps(entries[name]))
    missing = [k for k in SPEC_KEYS if k not in found]
    if missing:
        raise ZooError(f"zoo entry {name!r} lacks {missing}; an entry needs {list(SPEC_KEYS)}")
    return found


def weights_path(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where entry ``name``'s weights live: ``medgen_nb/zoo/weights/<name>.safetensors``."""
    return zoo_root(root) / "weights" / f"{name}.safetensors"


def current_versions(spec: dict[str, Any]) -> dict[str, Any]:
    """The package version and the simulator versions the entry's task would be built with now."""
    task = get_task(spec["task"]["name"], data=spec["task"].get("data", "phantom"))
    return {"medgen_nb": __version__, "simulator": simulator_versions(task)}


def stale_reasons(name: str, root: str | os.PathLike | None = None) -> list[str]:
    """Why entry ``name`` would be rebuilt by ``train --stale`` (empty: it is current).

    An entry is stale when it was never trained, or when the package version or any simulator
    version differs from those it was trained with (the phantom it learnt from changed).
    """
    spec = entry(name, root)
    if not spec["weights"].get("sha256"):
        return ["never trained"]
    stored, now = spec.get("versions", {}), current_versions(spec)
    reasons = []
    if stored.get("medgen_nb") != now["medgen_nb"]:
        reasons.append(f"medgen_nb {stored.get('medgen_nb')} -> {now['medgen_nb']}")
    old_sim = stored.get("simulator", {})
    for key in sorted(set(old_sim) | set(now["simulator"])):
        if old_sim.get(key) != now["simulator"].get(key):
            reasons.append(f"simulator {key} {old_sim.get(key)} -> {now['simulator'].get(key)}")
    return reasons


def is_stale(name: str, root: str | os.PathLike | None = None) -> bool:
    """True if entry ``name`` was never trained or its package/simulator versions changed."""
    return bool(stale_reasons(name, root))
