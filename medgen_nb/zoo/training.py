"""Train a zoo entry from its recipe, score it on held-out subjects, and check stored scores.

Scores (translation entries) follow notebook 01's protocol through
:func:`medgen_nb.evaluation.evaluate`: every metric of the task per test slice inside the head
mask, averaged per subject, reported as the mean over subjects with a cluster-bootstrap 95 %
interval (subjects resampled, never slices). Each entry stores

* ``metrics.test``: the task's test split, at the alignment it was trained on (the gate);
* ``metrics.test_perfect``: the same subjects with perfectly aligned sources (how much of the
  gap is the pairs' residual misregistration rather than the model);
* ``metrics.lookup_baseline``: the per-pixel lookup baseline on the same test split;
* ``metrics.verify_subset``: a fixed, small held-out set (three subjects of phantom population
  :data:`VERIFY_POPULATION`, which training never saw) that ``verify --quick`` and the tests
  re-score in seconds.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from typing import Any

import torch

from medgen_nb import tasks
from medgen_nb.evaluation import UNPAIRED_MODELS, evaluate, unpaired_training_set
from medgen_nb.models.baselines import IntensityMappingBaseline
from medgen_nb.tasks.base import TaskData, TranslationTask
from medgen_nb.train import fit
from medgen_nb.utils import seed_everything
from medgen_nb.zoo.manifest import (
    ZooError,
    current_versions,
    entry,
    read_manifest,
    stale_reasons,
    weights_path,
    write_manifest,
)
from medgen_nb.zoo.recipe import Recipe, RecipeTrainee
from medgen_nb.zoo.store import as_stored, build_model, load, write_weights

# The verify subset: subjects of another phantom population (training used population 0), all
# of them held out. Three is the fewest tasks.build accepts; they simulate once per cache.
VERIFY_POPULATION = 1
VERIFY_SUBJECTS = 3
# How far a re-scored metric may drift from the manifest and still verify (absolute). The same
# weights on the same subjects score identically on one machine; this allows for float
# differences between CPUs and BLAS builds, far below any change a retrain or a simulator
# change makes (tenths of a dB).
TOLERANCE: dict[str, float] = {"psnr": 0.05, "ssim": 0.002, "mae": 0.0005}
N_BOOT = 1000
# Domain B of an unpaired entry: every target slice of its subjects, or only the lesion-free ones.
DOMAIN_B: tuple[str, ...] = ("all", "lesion_free")


def build_data(
    spec: dict[str, Any], *, alignment: str | None = None, verify: bool = False
) -> TaskData:
    """The entry's task data: as trained (default), at another ``alignment``, or the verify subset."""
    t = spec["task"]
    task = tasks.get(t["name"], data=t.get("data", "phantom"))
    kwargs: dict[str, Any] = {"size": t["size"], "n_subjects": t["n_subjects"], "seed": t["seed"]}
    if isinstance(task, TranslationTask):
        kwargs["alignment"] = alignment or t["alignment"]
    if verify:  # every subject of the verify population goes to the test split
        task = dataclasses.replace(task, fractions=(0.0, 0.0, 1.0))
        kwargs |= {"n_subjects": VERIFY_SUBJECTS, "seed": VERIFY_POPULATION}
    return tasks.build(task, **kwargs)


def build_test_data(spec: dict[str, Any], *, alignment: str | None = None) -> TaskData:
    """The data the entry's test metrics are measured on.

    With ``task.test_population`` (``{"seed": s, "n_subjects": n}``) these are ``n`` subjects of
    phantom population ``s``, all of them held out (training used population ``task.seed``), so
    the test metrics rest on as many subjects as the interval needs; without it, the test split of
    the training task.
    """
    population = spec["task"].get("test_population")
    if population is None:
        return build_data(spec, alignment=alignment)
    t = spec["task"]
    task = dataclasses.replace(
        tasks.get(t["name"], data=t.get("data", "phantom")), fractions=(0.0, 0.0, 1.0)
    )
    return tasks.build(
        task, size=t["size"], n_subjects=population["n_subjects"], seed=population["seed"],
        alignment=alignment or t["alignment"],
    )  # fmt: skip


def gate_passed(spec: dict[str, Any], metrics: dict[str, Any]) -> bool:
    """Whether ``metrics`` meet the entry's gate.

    Two kinds: ``{"metric": m, "min": v, "split": s}`` (``metrics[s][m] >= v``) and
    ``{"metrics": [m, ...], "above": "lookup_baseline", "split": s}`` (each metric's mean above
    the baseline's on the same subjects; SSIM and PSNR are higher-is-better).
    """
    gate = spec["gate"]
    scored = metrics[gate["split"]]
    if "above" in gate:
        reference = metrics[gate["above"]]
        return all(scored[m]["value"] > reference[m]["value"] for m in gate["metrics"])
    return bool(scored[gate["metric"]]["value"] >= gate["min"])


def scores(model: Any, data: TaskData, split: str = "test", n_boot: int = N_BOOT) -> dict[str, Any]:
    """``{metric: {value, ci_low, ci_high}, "subjects": n, "slices": n}`` on ``data[split]``."""
    table = evaluate(model, data, split, n_boot=n_boot)
    first = table.rows[0]
    out: dict[str, Any] = {
        "alignment": getattr(data.task, "alignment", None),
        "subjects": first.subjects,
        "slices": first.images,
        "subject_ids": sorted(first.per_subject),
    }
    for row in table.rows:
        out[row.metric] = {"value": row.value, "ci_low": row.ci_low, "ci_high": row.ci_high}
    return out


