"""Probes of the tasks and evaluation layer: what a learner mistypes or mixes up on the way from a
named task to a results table. Every probe fails before any phantom is simulated, so each takes
well under a second. (These probes need the layer; they do not run against code older than it.)
"""

from __future__ import annotations

import torch
from reliability_probes import Probe
from torch.utils.data import TensorDataset

from medgen_nb import tasks
from medgen_nb.data import modalities
from medgen_nb.evaluation import Results, as_task_data, evaluate, fit_or_load, predict
from medgen_nb.metrics import cluster_mean_ci
from medgen_nb.models import create

TINY_VAE = dict(size=16, base_channels=4, latent_dim=4)


def _images(n: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(0))


def _ok_alias(value, _tmp) -> bool:
    return value == ("t1w", "t1ce", "flair")


PROBES: list[Probe] = [
    Probe(
        "L", "misspelt task name", lambda _: tasks.get("brain_t1_to_t2"), hint="brain_t1w_to_t2w"
    ),
    Probe(
        "L",
        "task on a data set it has no variant on",
        lambda _: tasks.get("chest_ct_to_us", data="ixi"),
        hint="runs on",
    ),
    Probe(
        "L",
        "two subjects cannot fill three splits",
        lambda _: tasks.build(tasks.get("brain_t1w_to_t2w"), n_subjects=2),
        hint="n_subjects",
    ),
    Probe(
        "L",
        "True as a subject count",
        lambda _: tasks.build(tasks.get("brain_t1w_to_t2w"), n_subjects=True),
        hint="n_subjects",
    ),
    Probe(
        "L",
        "real variant not downloaded",
        lambda tmp: tasks.build(tasks.get("brain_t1w_to_t2w", data="ixi"), root=tmp / "none"),
        hint="data_scripts/ixi.py",
    ),
    Probe(
        "L",
        "a target that is also a source",
        lambda _: tasks.TranslationTask("x", "x", region="brain", sources=("t2",), target="T2w"),
        hint="also a source",
    ),
    Probe(
        "L", "unknown modality name", lambda _: modalities.canonical("t3w"), hint="canonical names"
    ),
    Probe(
        "L",
        "BraTS and IXI aliases resolve (control)",
        expect="result",
        run=lambda _: tuple(modalities.canonical(n) for n in ("T1", "t1c", "t2f")),
        check=_ok_alias,
    ),
    Probe(
        "L",
        "sampling from a translator",
        lambda _: predict(create("pix2pix", size=16, base_channels=4), n=4),
        hint="cannot sample",
    ),
    Probe(
        "L",
        "translating with a sampler",
        lambda _: predict(create("vae", **TINY_VAE), _images()),
        hint="cannot translate",
    ),
    Probe(
        "L",
        "3-D images into predict",
        lambda _: predict(create("pix2pix", size=16, base_channels=4), _images()[:, 0]),
        hint="(N, C, S, S)",
    ),
    Probe(
        "L",
        "negative steps",
        lambda _: fit_or_load(
            create("vae", **TINY_VAE), as_task_data(TensorDataset(_images()), 16), -1
        ),
        hint="steps",
    ),
    Probe(
        "L",
        "scoring a split the data do not have",
        lambda _: evaluate(create("vae", **TINY_VAE), as_task_data(TensorDataset(_images()), 16)),
        hint="no 'test' split",
    ),
    Probe(
        "L",
        "a row that is not in the table",
        lambda _: Results().get("Pix2Pix", "psnr"),
        hint="expected one row",
    ),
    Probe(
        "L",
        "a subject interval from one subject",
        lambda _: cluster_mean_ci([20.0, 21.0, 22.0], [0, 0, 0]),
        hint="at least 2 subjects",
    ),
]
