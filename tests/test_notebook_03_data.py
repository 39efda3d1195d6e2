"""Notebook 03 runs on a real data set: DATA="medmnist:pneumoniamnist" on a fabricated npz."""

from __future__ import annotations

import nbformat
import pytest
from realdata_fakes import fake_medmnist_npz

from medgen_nb.course import course_notebooks, run_notebook
from medgen_nb.data.realdata.common import default_root
from medgen_nb.data.realdata.medmnist import medmnist_filename

NOTEBOOK = next(p for p in course_notebooks() if p.stem.startswith("03_"))
# train / val / test images: more than SMOKE's batch of 8, fewer test images than SMOKE's
# N_EVAL = 40, so the table's N shows which data the notebook scored
N_TRAIN, N_VAL, N_TEST = 48, 8, 24


def _printed(executed) -> str:
    nb = nbformat.read(executed, as_version=4)
    return "".join(
        "".join(out.get("text", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )


@pytest.mark.notebook
def test_notebook_03_runs_on_medmnist(tmp_path):
    # the loader looks in cache_dir("realdata", "medmnist"), inside the test suite's cache; SIZE
    # 32 reads the stored 28 px file and resamples it
    fake_medmnist_npz(
        default_root("medmnist") / medmnist_filename("pneumoniamnist", 28),
        n=(N_TRAIN, N_VAL, N_TEST),
        classes=2,
    )
    executed = tmp_path / NOTEBOOK.name
    run = run_notebook(
        NOTEBOOK, executed, smoke=True, parameters={"DATA": "medmnist:pneumoniamnist"}
    )
    assert run.error is None, (
        f"{NOTEBOOK.name} failed on MedMNIST after {run.seconds:.1f} s:\n{run.error}"
    )
    text = _printed(executed)
    assert (
        f"{N_TRAIN} training and {N_TEST} test slices of 32 x 32 px (MedMNIST pneumoniamnist)"
        in text
    )
    assert f"N = {N_TEST} per set, 32 x 32 px, MedMNIST pneumoniamnist" in text
    # two classes: the conditional GANs trained too, and the class sampler was built
    for name in ("gan", "dcgan", "cgan", "acgan", "infogan", "wgan_gp"):
        assert f"{name:>8}: 6 steps" in text or f"{name:>8}: 12 steps" in text, name
    assert "skipped" not in text
    assert run.headlines["n_eval"] == N_TEST and run.headlines["size_px"] == 32
