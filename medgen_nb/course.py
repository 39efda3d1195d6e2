"""Run the course's notebooks headless and build ``build/index.html``.

``python -m medgen_nb.course --out build`` executes every notebook in lab mode (``--smoke`` for
the quick mode) with papermill, renders each to HTML and writes an index with each notebook's
runtime, the kernel's peak memory and the headline metrics it reported through :func:`headline`.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HEADLINE_MIME = "application/vnd.medgen-nb.headline+json"
NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
DEFAULT_SMOKE_TIMEOUT_S = 300
DEFAULT_LAB_TIMEOUT_S = 1800


def headline(**metrics: float | int | str) -> None:
    """Report a notebook's headline results (shown in the notebook and collected by ``make course``).

    Example: ``headline(psnr_db=24.1, ssim=0.81)``.
    """
    from IPython.display import display

    if not metrics:
        raise ValueError("headline() needs at least one name=value pair")
    text = ", ".join(
        f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in metrics.items()
    )
    display({HEADLINE_MIME: metrics, "text/plain": f"Headline: {text}"}, raw=True)


@dataclass
class NotebookRun:
    """Outcome of executing one notebook."""

    name: str
    seconds: float
    output: Path
    error: str | None = None
    headlines: dict[str, object] = field(default_factory=dict)
    peak_mb: float | None = None


class PeakChildMemory:
    """Peak resident memory (MB) of this process's child processes, sampled in a thread.

    papermill runs each notebook in a kernel started as a child process, so the peak over the
    children while a notebook runs is that notebook's memory footprint (what must fit in Binder's
    RAM). Sampling every ``interval_s`` can miss spikes shorter than the interval. ``peak_mb`` is
    ``None`` where psutil is missing.
    """

    def __init__(self, interval_s: float = 0.25) -> None:
        self.interval_s = interval_s
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        me = psutil.Process()
        peak = 0
        while True:
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:  # the child ended between listing and reading it
                    pass
            peak = max(peak, total)
            self.peak_mb = peak / 2**20
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> PeakChildMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def course_notebooks(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """The course notebooks (``NN_*.ipynb``), in order."""
    return sorted(p for p in directory.glob("[0-9][0-9]_*.ipynb"))


def notebook_timeout(path: Path, smoke: bool) -> int:
    """Per-notebook time limit in seconds, from metadata ``medgen_nb.{smoke,lab}_timeout_s``."""
    import nbformat

    meta = nbformat.read(path, as_version=4).metadata.get("medgen_nb", {})
    if smoke:
        return int(meta.get("smoke_timeout_s", DEFAULT_SMOKE_TIMEOUT_S))
    return int(meta.get("lab_timeout_s", DEFAULT_LAB_TIMEOUT_S))


def run_notebook(
    path: Path, output: Path, smoke: bool, parameters: dict | None = None
) -> NotebookRun:
    """Execute ``path`` with papermill into ``output``; errors are captured, not raised."""
    import papermill

    params = {"SMOKE": smoke, **(parameters or {})}
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = None
    memory = PeakChildMemory()
    try:
        with memory:
            papermill.execute_notebook(
                str(path),
                str(output),
                parameters=params,
                cwd=str(path.parent),
                kernel_name="python3",
                execution_timeout=notebook_timeout(path, smoke),
                progress_bar=False,
            )
    except Exception as exc:  # papermill wraps cell errors in its own exception types
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    headlines = collect_headlines(output) if output.exists() else {}
    return NotebookRun(path.stem, seconds, output, error, headlines, memory.peak_mb)


def collect_headlines(executed: Path) -> dict[str, object]:
    """Merge every :func:`headline` output of an executed notebook."""
    import nbformat

    found: dict[str, object] = {}
    for cell in nbformat.read(executed, as_version=4).cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if HEADLINE_MIME in data:
                found.update(data[HEADLINE_MIME])
    return found


# MathJax 2.7 as shipped by the jupyter-server-mathjax package (BSD-3-Clause): copied beside the
# pages so that their equations render without a network, where nbconvert's default loads MathJax
# from a CDN.
MATHJAX_FOLDER = "mathjax"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"


def vendor_mathjax(out_dir: Path) -> str:
    """Copy MathJax into ``out_dir/mathjax`` (once) and return the URL the pages load it from.

    The URL is relative, so the folder can be moved or served as it is. Raises ``RuntimeError``
    naming the package to install when jupyter-server-mathjax is missing.
    """
    import shutil
    import tempfile

    try:
        import jupyter_server_mathjax
    except ImportError as err:  # an install without the lab/test extras
        raise RuntimeError(
            "the HTML pages need a local MathJax: pip install jupyter-server-mathjax "
            "(it is in the lab and test extras: make setup)"
        ) from err
    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = Path(out_dir) / MATHJAX_FOLDER
    if not (target / "MathJax.js").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copied under a temporary name and renamed, so an interrupted copy is never taken as whole.
        staging = Path(tempfile.mkdtemp(prefix=".mathjax-", dir=target.parent))
        shutil.copytree(source, staging / "x")
        if target.exists():
            shutil.rmtree(target)
        (staging / "x").rename(target)
        staging.rmdir()
    return f"{MATHJAX_FOLDER}/MathJax.js?config={MATHJAX_CONFIG}"


def render_html(executed: Path, mathjax_url: str | None = None) -> Path:
    """Render an executed notebook to HTML beside it.

    ``mathjax_url`` is where the page loads MathJax from; by default the copy that
    :func:`vendor_mathjax` places in the notebook's folder, so the page renders offline.
    """
    import nbformat
    from nbconvert import HTMLExporter

    executed = Path(executed)
    url = vendor_mathjax(executed.parent) if mathjax_url is None else mathjax_url
    exporter = HTMLExporter(mathjax_url=url)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    target = executed.with_suffix(".html")
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(target)
    return target


def write_index(runs: list[NotebookRun], out_dir: Path, smoke: bool) -> Path:
    """Write ``index.html``: one row per notebook with status, runtime and headline metrics."""
    rows = []
    for run in runs:
        status = "ok" if run.error is None else "failed"
        link = f'<a href="{html.escape(run.output.with_suffix(".html").name)}">{html.escape(run.name)}</a>'
        metrics = "<br>".join(
            f"{html.escape(str(k))} = {html.escape(str(v))}" for k, v in run.headlines.items()
        )
        err = f"<pre>{html.escape(run.error[:2000])}</pre>" if run.error else ""
        peak = "" if run.peak_mb is None else f"{run.peak_mb:.0f}"
        rows.append(
            f"<tr><td>{link}</td><td>{status}</td><td>{run.seconds:.1f}</td><td>{peak}</td>"
            f"<td>{metrics}{err}</td></tr>"
        )
    mode = "SMOKE" if smoke else "lab"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>medgen_nb course ({mode} mode)</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.3em .8em;border-bottom:1px solid #ccc;vertical-align:top}}</style>
</head><body>
<h1>medgen_nb course, executed in {mode} mode</h1>
<p>Generated {time.strftime("%Y-%m-%d %H:%M")}. Images are simulated or come from the files listed in each notebook; none are clinically validated.</p>
<table><tr><th>notebook</th><th>status</th><th>runtime (s)</th><th>kernel peak memory (MB)</th><th>headline metrics</th></tr>
{"".join(rows)}
</table></body></html>
"""
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    (out_dir / "summary.json").write_text(
        json.dumps(
            [
                {
                    "name": r.name,
                    "seconds": r.seconds,
                    "peak_mb": r.peak_mb,
                    "error": r.error,
                    "headlines": r.headlines,
                }
                for r in runs
            ],
            indent=2,
        ),
        encoding="utf-8",
    )
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path("build"), help="output folder (default: build)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="run in SMOKE mode (seconds, not minutes)"
    )
    parser.add_argument(
        "--only", nargs="*", default=None, help="notebook number prefixes to run, e.g. 00 02"
    )
    parser.add_argument(
        "--device", default=None, help="the notebooks' DEVICE parameter (default: their own, auto)"
    )
    args = parser.parse_args(argv)

    notebooks = course_notebooks()
    if args.only:
        notebooks = [p for p in notebooks if any(p.name.startswith(k) for k in args.only)]
    if not notebooks:
        print(f"no notebooks matched in {NOTEBOOK_DIR}", file=sys.stderr)
        return 2
    runs = []
    for path in notebooks:
        print(f"running {path.name} ({'SMOKE' if args.smoke else 'lab'} mode) ...", flush=True)
        params = {"DEVICE": args.device} if args.device else None
        run = run_notebook(path, args.out / path.name, smoke=args.smoke, parameters=params)
        if run.output.exists():
            render_html(run.output)
        print(
            f"  {'ok' if run.error is None else 'FAILED'} in {run.seconds:.1f} s, "
            f"kernel peak {run.peak_mb or 0:.0f} MB, {run.headlines}",
            flush=True,
        )
        runs.append(run)
    index = write_index(runs, args.out, args.smoke)
    print(f"wrote {index}")
    return 0 if all(r.error is None for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
