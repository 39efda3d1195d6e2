"""Train a registered model on a named task from the command line, on one or several processes.

One process::

    python -m medgen_nb.train_cli --task brain_t1w_to_t2w --model pix2pix --steps 1000 \\
        --batch-size 8 --out runs/x

Two GPUs (or two CPU processes) of one machine, 8 images per rank (16 per step)::

    torchrun --nproc_per_node=2 -m medgen_nb.train_cli --task brain_t1w_to_t2w \\
        --model pix2pix --steps 1000 --batch-size 8 --out runs/x

A 3-D task trains a 3-D model on patches of its volumes (``--patch-size``, default 32) and, with
``--evaluate``, scores it on the test volumes tile by tile next to the per-voxel lookup baseline
(the lab example: about 90 s on two CPU cores; ``--device cuda --size 128 --batch-size 32`` is
the GPU setting)::

    python -m medgen_nb.train_cli --task brain_t1w_to_t2w_3d --model pix2pix3d \
        --model-arg depth=4 --steps 1000 --batch-size 8 --out runs/p3d --evaluate

The task is built with :func:`medgen_nb.tasks.build`, the model made with
:func:`medgen_nb.models.create` (its ``in_channels`` / ``out_channels`` / ``size`` read from the
task's first training item; a conditional diffusion model generates the target, so its
``in_channels`` come from the target and ``cond_channels`` from the source; other settings from
``--model-arg key=value``), and trained with
:func:`medgen_nb.train.fit`, which checkpoints into ``--out`` and resumes from it. Unpaired
models (CycleGAN, UNIT) get the task's two subject-disjoint domains, as in
:func:`medgen_nb.evaluation.fit_or_load`. Load the result with
``medgen_nb.checkpoint.load_checkpoint(out)``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import resource
import sys
from collections.abc import Sequence
from typing import Any

import torch

from medgen_nb import tasks
from medgen_nb.checkpoint import model_name
from medgen_nb.data.volumes import VolumeDataset
from medgen_nb.distributed import setup
from medgen_nb.evaluation import (
    UNPAIRED_MODELS,
    evaluate,
    fit_or_load,
    training_set,
    unpaired_training_set,
)
from medgen_nb.models import create, registry
from medgen_nb.models.baselines import IntensityMappingBaseline
from medgen_nb.train import PRECISIONS, fit
from medgen_nb.utils import seed_everything


def _model_arg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(
            f"--model-arg takes key=value (e.g. lr=1e-4), got {text!r}"
        )
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a plain string such as norm=instance


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB (Linux and macOS report it in different units)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _evaluation_table(model: Any, task_data: Any, sampling_steps: int | None = None) -> str:
    """The test-split table of ``model`` next to the lookup baseline (one-channel sources);
    ``sampling_steps`` is the DDIM chain of a diffusion model (its ``translate`` default if None)."""
    task = task_data.task
    kwargs = {} if sampling_steps is None else {"steps": sampling_steps}
    results = evaluate(model, task_data, name=model_name(model), **kwargs)
    if len(task.sources) == 1:
        base = fit_or_load(IntensityMappingBaseline(), task_data, 0).model
        results = evaluate(base, task_data, name="lookup baseline") + results
    return results.to_markdown()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m medgen_nb.train_cli", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--task",
        required=True,
        choices=tasks.available(),
        metavar="TASK",
        help="a task name (medgen_nb.tasks.available())",
    )
    p.add_argument(
        "--model",
        required=True,
        choices=sorted(registry()),
        metavar="MODEL",
        help=f"one of {', '.join(sorted(registry()))}",
    )
    p.add_argument("--steps", type=int, required=True, help="optimisation steps in total")
    p.add_argument("--batch-size", type=int, default=16, help="images per step and per process")
    p.add_argument("--out", required=True, help="checkpoint folder (resumed if it holds one)")
    p.add_argument("--seed", type=int, default=0, help="initial weights and batch order")
    p.add_argument("--smoke", action="store_true", help="four subjects at 32 px (a quick check)")
    p.add_argument("--size", type=int, default=None, help="image side (default: the task's)")
    p.add_argument("--n-subjects", type=int, default=None, help="phantom subjects to simulate")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda (each rank: cuda:LOCAL_RANK)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument(
        "--patch-size", type=int, default=32, help="3-D tasks: training patch side in voxels"
    )
    p.add_argument(
        "--evaluate",
        action="store_true",
        help="translation tasks: score the model and the lookup baseline on the test split",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the networks (falls back to eager mode with a warning)",
    )
    p.add_argument(
        "--sampling-steps",
        type=int,
        default=None,
        metavar="N",
        help="with --evaluate: DDIM steps of a diffusion model's translation (default 50)",
    )
    p.add_argument(
        "--model-arg",
        type=_model_arg,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model constructor argument, value as JSON (repeatable)",
    )
    return p  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    task = tasks.get(args.task)
    if args.evaluate and task.kind != "translation":  # refused before training, not after
        raise SystemExit(
            f"--evaluate scores translation tasks; {task.name!r} is a {task.kind} task"
        )
    if args.sampling_steps is not None:
        # creation models (a VAE, a GAN) have no translate at all; translators may lack steps
        translate = getattr(registry()[args.model], "translate", None)
        if translate is None or "steps" not in inspect.signature(translate).parameters:
            raise SystemExit(f"--sampling-steps is for diffusion models; {args.model} has no steps")
        if not args.evaluate:  # the chain only runs when scoring; training ignores it
            raise SystemExit("--sampling-steps sets the chain of --evaluate; add --evaluate")
    replicas, _ = setup(args.device, None)  # starts the process group under torchrun
    task_data = tasks.build(
        task, smoke=args.smoke, seed=args.seed, size=args.size,
        n_subjects=args.n_subjects,
    )  # fmt: skip
    split = task_data["train"]
    volumes = isinstance(split, VolumeDataset)
    unpaired = args.model in UNPAIRED_MODELS and not volumes
    item = (unpaired_training_set(split, args.seed) if unpaired else split)[0]
    shape = {
        "in_channels": item["image"].shape[0],
        "size": args.patch_size if volumes else item["image"].shape[-1],
    }
    accepted = create(args.model).config  # the constructor's arguments and defaults
    if isinstance(item.get("target"), torch.Tensor):
        shape["out_channels"] = item["target"].shape[0]
        if "cond_channels" in accepted:  # conditional diffusion generates the target
            shape |= {
                "in_channels": shape.pop("out_channels"),
                "cond_channels": shape["in_channels"],
            }
    kwargs = {k: v for k, v in shape.items() if k in accepted} | dict(args.model_arg)
    seed_everything(args.seed)  # the same initial weights on every rank and every run
    model = create(args.model, **kwargs)
    # unpaired models: two subject-disjoint domains; 3-D models: seeded patches of the volumes
    data = training_set(model, split, args.seed)
    history = fit(
        model, data, args.steps, device=args.device, batch_size=args.batch_size, seed=args.seed,
        checkpoint_dir=args.out, checkpoint_every=args.checkpoint_every, precision=args.precision,
        torch_compile=args.compile,
    )  # fmt: skip
    if replicas.is_main:
        last = {k: round(v, 4) for k, v in history.recent_mean(10).items()}
        print(
            f"{args.model} on {args.task}: {history.steps_done} steps x {args.batch_size} images x "
            f"{replicas.world_size} process(es) in {history.wall_time:.1f} s; last 10 steps {last}; "
            f"checkpoint in {args.out}; peak memory {peak_rss_mib():.0f} MiB"
        )
        if args.evaluate:
            print(_evaluation_table(model, task_data, args.sampling_steps))
    if replicas.active:
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
