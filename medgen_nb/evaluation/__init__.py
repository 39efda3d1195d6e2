"""From a named task to a results table: fit or load, predict, evaluate.

::

    from medgen_nb import tasks
    from medgen_nb.evaluation import evaluate, fit_or_load
    from medgen_nb.models import create

    data = tasks.build(tasks.get("brain_t1w_to_t2w"), smoke=True)
    run = fit_or_load(create("pix2pix", size=data.size, base_channels=8), data, steps=20)
    table = evaluate(run.model, data, name="Pix2Pix")   # tidy rows, subject-level intervals
    print(table.to_markdown())

The creation baseline, :func:`train_vae_baseline` (notebook 02's VAE at a matched budget), and
the feature network's training (``python -m medgen_nb.evaluation.feature_net --train``, not
imported here) live in this layer too: both drive the training loop. This layer sits above data,
models, training and metrics, and below notebooks, widgets and benchmarks.
"""

from medgen_nb.evaluation.baselines import (
    VAE_BASELINE_CONFIG,
    as_task_data,
    dataset_fingerprint,
    train_vae_baseline,
)
from medgen_nb.evaluation.creation import evaluate_creation, feature_metrics
from medgen_nb.evaluation.downstream import cluster_pooled_ci, evaluate_downstream
from medgen_nb.evaluation.fitting import (
    UNPAIRED_MODELS,
    FitResult,
    fit_or_load,
    predict,
    record_key,
    run_record,
    training_set,
    unpaired_training_set,
)
from medgen_nb.evaluation.results import COLUMNS, Results, Row
from medgen_nb.evaluation.scoring import evaluate, per_image_metrics

__all__ = [
    "COLUMNS",
    "UNPAIRED_MODELS",
    "VAE_BASELINE_CONFIG",
    "FitResult",
    "Results",
    "Row",
    "as_task_data",
    "dataset_fingerprint",
    "evaluate",
    "evaluate_creation",
    "evaluate_downstream",
    "cluster_pooled_ci",
    "feature_metrics",
    "fit_or_load",
    "per_image_metrics",
    "predict",
    "record_key",
    "run_record",
    "train_vae_baseline",
    "training_set",
    "unpaired_training_set",
]
