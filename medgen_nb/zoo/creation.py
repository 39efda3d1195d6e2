"""Train and score the zoo's creation entries: generators of new slices, and the judge that checks them.

Generators are scored with notebook 01's protocol (:func:`medgen_nb.evaluation.evaluate_creation`):
samples against the held-out test subjects' slices in the medical feature space, FID and KID with
N >= 640, precision/recall and density/coverage, intervals from subsampling subjects, and the
real-vs-real floor of the same slices. Each generator entry stores under ``metrics``:

* ``test``: those metrics, with ``images`` and ``subjects`` (N), and ``floor`` (real vs real);
* ``untrained``: the FID of the same network at its initial weights (what training must beat);
* ``class_accuracy`` (conditional entries, and InfoGAN's categorical code): the judge's balanced
  accuracy on samples drawn for each class, with a bootstrap interval over samples;
* ``sampler_comparison`` (diffusion): FID and wall time of the full T-step ancestral sampler and of
  the entry's few-step sampler, each on the same labels and seeds, pooled over ``COMPARE_SEEDS``
  draws;
* ``verify_subset``: a fixed small score that ``verify --quick`` reproduces in seconds.

The *judge* (``model.family == "downstream"``) is a slice classifier trained on the real training
slices of the entry's task; it must itself separate the classes of real held-out slices before
its verdict on samples means anything. Its entry stores its balanced accuracy on the test split
(cluster bootstrap over subjects).

Gates (``spec["gate"]``, a list) compare a metric with a number (``min``/``max``), with another
metric of the entry times ``factor`` (``below_metric``), or with the same metric of another entry
(``below_entry``/``above_entry``), so "the diffusion model beats the VAE" is checked against the
VAE that is shipped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from medgen_nb.evaluation import evaluate_creation, predict
from medgen_nb.evaluation.creation import is_class_conditional
from medgen_nb.evaluation.downstream import cluster_pooled_ci
from medgen_nb.metrics import (
    SmallSampleWarning,
    balanced_accuracy,
    balanced_accuracy_ci,
    extract_features,
    fid,
)
from medgen_nb.models.validation import check_positive_int
from medgen_nb.tasks.base import TaskData
from medgen_nb.utils import atomic_write, cache_dir, seed_everything
from medgen_nb.zoo.manifest import (
    ZooError,
    current_versions,
    entry,
    read_manifest,
    stale_reasons,
    weights_path,
    write_manifest,
)
from medgen_nb.zoo.recipe import Recipe
from medgen_nb.zoo.store import as_stored, build_model, load, write_weights

SAMPLE_SEED = 0  # every score draws its samples from this seed: re-scoring is exact
N_DRAWS = 100  # subject subsamples behind each creation interval
N_BOOT = 1000  # bootstrap draws of the class-accuracy and judge intervals
CLASS_SAMPLES = 256  # samples per class for the class-accuracy check
COMPARE_SAMPLES = 640  # samples per seed and sampler in the diffusion sampler comparison
# Seeds pooled per sampler (N = 3 x 640 = 1920). Both samplers of a good model sit near the
# real-vs-real floor, where one draw of 640 moves FID by more than the 10 % the gate resolves.
# Three 1000-step draws of 640 take about 75 min on one CPU core.
COMPARE_SEEDS = 3
VERIFY_SAMPLES = 256  # samples of the quick verify score (reproducibility, not quality)
# Re-scored values may drift this much from the manifest (float differences between CPUs).
FID_RTOL, FID_ATOL = 0.01, 0.02
ACCURACY_ATOL = 0.005


def is_judge(spec: dict[str, Any]) -> bool:
    return spec["model"].get("family") == "downstream"


def _data(spec: dict[str, Any], verify: bool = False) -> TaskData:
    from medgen_nb.zoo.training import build_data  # shared with translation entries

    return build_data(spec, verify=verify)


def _stride(n: int, k: int) -> torch.Tensor:
    """``min(n, k)`` indices spread evenly over ``range(n)`` (every class and subject is hit)."""
    return torch.linspace(0, n - 1, min(n, k)).round().long().unique()


def _infogan_images(
    model: Any, categories: torch.Tensor, seed: int, batch_size: int = 128
) -> torch.Tensor:
    """InfoGAN samples with the categorical code set to ``categories`` ``(n,)``; [0, 1] on the CPU."""
    gen = torch.Generator(device=model.device).manual_seed(seed)
    out = []
    with torch.no_grad():
        for i in range(0, len(categories), batch_size):
            c = categories[i : i + batch_size]
            out.append(model.sample(len(c), codes={"categorical": c}, generator=gen).float().cpu())
    return torch.cat(out)


def class_accuracy(
    model: Any,
    judge: Any,
    num_classes: int,
    sampling: dict[str, Any],
    *,
    n_per_class: int = CLASS_SAMPLES,
    seed: int = SAMPLE_SEED,
) -> dict[str, Any]:
    """How often the judge assigns a sample to the class it was drawn for.

    Class-conditional models draw ``n_per_class`` samples per label. InfoGAN has no labels: its
    samples are drawn per value of the categorical code, and since the code's values carry no
    names, each code is matched to a class by the assignment that maximises balanced accuracy
    (all permutations; the one found is stored), as unsupervised clustering is scored.
    """
    target = torch.arange(num_classes).repeat_interleave(n_per_class)  # (K * n,)
    infogan = hasattr(model, "categorical_dim") and not is_class_conditional(model)
    if infogan:
        if model.categorical_dim != num_classes:
            raise ZooError(
                f"InfoGAN's categorical code has {model.categorical_dim} values, the task "
                f"{num_classes} classes: they must match to be compared"
            )
        images = _infogan_images(model, target, seed)
    else:
        images = predict(model, labels=target, seed=seed, **sampling)
    pred = judge.predict(images).cpu()
    assignment = list(range(num_classes))
    if infogan:  # code c was judged class pred; find the code -> class map that fits best
        best = -1.0
        for perm in itertools.permutations(range(num_classes)):
            score = float(balanced_accuracy(preds=pred, target=torch.tensor(perm)[target]))
            if score > best:
                best, assignment = score, list(perm)
        target = torch.tensor(assignment)[target]
    per_class = [float((pred[target == k] == k).float().mean()) for k in range(num_classes)]
    return {
        "balanced_accuracy": balanced_accuracy_ci(preds=pred, target=target, n_boot=N_BOOT),
        "per_class": per_class,
        "samples": len(target),
        "code_to_class": assignment if infogan else None,
    }


def generator_scores(
    model: Any, data: TaskData, sampling: dict[str, Any], split: str = "test"
) -> dict[str, Any]:
    """The protocol's metrics of ``model`` on ``data[split]`` with the real-vs-real floor."""
    table = evaluate_creation(
        model, data, split, name="model", n_draws=N_DRAWS, seed=SAMPLE_SEED, **sampling
    )
    out: dict[str, Any] = {"floor": {}}
    for row in table.rows:
        if row.model == "model":
            out[row.metric] = {"value": row.value, "ci_low": row.ci_low, "ci_high": row.ci_high}
            out["images"], out["subjects"] = row.images, row.subjects
        else:
            out["floor"][row.metric] = row.value
            out["floor_images"] = row.images
    return out


