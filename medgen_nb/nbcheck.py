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


# Display math ($$ ... $$) is protected from Markdown; inline math ($ ... $) spanning lines is not:
# a continuation line that begins with "+ ", "- " or "* " renders as a list item in the HTML export.
DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.DOTALL)
LIST_MARKER = re.compile(r"^\s{0,3}[-+*]\s")


def math_list_markers(source: str) -> list[int]:
    """Lines (1-based) of a Markdown source that start with a list marker inside inline math."""
    text = DISPLAY_MATH.sub(lambda m: "\n" * m.group(0).count("\n"), source)
    bad, dollars = [], 0
    for number, line in enumerate(text.split("\n"), start=1):
        if dollars % 2 == 1 and LIST_MARKER.match(line):
            bad.append(number)
        dollars += len(re.findall(r"(?<!\\)\$", line))
    return bad


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
        if cell.cell_type == "markdown":
            for line in math_list_markers(cell.source):
                problems.append(
                    f"{path.name}: markdown cell {i}, line {line} starts with a list marker inside "
                    "inline math, so the HTML export renders it as a list item; end the previous "
                    "line with the operator instead"
                )
    if not RUNTIME_PATTERN.search(markdown):
        problems.append(f"{path.name}: no markdown states the expected runtime per mode")
    return problems


def check_exercises(path: str | Path) -> list[str]:
    """Problems of a notebook's graded exercises (otter-grader's format; see medgen_nb.grading).

    A course notebook has an ``# ASSIGNMENT CONFIG`` raw cell, at least two question blocks, each
    with a solution block and at least one test cell, and a ``grader = otter.Notebook(...)``
    line naming the notebook itself (the student's ``grader.check`` cells use it).
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    problems: list[str] = []
    raw = [c.source.strip() for c in nb.cells if c.cell_type == "raw"]
    if not any(s.startswith("# ASSIGNMENT CONFIG") for s in raw):
        problems.append(f"{path.name}: no '# ASSIGNMENT CONFIG' raw cell (otter-grader's format)")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    if f'grader = otter.Notebook("{path.name}")' not in code:
        problems.append(f'{path.name}: no grader = otter.Notebook("{path.name}") line')
    if "No answer yet" in code:
        problems.append(f"{path.name}: a check passes blank answers ('No answer yet')")
    questions, current = [], None
    for cell in nb.cells:
        text = cell.source.strip()
        if cell.cell_type == "raw" and text.startswith("# BEGIN QUESTION"):
            current = {"solution": False, "tests": 0, "in_tests": False}
        elif current is not None and cell.cell_type == "raw":
            if text.startswith("# BEGIN SOLUTION"):
                current["solution"] = True
            elif text.startswith("# BEGIN TESTS"):
                current["in_tests"] = True
            elif text.startswith("# END TESTS"):
                current["in_tests"] = False
            elif text.startswith("# END QUESTION"):
                questions.append(current)
                current = None
        elif current is not None and current["in_tests"] and cell.cell_type == "code":
            current["tests"] += 1
    if len(questions) < 2:
        problems.append(f"{path.name}: {len(questions)} graded exercises; the standard is >= 2")
    for i, q in enumerate(questions, 1):
        if not q["solution"] or not q["tests"]:
            problems.append(f"{path.name}: question {i} needs a solution block and a test cell")
    return problems


def check_text_pair(path: str | Path) -> list[str]:
    """Problems of the notebook's paired text form ``text/NN_topic.py`` (jupytext percent format).

    The pair is in sync when both hold the same cells: the same types and the same sources.
    ``jupytext --sync notebooks/*.ipynb`` (configured by ``notebooks/jupytext.toml``) updates
    whichever side is older.
    """
    import jupytext

    path = Path(path)
    text = path.parent / "text" / f"{path.stem}.py"
    if not text.exists():
        return [f"{path.name}: no paired text form {text}; run jupytext --sync {path}"]
    nb = nbformat.read(path, as_version=4)
    paired = jupytext.read(text, fmt="py:percent")

    def cells(notebook) -> list[tuple[str, str]]:
        return [(c.cell_type, c.source.strip()) for c in notebook.cells]

    ours, theirs = cells(nb), cells(paired)
    if ours == theirs:
        return []
    first = next(
        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
        min(len(ours), len(theirs)),
    )
    return [
        f"{path.name} and {text.name} differ from cell {first} on ({len(ours)} vs {len(theirs)} "
        f"cells); run jupytext --sync {path} after editing either"
    ]


# A number with a unit, or a metric's value, in prose: "27.1 dB", "95 s", "12 %", "FID 0.78".
PROSE_NUMBER = re.compile(
    r"(?<![\w.])(?P<num>\d+(?:\.\d+)?)\s?(?P<unit>dB|ms|min|s|%|HU|GB|MB|mm|px|nats?)(?![\w])"
    r"|(?P<metric>FID|KID|PSNR|SSIM|MAE)\s*(?:of|=|≈|~|is|at)?\s*(?P<value>\d+\.\d+)"
)
# Rows of a runtime table: | setting | time | memory |
RUNTIME_TABLE_ROW = re.compile(r"^\|.*(SMOKE|lab|GPU|setting|---)", re.IGNORECASE)
# The confidence level of an interval is a convention, not a result.
PROSE_CONVENTIONS = frozenset({"95 %", "95%"})


def check_prose_numbers(path: str | Path) -> list[str]:
    """Numbers with units (and metric values) in the Markdown that no cell accounts for.

    A number in prose must come from a cell: templated Markdown (displayed by a code cell), or a
    sentence that points at a printed output, which then carries the number, not the prose. A
    number is accepted where it appears in a code cell's source (a parameter or a constant the
    code uses), in the runtime statement (measured by ``make course``, rule 4), or in the
    notebook's declared facts ``metadata.medgen_nb.prose_facts`` (``{"1800 HU": "why"}``:
    literature values and simulator settings, each with its source).
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    facts = nb.metadata.get("medgen_nb", {}).get("prose_facts", {})
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        # the runtime statement (its paragraph and table) is measured by make course
        paragraphs = re.split(r"\n\s*\n", cell.source)
        prose = "\n\n".join(p for p in paragraphs if not RUNTIME_PATTERN.search(p))
        prose = "\n".join(line for line in prose.splitlines() if not RUNTIME_TABLE_ROW.match(line))
        for m in PROSE_NUMBER.finditer(prose):
            number = m.group("num") or m.group("value")
            text = m.group(0)
            in_code = re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", code)
            if text in PROSE_CONVENTIONS or text in facts or in_code:
                continue
            problems.append(
                f"{path.name}: markdown cell {i} states {text!r}, which no code cell produces; "
                "template it from a computed value, point at the printed output, or declare it "
                "in metadata.medgen_nb.prose_facts with its source"
            )
    return problems