def run_recipe(
    spec: dict[str, Any], data: TaskData, *, device: str = "cpu", progress: bool = False
) -> tuple[Any, Any, float]:
    """Train the entry's model from its recipe on ``data["train"]``: (shipped model, history, s).

    The initial weights follow from the recipe's seed; the shipped model carries the EMA
    weights where the recipe keeps an average.
    """
    recipe = Recipe.from_dict(spec["recipe"])
    seed_everything(recipe.seed)
    trainee = RecipeTrainee(build_model(spec), recipe)
    train = data["train"]
    if spec["model"]["name"] in UNPAIRED_MODELS:  # two domains of different subjects
        domain_b = spec["task"].get("domain_b", "all")
        if domain_b not in DOMAIN_B:
            raise ZooError(f"task.domain_b must be one of {DOMAIN_B}, got {domain_b!r}")
        train = unpaired_training_set(train, recipe.seed, lesion_free_b=domain_b == "lesion_free")
    start = time.perf_counter()
    history = fit(
        trainee, train, recipe.steps, batch_size=recipe.batch_size, seed=recipe.seed,
        precision=recipe.precision, device=device, progress=progress, log_every=100,
    )  # fmt: skip
    return trainee.shipped(), history, time.perf_counter() - start


def entry_kind(spec: dict[str, Any]) -> str:
    """``"translation"``, ``"creation"`` or ``"downstream"``: the kind of the entry's task."""
    return tasks.get(spec["task"]["name"], data=spec["task"].get("data", "phantom")).kind


def _check_translation(name: str, spec: dict[str, Any]) -> None:
    kind = entry_kind(spec)
    if kind != "translation":
        raise ZooError(
            f"zoo entry {name!r} is a {kind} entry: train and verify it with "
            "medgen_nb.zoo.creation (the command line picks the module by itself)"
        )


def train_entry(
    name: str, *, root: str | os.PathLike | None = None, progress: bool = False
) -> dict[str, Any]:
    """Train entry ``name`` from its recipe, score it, write weights and manifest; returns the entry.

    The weights are written first (atomically), then the manifest entry (atomically), so an
    interrupted call leaves either the old entry or the new one, never a manifest that describes
    a file that is not there.
    """
    spec = entry(name, root)
    _check_translation(name, spec)
    recipe = Recipe.from_dict(spec["recipe"])
    data = build_data(spec)
    model, history, wall = run_recipe(spec, data, progress=progress)
    dtype = spec["weights"]["dtype"]
    test = build_test_data(spec)
    full_precision = scores(model, test)
    model = as_stored(model, dtype)  # every score below is of the weights as shipped
    lookup = IntensityMappingBaseline(method="lookup")
    train = data["train"].tensors()
    lookup.fit(train["image"], train["target"])
    metrics = {
        "test": scores(model, test),
        "test_perfect": scores(model, build_test_data(spec, alignment="perfect")),
        "test_float32_psnr": full_precision["psnr"]["value"],
        "lookup_baseline": scores(lookup, test),
        "verify_subset": scores(model, build_data(spec, verify=True)),
    }
    spec["weights"] |= write_weights(model, dtype, weights_path(name, root))
    spec |= {
        "versions": current_versions(spec),
        "metrics": metrics,
        "gate_passed": gate_passed(spec, metrics),
        "training": {
            "wall_s": round(wall, 1),
            "steps_per_s": round(recipe.steps / wall, 2),
            "device": "cpu",
            "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
            "final_losses": history.recent_mean(100),
        },
    }
    manifest = read_manifest(root)
    manifest["entries"][name] = spec
    write_manifest(manifest, root)
    return spec


def verify_entry(
    name: str, *, quick: bool = False, root: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Re-score entry ``name``'s stored weights and compare with its manifest.

    ``quick`` re-scores the verify subset (seconds), otherwise the full test split. Returns
    ``{"name", "ok", "checked": {metric: (stored, now, tolerance)}, "stale": [reasons],
    "gate_passed"}``; a missing or corrupt file raises :class:`ZooError` from :func:`load`.
    """
    spec = entry(name, root)
    _check_translation(name, spec)
    if "metrics" not in spec:
        raise ZooError(
            f"zoo entry {name!r} was never trained; run `python -m medgen_nb.zoo train {name}`"
        )
    model = load(name, root=root)
    key = "verify_subset" if quick else "test"
    stored = spec["metrics"][key]
    now = scores(
        model, build_data(spec, verify=True) if quick else build_test_data(spec), n_boot=N_BOOT
    )
    checked = {
        m: (stored[m]["value"], now[m]["value"], tol) for m, tol in TOLERANCE.items() if m in stored
    }
    ok = (
        all(abs(a - b) <= tol for a, b, tol in checked.values())
        and stored["subject_ids"] == now["subject_ids"]
    )
    return {
        "name": name,
        "ok": ok,
        "subset": key,
        "checked": checked,
        "stale": stale_reasons(name, root),
        "gate_passed": spec.get("gate_passed"),
    }
