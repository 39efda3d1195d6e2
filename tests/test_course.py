"""The course runner's kernel-memory monitor and index page."""

import json
import subprocess
import sys

from medgen_nb.course import NotebookRun, PeakChildMemory, write_index

HOLD_300_MB = (
    "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
)


def test_peak_child_memory_sees_a_child_holding_300_mb():
    with PeakChildMemory(interval_s=0.05) as memory:
        subprocess.run([sys.executable, "-c", HOLD_300_MB], check=True)
    assert memory.peak_mb is not None and 290 < memory.peak_mb < 600, memory.peak_mb


def test_peak_child_memory_is_small_without_children():
    with PeakChildMemory(interval_s=0.05) as memory:
        pass
    assert memory.peak_mb is not None and memory.peak_mb < 50, memory.peak_mb


def test_index_and_summary_report_runtime_and_peak_memory(tmp_path):
    runs = [
        NotebookRun("00_x", 12.3, tmp_path / "00_x.ipynb", None, {"fid": 5.0}, peak_mb=812.4),
        NotebookRun("01_y", 1.0, tmp_path / "01_y.ipynb", "CellExecutionError: boom"),
    ]
    page = write_index(runs, tmp_path, smoke=False).read_text()
    assert "kernel peak memory (MB)" in page and "<td>812</td>" in page and "boom" in page
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [r["peak_mb"] for r in summary] == [812.4, None]
    assert summary[0]["headlines"] == {"fid": 5.0}


def test_the_device_option_reaches_each_notebook_as_its_device_parameter(tmp_path, monkeypatch):
    from medgen_nb import course

    seen = []

    def fake_run(path, output, smoke, parameters=None):
        seen.append((path.name[:2], smoke, parameters))
        return course.NotebookRun(path.stem, 0.1, output, None, {}, 1.0)

    monkeypatch.setattr(course, "run_notebook", fake_run)
    assert course.main(["--out", str(tmp_path), "--only", "04", "05", "--device", "cuda"]) == 0
    assert seen == [("04", False, {"DEVICE": "cuda"}), ("05", False, {"DEVICE": "cuda"})]
    seen.clear()
    assert course.main(["--out", str(tmp_path), "--only", "01", "--smoke"]) == 0
    assert seen == [("01", True, None)]  # the notebook's own DEVICE ("auto")
