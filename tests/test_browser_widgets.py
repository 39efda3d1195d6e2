"""Widgets in a real browser: JupyterLab in headless Chromium, driven by Playwright.

The headless tests (tests/test_widgets*.py) set ``control.value`` in Python. This one checks the
part they cannot: that the front end renders the controls, that dragging a slider or picking a
dropdown entry in the page reaches the kernel, and that the re-rendered PNG comes back to the page.

Needs Chromium (Debian package ``chromium``; ``.ci/run`` installs it where it can) and the
``playwright`` Python package (in the ``test`` extra). Playwright's own browser download is never
used: the test launches the system Chromium, so it works offline. Without Chromium it is skipped
with the reason shown.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CHROMIUM = (
    os.environ.get("MEDGEN_NB_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if CHROMIUM is None:
    pytest.skip(
        "no Chromium found: install Debian's `chromium` package (or set MEDGEN_NB_CHROMIUM)",
        allow_module_level=True,
    )

# Flags that keep Chromium from reaching out to the network (closed here) and from needing a
# sandbox when run as root in a container.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

VIEWER_CELL = """\
import numpy as np
from medgen_nb.widgets import SliceViewer

# A small synthetic volume: intensity rises along z, so every axial slice looks different.
z = np.linspace(0.0, 1.0, 12)
vol = np.broadcast_to(z, (24, 24, 12)).copy()
vol[6:18, 6:18, :] *= 0.5
viewer = SliceViewer({"ramp": vol, "inverted": 1.0 - vol}, title="browser test")
viewer.widget
"""

STATE_CELL = """\
print("STATE", json.dumps({**viewer.values(), "renders": viewer.renders}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_notebook(path: Path) -> None:
    def cell(source: str) -> dict:
        return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
                "execution_count": None}  # fmt: skip

    nb = {
        "cells": [cell("import json"), cell(VIEWER_CELL), cell(STATE_CELL)],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server on localhost serving a temp folder with one notebook; yields its URL."""
    root = tmp_path_factory.mktemp("lab")
    _write_notebook(root / "widgets.ipynb")
    port, token = _free_port(), "medgen-nb-browser-test"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".jupyter"), "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path_factory.mktemp("lab-log") / "server.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                log.close()
                pytest.fail(f"JupyterLab did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
    yield f"{base}/lab/tree/widgets.ipynb?token={token}"
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def _run_cell(page, index: int) -> None:
    """Select code cell `index` of the open notebook and run it with Shift+Enter."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def _image_src(page) -> str:
    return page.locator(".jp-OutputArea-output img").first.get_attribute("src") or ""


def _wait_for_new_image(page, old: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        src = _image_src(page)
        if src and src != old:
            return src
        page.wait_for_timeout(200)
    raise AssertionError("the widget's image did not change after the control was moved")


def _kernel_state(page) -> dict:
    _run_cell(page, 2)
    out = page.locator(".jp-Cell").nth(2).locator(".jp-OutputArea-output")
    out.filter(has_text="STATE").first.wait_for(timeout=60_000)
    text = out.filter(has_text="STATE").first.inner_text()
    return json.loads(re.search(r"STATE (\{.*\})", text).group(1))


def test_slice_viewer_round_trip_in_jupyterlab(jupyterlab):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(jupyterlab)
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)
            # A fresh JupyterLab asks which kernel to start; take the notebook's own (python3).
            dialog = page.locator(".jp-Dialog")
            try:
                dialog.wait_for(timeout=15_000)
                dialog.get_by_role("button", name="Select").click()
            except playwright_api.TimeoutError:
                pass  # no dialog: the kernel was started directly
            # Wait for the kernel before running anything, or Shift+Enter is lost.
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
                timeout=90_000
            )
            _run_cell(page, 0)
            _run_cell(page, 1)

            # The controls rendered by the widget front end, and the first PNG.
            slider = page.locator(".widget-slider", has_text="slice").first
            slider.wait_for(timeout=90_000)
            page.locator(".jp-OutputArea-output img").first.wait_for(timeout=60_000)
            first = _image_src(page)
            assert first, "the explorer's image has no source"
            assert _kernel_state(page)["index"] == 6

            # Keyboard on the slider handle: the browser moves it, the kernel re-renders.
            handle = slider.locator(".noUi-handle")
            handle.focus()
            for _ in range(3):
                handle.press("ArrowRight")
            second = _wait_for_new_image(page, first)
            state = _kernel_state(page)
            assert state["index"] == 9, state

            # A dropdown choice made in the page reaches the kernel as well.
            page.locator(".widget-dropdown select").first.select_option("inverted")
            _wait_for_new_image(page, second)
            state = _kernel_state(page)
            assert state["modality"] == "inverted", state
            assert state["renders"] >= 3, state
        except Exception:
            page.screenshot(path=str(Path(os.environ.get("TMPDIR", "/tmp")) / "browser_test.png"))
            raise
        finally:
            browser.close()
