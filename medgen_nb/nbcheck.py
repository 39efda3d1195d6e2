"""Checks that every course notebook follows the conventions in ``notebooks/README.md``.

The test suite runs :func:`check_notebook` on every notebook, so a convention broken by a
commit fails ``make test`` with a message that says which notebook and what to fix.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

NAME_PATTERN = re.compile(r"^\d{2}_[a-z0-9_]+\.ipynb$")
REQUIRED_PARAMETERS = ("SMOKE", "DEVICE", "SEED")
# Each notebook states its runtime per mode in a markdown cell, e.g. "Runtime: SMOKE ~20 s".
RUNTIME_PATTERN = re.compile(r"runtime", re.IGNORECASE)
# Prose speaks to the learner about medicine and models, not about how the course was built:
# phrases that narrate its development (issues, versions, lab logs, missing hardware).
DEVELOPMENT_PATTERN = re.compile(
    r"\b(issue \d+|github issue|the project\b|(?:an )?earlier version|previous version|"
    r"later version|no gpu was available|in our (?:lab )?runs?|lab log|we (?:also )?raised)",
    re.IGNORECASE,
)


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    """Return the first code cell tagged ``parameters`` (papermill's convention), or None."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


def parameter_defaults(source: str) -> dict[str, object]:
    """Literal values assigned at top level in a parameters cell (``NAME = literal``)."""
    values: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    values[target.id] = None
    return values


def check_notebook(path: str | Path) -> list[str]:
    """Return the list of convention problems of one notebook (empty when it is clean)."""
    path = Path(path)
    problems: list[str] = []
    if not NAME_PATTERN.match(path.name):
        problems.append(
            f"{path.name}: file name must look like 'NN_topic.ipynb' (two digits, lower case)"
        )
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for broken JSON
        return problems + [f"{path.name}: not a readable notebook ({exc})"]

    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(
                f"{path.name}: cell {i} has outputs; clear them before committing "
                "(jupyter nbconvert --clear-output --inplace FILE)"
            )
        if cell.get("execution_count") is not None:
            problems.append(
                f"{path.name}: cell {i} has an execution count; clear outputs before committing"
            )

    cell = parameters_cell(nb)
    if cell is None:
        problems.append(
            f"{path.name}: no code cell tagged 'parameters'; add one defining "
            f"{', '.join(REQUIRED_PARAMETERS)} (papermill injects values after it)"
        )
    else:
        defaults = parameter_defaults(cell.source)
        missing = [p for p in REQUIRED_PARAMETERS if p not in defaults]
        if missing:
            problems.append(f"{path.name}: parameters cell does not define {missing}")
        if defaults.get("SMOKE") is not False:
            problems.append(f"{path.name}: SMOKE must default to False (lab mode is the default)")
        if "DEVICE" in defaults and defaults["DEVICE"] != "auto":
            problems.append(f"{path.name}: DEVICE should default to 'auto'")

    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and (found := DEVELOPMENT_PATTERN.search(cell.source)):
            problems.append(
                f"{path.name}: markdown cell {i} talks about the course's development "
                f"({found.group(0)!r}); speak to the learner about the images and models instead"
            )
    if not RUNTIME_PATTERN.search(markdown):
        problems.append(f"{path.name}: no markdown states the expected runtime per mode")
    return problems
