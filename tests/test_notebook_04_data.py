"""Notebook 04 runs with DATA="ixi" on fabricated IXI files (issue 13's acceptance for notebook 04)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from realdata_fakes import fake_ixi

from medgen_nb.course import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_image_to_image_gans.ipynb"
# six subjects: four for training (two per unpaired domain), one for validation, one for test
IXI_IDS = (2, 12, 13, 14, 15, 16)


def _stdout(executed: Path) -> str:
    cells = nbformat.read(executed, as_version=4).cells
    return "".join(
        out.get("text", "")
        for cell in cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


@pytest.mark.notebook
def test_notebook_04_runs_on_fabricated_ixi(tmp_path, monkeypatch):
    # A fresh cache holding only the fake IXI files: the kernel inherits MEDGEN_NB_CACHE, so the
    # notebook's default IXI folder is cache/realdata/ixi and no run is loaded from elsewhere.
    cache = tmp_path / "cache"
    monkeypatch.setenv("MEDGEN_NB_CACHE", str(cache))
    fake_ixi(cache / "realdata" / "ixi", ids=IXI_IDS)

    executed = tmp_path / NOTEBOOK.name
    run = run_notebook(NOTEBOOK, executed, smoke=True, parameters={"DATA": "ixi"})
    assert run.error is None, f"{NOTEBOOK.name} failed with DATA='ixi':\n{run.error}"

    text = _stdout(executed)
    # the data came from the fake IXI files: 4/1/1 subjects, and the unpaired domains are disjoint
    assert "train 40 slices of 4 subjects" in text, text[:2000]
    assert "(disjoint subjects)" in text
    # the lesion section says why it is skipped instead of failing on missing tumour labels
    assert text.count("Skipped on IXI: its subjects are healthy volunteers") == 1, text
    assert "true T2w tumour contrast" not in text
    # every model of the comparison was trained and scored; no tumour numbers were reported
    numbers = run.headlines
    for key in ("baseline64", "pix2pix64", "baseline32", "pix2pix32", "cyclegan32", "unit32"):
        assert f"{key}_psnr_db" in numbers, sorted(numbers)
    assert not any(k.startswith("tumour_contrast") for k in numbers), sorted(numbers)
    # the four networks were trained, each into a run folder keyed by its fit_or_load record
    assert len(list((cache / "runs").glob("dataset-*/run.json"))) == 4
