"""Notebook 00 tours a real data set with DATA="ixi" (fabricated files of IXI's layout); notebook
01 refuses real data with a reason.

The loaders look in ``cache_dir("realdata", "ixi")``, and the suite's MEDGEN_NB_CACHE (a temporary
folder, see conftest.py) is inherited by the notebook kernel, so the fakes are written there.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from realdata_fakes import fake_ixi

from medgen_nb.course import run_notebook
from medgen_nb.data.realdata import find_ixi, load_dataset
from medgen_nb.utils import cache_dir

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "00_setup_and_data.ipynb"
FAKE_IDS = (2, 12, 13, 14)


def _text(cell) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []))


@pytest.mark.notebook
def test_notebook_00_shows_ixi_slices_with_data_ixi(tmp_path):
    root = cache_dir("realdata", "ixi")
    if find_ixi(root) and set(find_ixi(root)) != {f"IXI{i:03d}" for i in FAKE_IDS}:
        pytest.skip(f"{root} holds other IXI files (a real download?); fakes would mix with them")
    fake_ixi(root, ids=FAKE_IDS)
    # SMOKE loads the first 3 subjects at 64 px: what the notebook must show.
    expected = load_dataset("ixi", size=64, subjects=3)

    run = run_notebook(NOTEBOOK, tmp_path / NOTEBOOK.name, smoke=True, parameters={"DATA": "ixi"})
    assert run.error is None, f"notebook 00 failed with DATA='ixi':\n{run.error}"

    cells = {c.id: c for c in nbformat.read(run.output, as_version=4).cells}
    items = _text(cells["nb00-37"])
    # IXI items are T2 -> PD pairs: image and target, no phantom lesion seg or label.
    assert "image: shape (1, 64, 64)" in items and "target: shape (1, 64, 64)" in items, items
    assert "seg:" not in items and "label:" not in items, items
    for split, data in expected.items():
        line = f"{split:>5}: {len(data):4d} slices from {len(data.subject_ids)} subject(s)"
        assert line in items, f"expected {line!r} in:\n{items}"
    figure = _text(cells["nb00-38"])
    assert "brain-development.org/ixi-dataset" in figure, figure
    assert run.headlines["train_slices"] == len(expected["train"])


@pytest.mark.notebook
def test_notebook_01_refuses_real_data_and_says_why(tmp_path):
    # Notebook 01 needs six co-registered modalities and tissue labels that no real set has.
    path = NOTEBOOK.with_name("01_metrics.ipynb")
    run = run_notebook(path, tmp_path / path.name, smoke=True, parameters={"DATA": "ixi"})
    assert run.error is not None, "notebook 01 ran with DATA='ixi'; it should refuse real data"
    assert "DATA = 'ixi'" in run.error and "phantom only" in run.error, run.error
    assert "CBCT" in run.error and "tissue labels" in run.error, run.error
