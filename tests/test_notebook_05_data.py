"""Notebook 05 runs on real data: DATA="medmnist:pneumoniamnist" on a fabricated MedMNIST file."""

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
    assert (
        f"train 24 images ({train_labels.mean():.0%} with pneumonia), test 16" in printed["nb05-05"]
    )
    assert "(16 vs 16 images)" in printed["nb05-22"]  # FID/KID against the 16 real test X-rays
    assert "trained on simulated slices" in printed["nb05-22"]
    for name in ("fid_trained", "fid_untrained", "fid_vae", "fid_real_floor"):
        assert np.isfinite(run.headlines[name]), (name, run.headlines)
    assert run.headlines["train_steps"] == 20