def _draw_like(
    model: Any, real: dict[str, torch.Tensor], seed: int = SAMPLE_SEED, **sampling: Any
) -> torch.Tensor:
    """One sample per real slice, with its label if the model takes labels."""
    if is_class_conditional(model):
        return predict(model, labels=real["label"], seed=seed, **sampling)
    return predict(model, n=len(real["image"]), seed=seed, **sampling)


def _fid_of(model: Any, real: dict[str, torch.Tensor], sampling: dict[str, Any]) -> float:
    """FID of samples (one per real slice, with its label if the model takes labels)."""
    fake = _draw_like(model, real, **sampling)
    return float(fid(extract_features(real["image"]), extract_features(fake)))


def _subset(tensors: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    idx = _stride(len(tensors["image"]), k)
    return {key: v[idx] for key, v in tensors.items()}


def sampler_comparison(
    model: Any,
    data: TaskData,
    sampling: dict[str, Any],
    n: int = COMPARE_SAMPLES,
    full: dict[str, Any] | None = None,
    seeds: int = COMPARE_SEEDS,
) -> dict[str, Any]:
    """FID and seconds of the full ancestral sampler vs the entry's fast sampler, same N and seeds.

    The real side is the whole test split; the generated side, for each sampler, ``seeds`` draws
    (seeds ``SAMPLE_SEED``, ``SAMPLE_SEED + 1``, ...) of ``n`` samples with the labels of ``n``
    test slices spread over the split. Each row holds the FID of the pooled ``seeds * n``
    samples, the FID of each draw (their spread is the seed-to-seed noise) and the seconds of
    all draws. When the entry's sampler is stochastic, the deterministic DDIM (eta = 0) at the
    same number of steps is scored as well: with a cosine schedule and epsilon prediction its
    first step divides by sqrt(alpha_bar) of the last timestep, and the error it makes is never
    re-randomised. ``full``: the stored row of the T-step sampler for these same weights (it
    does not depend on ``sampling``), reused instead of drawn again.
    """
    check_positive_int(seeds, "seeds")
    test = data["test"].tensors()
    real_features = extract_features(test["image"])
    picked = _subset(test, n)
    per_seed = len(picked["image"])
    out: dict[str, Any] = {
        "samples": per_seed * seeds, "samples_per_seed": per_seed, "seeds": seeds,
        "real": len(test["image"]),
    }  # fmt: skip
    timesteps, steps = model.config["timesteps"], sampling.get("steps")
    fast_key = f"{sampling.get('sampler', 'ddpm')}_{steps}"
    rows = [(f"ddpm_{timesteps}", {"sampler": "ddpm", "steps": None}), (fast_key, dict(sampling))]
    if sampling.get("sampler") != "ddim" or sampling.get("eta", 0.0) != 0.0:
        rows.append((f"ddim_{steps}_eta0", {"sampler": "ddim", "steps": steps, "eta": 0.0}))
    for key, kwargs in rows:
        if full is not None and key == f"ddpm_{timesteps}":
            out[key] = dict(full)
            continue
        features, seconds = [], 0.0
        for seed in range(SAMPLE_SEED, SAMPLE_SEED + seeds):
            start = time.perf_counter()
            fake = _draw_like(model, picked, seed, **kwargs)
            seconds += time.perf_counter() - start
            features.append(extract_features(fake))
        out[key] = sampler_row(real_features, features, seconds)
    slow, fast = out[f"ddpm_{timesteps}"], out[fast_key]
    out["fast_sampler"] = fast_key
    out["fid_ratio"] = fast["fid"] / slow["fid"]
    out["speedup"] = slow["seconds"] / fast["seconds"]
    return out


def sampler_row(
    real_features: torch.Tensor, features: list[torch.Tensor], seconds: float
) -> dict[str, Any]:
    """One sampler's row: FID of the pooled draws, FID of each draw, and the seconds of all."""
    return {
        "fid": float(fid(real_features, torch.cat(features))),
        "fid_per_seed": [float(fid(real_features, f)) for f in features],
        "seconds": seconds,
    }


def judge_scores(judge: Any, data: TaskData, split: str = "test") -> dict[str, Any]:
    """Balanced accuracy and AUC of the judge on real slices, cluster bootstrap over subjects."""
    from medgen_nb.metrics import macro_auc

    t = data[split].tensors()
    with torch.no_grad():
        prob = torch.cat(
            [judge.predict_proba(t["image"][i : i + 256]) for i in range(0, len(t["image"]), 256)]
        )
    y, k = t["label"], prob.shape[1]

    def statistic(rows: np.ndarray) -> dict[str, float]:
        r = torch.as_tensor(rows)
        p, target = prob[r], y[r]
        if len(torch.unique(target)) < 2:
            return {"balanced_accuracy": math.nan, "auc": math.nan}
        return {
            "balanced_accuracy": float(
                balanced_accuracy(preds=p.argmax(1), target=target, n_classes=k)
            ),
            "auc": float(macro_auc(preds=p, target=target)),
        }

    scored = cluster_pooled_ci(statistic, t["subject"], n_boot=N_BOOT, seed=SAMPLE_SEED)
    out: dict[str, Any] = {
        m: {"value": v, "ci_low": lo, "ci_high": hi} for m, (v, lo, hi) in scored.items()
    }
    out["images"], out["subjects"] = len(y), len(torch.unique(t["subject"]))
    return out


def verify_score(model: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The quick reproducibility score on the verify subset (a population training never saw)."""
    real = _subset(_data(spec, verify=True)["test"].tensors(), VERIFY_SAMPLES)
    if is_judge(spec):
        pred = model.predict(real["image"]).cpu()
        return {
            "balanced_accuracy": float(balanced_accuracy(preds=pred, target=real["label"])),
            "images": len(pred),
        }
    with warnings.catch_warnings():  # a small N on purpose: this checks reproducibility only
        warnings.simplefilter("ignore", SmallSampleWarning)
        value = _fid_of(model, real, spec.get("sampling", {}))
    return {"fid": value, "images": len(real["image"])}


# ---- gates ----------------------------------------------------------------------------------


def _lookup(metrics: dict[str, Any], path: str) -> float | None:
    node: Any = metrics
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, dict):
        node = node.get("value")
    return None if node is None else float(node)


def check_gates(spec: dict[str, Any], root: str | os.PathLike | None = None) -> list[dict]:
    """Each gate of ``spec`` with the value found, its bound and whether it holds."""
    out = []
    for gate in spec["gate"]:
        value = _lookup(spec.get("metrics", {}), gate["metric"])
        if "min" in gate or "max" in gate:
            bound, side = gate.get("min", gate.get("max")), ">=" if "min" in gate else "<="
        elif "below_metric" in gate:  # another metric of this entry, e.g. the untrained FID
            bound, side = _lookup(spec.get("metrics", {}), gate["below_metric"]), "<="
        else:
            other = gate.get("below_entry") or gate["above_entry"]
            bound = _lookup(entry(other, root).get("metrics", {}), gate["metric"])
            side = "<" if "below_entry" in gate else ">"
        if "factor" in gate and bound is not None:
            bound = bound * gate["factor"]
        passed = value is not None and bound is not None and (
            value >= bound if side == ">=" else value <= bound if side == "<=" else
            value < bound if side == "<" else value > bound
        )  # fmt: skip
        out.append({**gate, "value": value, "bound": bound, "side": side, "passed": passed})
    return out


# ---- training -------------------------------------------------------------------------------


def _staging_path(name: str, spec: dict[str, Any]) -> Path:
    """Where a finished training run waits to be scored: a crash while scoring costs no retrain."""
    what = {k: spec[k] for k in ("task", "model", "recipe")} | {"versions": current_versions(spec)}
    key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir("zoo_staging") / f"{name}-{key}.safetensors"


def _train_or_stage(name: str, spec: dict[str, Any], data: TaskData, progress: bool):
    """The shipped (EMA) model of the recipe, trained now or read back from the staging file."""
    recipe = Recipe.from_dict(spec["recipe"])
    staged = _staging_path(name, spec)
    if staged.is_file():
        model = build_model(spec)
        with safe_open(staged, "pt") as fh:
            meta = json.loads(fh.metadata()["training"])
        model.load_state_dict(load_tensors(staged.read_bytes()))
        return model.eval(), meta
    from medgen_nb.zoo.training import run_recipe

    model, history, wall = run_recipe(spec, data, progress=progress)
    meta = {
        "wall_s": round(wall, 1),
        "steps_per_s": round(recipe.steps / wall, 2),
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "final_losses": history.recent_mean(100),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_write(staged) as fh:
        fh.write(save_tensors(state, metadata={"training": json.dumps(meta)}))
    return model, meta


def fit_recipe(
    name: str,
    data: TaskData | None = None,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    root: str | os.PathLike | None = None,
) -> Any:
    """Retrain entry ``name`` from its recipe and return the model (nothing is written).

    What a notebook's ``TRAIN_FROM_SCRATCH = True`` runs: the entry's network, initial seed,
    steps, batch, schedule, EMA and flips, on ``data`` (default: the entry's own task data) and
    on ``device``. Minutes on a CPU; the zoo's copy took ``entry(name)["training"]["wall_s"]``.
    """
    from medgen_nb.zoo.training import run_recipe

    spec = entry(name, root)
    data = _data(spec) if data is None else data
    return run_recipe(spec, data, device=device, progress=progress)[0]


def _judge_for(spec: dict[str, Any], root) -> Any:
    name = spec.get("judge")
    if name is None:
        return None
    return load(name, root=root)


def train_creation_entry(
    name: str, *, root: str | os.PathLike | None = None, progress: bool = False
) -> dict[str, Any]:
    """Train entry ``name`` (a generator or a judge), score it, write weights and manifest."""
    spec = entry(name, root)
    data = _data(spec)
    judge = None if is_judge(spec) else _judge_for(spec, root)  # fails early if it is missing
    model, meta = _train_or_stage(name, spec, data, progress)
    dtype = spec["weights"]["dtype"]
    model = as_stored(model, dtype)  # every score below is of the weights as shipped
    sampling = spec.get("sampling", {})
    if is_judge(spec):
        metrics: dict[str, Any] = {"test": judge_scores(model, data)}
    else:
        metrics = {"test": generator_scores(model, data, sampling)}
        seed_everything(Recipe.from_dict(spec["recipe"]).seed)
        untrained = build_model(spec).eval()
        metrics["untrained"] = {"fid": _fid_of(untrained, data["test"].tensors(), sampling)}
        if judge is not None:
            num_classes = int(data["train"].tensors()["label"].max()) + 1
            metrics["class_accuracy"] = class_accuracy(model, judge, num_classes, sampling)
        if spec["model"]["name"] == "ddpm":
            metrics["sampler_comparison"] = sampler_comparison(model, data, sampling)
    metrics["verify_subset"] = verify_score(model, spec)
    spec["weights"] |= write_weights(model, dtype, weights_path(name, root))
    spec |= {"versions": current_versions(spec), "metrics": metrics, "training": meta}
    gates = check_gates(spec, root)
    spec |= {"gate_results": gates, "gate_passed": all(g["passed"] for g in gates)}
    manifest = read_manifest(root)
    manifest["entries"][name] = spec
    write_manifest(manifest, root)
    return spec


def verify_creation_entry(
    name: str, *, quick: bool = False, root: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Re-score entry ``name``'s stored weights: the verify subset (``quick``) or the test FID."""
    spec = entry(name, root)
    if "metrics" not in spec:
        raise ZooError(
            f"zoo entry {name!r} was never trained; run `python -m medgen_nb.zoo train {name}`"
        )
    model = load(name, root=root)
    if quick:
        key, now = "verify_subset", verify_score(model, spec)
        stored = spec["metrics"][key]
        metric = "balanced_accuracy" if is_judge(spec) else "fid"
        pairs = {metric: (stored[metric], now[metric])}
    elif is_judge(spec):
        key, now = "test", judge_scores(model, _data(spec))
        pairs = {"balanced_accuracy": (spec["metrics"]["test"]["balanced_accuracy"]["value"],
                                       now["balanced_accuracy"]["value"])}  # fmt: skip
    else:
        key = "test"
        a = spec["metrics"]["test"]["fid"]["value"]
        pairs = {
            "fid": (a, _fid_of(model, _data(spec)["test"].tensors(), spec.get("sampling", {})))
        }
    checked = {}
    for metric, (a, b) in pairs.items():
        tol = ACCURACY_ATOL if metric == "balanced_accuracy" else FID_ATOL + FID_RTOL * abs(a)
        checked[metric] = (a, b, round(tol, 4))
    ok = all(abs(a - b) <= tol for a, b, tol in checked.values())
    gates = check_gates(spec, root)
    return {
        "name": name,
        "ok": ok,
        "subset": key,
        "checked": checked,
        "stale": stale_reasons(name, root),
        "gate_passed": all(g["passed"] for g in gates),
    }
