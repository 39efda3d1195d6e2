"""Notebook 05 runs on real data: DATA="medmnist:pneumoniamnist" on a fabricated MedMNIST file.

There is no zoo model for MedMNIST, so the DDPM trains in the notebook (N_STEPS, 20 in SMOKE).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from realdata_fakes import fake_medmnist_npz

from medgen_nb.course import run_notebook
from medgen_nb.data.realdata.medmnist import medmnist_filename

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_diffusion.ipynb"


def _printed(executed: Path) -> dict[str, str]:
    """Each code cell's printed text, by cell id."""
    cells = json.loads(executed.read_text())["cells"]
    return {
        c["id"]: "".join(
            "".join(o.get("text", "")) for o in c.get("outputs", []) if o["output_type"] == "stream"
        )
        for c in cells
        if c["cell_type"] == "code"
    }


@pytest.mark.notebook
def test_notebook_05_trains_and_scores_on_pneumoniamnist(tmp_path, monkeypatch):
    # The loader's default folder is cache_dir("realdata", "medmnist"); the kernel inherits the env.
    monkeypatch.setenv("MEDGEN_NB_CACHE", str(tmp_path / "cache"))
    # SMOKE's SIZE 32 reads the stored 28 px file (the largest stored size <= 32), resampled to 32
    npz = fake_medmnist_npz(
        tmp_path / "cache" / "realdata" / "medmnist" / medmnist_filename("pneumoniamnist", 28),
        n=(24, 4, 16),
    )
    train_labels = np.load(npz)["train_labels"][:, 0]
    executed = tmp_path / "05_pneumoniamnist.ipynb"
    run = run_notebook(
        NOTEBOOK, executed, smoke=True, parameters={"DATA": "medmnist:pneumoniamnist"}
    )
    assert run.error is None, (
        f"notebook 05 failed on MedMNIST after {run.seconds:.0f} s:\n{run.error}"
    )
    printed = _printed(executed)
    # the official splits of the fake file, with its class labels named as PneumoniaMNIST's
    counts = np.bincount(train_labels, minlength=2)
    assert (
        f"train 24 images, test 16 (16 test units); classes: normal {counts[0]}, pneumonia {counts[1]}"
        in printed["nb05-05"]
    )
    assert "N = 16 generated vs 16 real test images" in printed["nb05-22"]  # all 16 test X-rays
    assert "trained on simulated slices" in printed["nb05-22"]
    # no zoo model and no contrast judge for this data set: said, not faked
    assert "No stored comparison" in printed["nb05-26"]
    assert "No contrast judge" in printed["nb05-36"]
    for name in ("fid_trained", "fid_untrained", "fid_vae", "fid_real_floor"):
        assert np.isfinite(run.headlines[name]), (name, run.headlines)
    assert run.headlines["train_steps"] == 20
