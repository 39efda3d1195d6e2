"""Notebook 02 runs on real data: DATA="medmnist:pneumoniamnist" on a fabricated MedMNIST file."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from realdata_fakes import fake_medmnist_npz

from medgen_nb.course import run_notebook
from medgen_nb.data.realdata import default_root
from medgen_nb.data.realdata.medmnist import medmnist_filename

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "02_vae.ipynb"
SPLIT_SIZES = (40, 8, 16)  # train, val, test images of the fake set


def _printed(executed: Path) -> str:
    """All stream output (print) of an executed notebook, in cell order."""
    nb = nbformat.read(executed, as_version=4)
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


@pytest.mark.notebook
def test_notebook_02_runs_on_medmnist_and_conditions_on_its_labels(tmp_path):
    # SMOKE keeps SIZE = 64, so load_dataset reads the stored 64 px file from the default folder
    # (cache_dir("realdata", "medmnist"); the test suite points MEDGEN_NB_CACHE at a temp folder).
    fake_medmnist_npz(
        default_root("medmnist") / medmnist_filename("pneumoniamnist", 64),
        n=SPLIT_SIZES,
        size=64,
    )
    executed = tmp_path / NOTEBOOK.name
    run = run_notebook(
        NOTEBOOK, executed, smoke=True, parameters={"DATA": "medmnist:pneumoniamnist"}
    )
    assert run.error is None, f"02 failed on MedMNIST after {run.seconds:.1f} s:\n{run.error}"
    printed = _printed(executed)
    # the fake file's official splits were loaded (not the phantom), and named as real data
    assert "{'train': 40, 'val': 8, 'test': 16} images of real MedMNIST pneumoniamnist" in printed
    assert "Real MedMNIST pneumoniamnist 64 x 64, N = 16 vs 16 held-out test slices" in printed
    # binary class labels: the conditional VAE trained and was checked, not skipped
    assert "Skipped" not in printed
    assert "classified as 'label 1'" in printed
    assert {"cvae_label1_rate_y0", "cvae_label1_rate_y1", "vae_fid"} <= set(run.headlines)
    assert "cvae_lesion_rate_y1" not in run.headlines  # no phantom lesion labels on real data
