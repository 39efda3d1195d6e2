"""Gradeable exercises: student notebooks, published solutions and the autograder (otter-grader).

The notebooks in ``notebooks/`` are the instructor's *source* notebooks in otter-grader's format
(https://otter-grader.readthedocs.io): each exercise is a question block of raw cells
(``# BEGIN QUESTION`` ... ``# END QUESTION``) holding the answer cell, whose solution lines are
marked ``# SOLUTION`` or fenced by ``# BEGIN SOLUTION`` / ``# END SOLUTION``, and test cells
(one function each, called by the cell; ``hidden: true`` in a test's config keeps it out of the
student's copy). From each source, ``otter assign`` writes

* ``student/NN_topic.ipynb``: every solution replaced by ``...``, a ``grader.check("q")`` cell
  after each question that runs the public tests, and ``tests/`` with those tests only;
* ``autograder/NN_topic.ipynb``: the solutions, published for self-study, and ``tests/`` with
  every test, hidden ones included.

:func:`grade` executes a submitted notebook in a fresh kernel (optionally with parameters
injected after the ``parameters`` cell, e.g. ``SMOKE=True``), runs every test of the autograder
and returns the points per question. Why otter rather than nbgrader: one source notebook carries
solutions and tests side by side, the student can check answers in the notebook itself
(``grader.check``), and grading is a function call, with no gradebook database or course
directory to set up, so the test suite runs it like any other check.

Command line: ``python -m medgen_nb.grading assign [--out DIR] [--only NN ...]``,
``python -m medgen_nb.grading student [--dest DIR]`` (copies for learners; never overwrites a
notebook already there) and ``python -m medgen_nb.grading grade SUBMISSION [--smoke]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from medgen_nb.course import NOTEBOOK_DIR, course_notebooks
from medgen_nb.nbcheck import parameters_cell

DEFAULT_OUT = Path("build") / "grader"
# Markers otter strips from the student copy; none may survive there.
SOLUTION_MARKER = re.compile(r"#\s*(BEGIN SOLUTION|END SOLUTION|SOLUTION\b)")
QUESTION_NAME = re.compile(r"^name:\s*(\S+)", re.MULTILINE)


class GradingError(RuntimeError):
    """A notebook cannot be assigned or graded (bad format, missing files)."""


@dataclass(frozen=True)
class Assigned:
    """The outputs of ``otter assign`` for one source notebook."""

    name: str
    student: Path  # student/NN_topic.ipynb (its public tests beside it in student/tests)
    solution: Path  # autograder/NN_topic.ipynb, with the solutions
    tests: Path  # autograder/tests: every test, hidden ones included


@dataclass(frozen=True)
class Grades:
    """Points per question of one graded submission."""

    scores: dict[str, tuple[float, float]]  # question -> (points, possible)
    report: str  # otter's per-test summary (failure messages)

    @property
    def total(self) -> float:
        return sum(p for p, _ in self.scores.values())

    @property
    def possible(self) -> float:
        return sum(q for _, q in self.scores.values())

    def failed(self) -> list[str]:
        return [q for q, (p, poss) in self.scores.items() if p < poss]


def question_names(path: str | Path) -> list[str]:
    """The question names of a source notebook, in order."""
    nb = nbformat.read(path, as_version=4)
    names = []
    for cell in nb.cells:
        if cell.cell_type == "raw" and cell.source.lstrip().startswith("# BEGIN QUESTION"):
            match = QUESTION_NAME.search(cell.source)
            if match is None:
                raise GradingError(f"{path}: a BEGIN QUESTION cell has no 'name:'")
            names.append(match.group(1))
    return names


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def assign(source: str | Path, out: str | Path = DEFAULT_OUT) -> Assigned:
    """Run ``otter assign`` on one source notebook into ``out/<name>/{student,autograder}``.

    The output folder of that notebook is replaced (it holds generated files only).
    """
    from otter.assign import main as otter_assign

    source = Path(source).resolve()
    if not question_names(source):
        raise GradingError(f"{source.name} has no exercises in otter's format (# BEGIN QUESTION)")
    target = Path(out).resolve() / source.stem
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # otter prints its progress; the outputs are what matters here
    with contextlib.redirect_stdout(sys.stderr):
        otter_assign(str(source), str(target), no_pdfs=True, no_run_tests=True)
    assigned = Assigned(
        name=source.stem,
        student=target / "student" / source.name,
        solution=target / "autograder" / source.name,
        tests=target / "autograder" / "tests",
    )
    for p in (assigned.student, assigned.solution, assigned.tests):
        if not p.exists():
            raise GradingError(f"otter assign did not write {p}")
    return assigned


def assign_all(out: str | Path = DEFAULT_OUT, only: Sequence[str] = ()) -> list[Assigned]:
    """:func:`assign` for every course notebook (or those whose names start with ``only``)."""
    paths = [p for p in course_notebooks() if not only or p.name.startswith(tuple(only))]
    return [assign(p, out) for p in paths]


def with_parameters(nb: nbformat.NotebookNode, parameters: dict) -> nbformat.NotebookNode:
    """A copy of ``nb`` with a cell setting ``parameters`` right after its ``parameters`` cell.

    The same convention as papermill's injected-parameters cell, so a student notebook can be
    graded in SMOKE mode without editing it.
    """
    cell = parameters_cell(nb)
    if cell is None:
        raise GradingError("the notebook has no cell tagged 'parameters'")
    out = nbformat.from_dict(nb)
    index = next(i for i, c in enumerate(nb.cells) if c is cell)
    lines = [f"{k} = {v!r}" for k, v in parameters.items()]
    injected = nbformat.v4.new_code_cell(
        "# Parameters injected for grading\n" + "\n".join(lines),
        metadata={"tags": ["injected-parameters"]},
    )
    out.cells = [*out.cells[: index + 1], injected, *out.cells[index + 1 :]]
    return out


def grade(submission: str | Path, tests: str | Path, *, parameters: dict | None = None) -> Grades:
    """Execute ``submission`` in a fresh kernel and score it with every test in ``tests``.

    Cells that raise do not stop the run (a blank answer fails its question, not the whole
    notebook). The notebook runs in a temporary folder, so the submission itself is never
    modified.
    """
    from otter.execute import grade_notebook

    submission, tests = Path(submission).resolve(), Path(tests).resolve()
    if not submission.is_file():
        raise GradingError(f"no notebook at {submission}")
    test_files = sorted(tests.glob("*.py"))
    if not test_files:
        raise GradingError(f"no otter test files (*.py) in {tests}")
    nb = nbformat.read(submission, as_version=4)
    if parameters:
        nb = with_parameters(nb, parameters)
    with tempfile.TemporaryDirectory(prefix="medgen_nb-grade-") as tmp:
        work = Path(tmp)
        nbformat.write(nb, work / submission.name)
        shutil.copytree(tests, work / "tests")
        with _working_directory(work):
            results = grade_notebook(
                submission.name,
                tests_glob=[str(Path("tests") / f.name) for f in test_files],
                cwd=str(work),
                test_dir="tests",
            )
    scores = {
        name: (float(r.score), float(r.possible)) for name, r in sorted(results.results.items())
    }
    return Grades(scores=scores, report=results.summary())


def _code_cells(source: str | Path) -> Iterator[tuple[str, bool]]:
    """Each code cell's source of a source notebook, and whether it lies in a solution block."""
    in_solution_block = False
    for cell in nbformat.read(source, as_version=4).cells:
        text = cell.source.strip()
        if cell.cell_type == "raw" and text.startswith(("# BEGIN SOLUTION", "# END SOLUTION")):
            in_solution_block = text.startswith("# BEGIN SOLUTION")
        elif cell.cell_type == "code":
            yield cell.source, in_solution_block


def _code_part(line: str) -> str:
    return line.split("#", 1)[0].strip()


def solution_lines(source: str | Path) -> list[str]:
    """Solution code of a source notebook: the lines otter replaces in the student copy.

    Lines ending in ``# SOLUTION`` and lines between ``# BEGIN SOLUTION`` and
    ``# END SOLUTION`` inside question blocks, stripped, without comments-only lines.
    """
    found = []
    for code, in_solution_block in _code_cells(source):
        if not in_solution_block:
            continue
        fenced = False
        for line in code.splitlines():
            stripped = line.strip()
            if stripped.startswith(("# BEGIN SOLUTION", "# END SOLUTION")):
                fenced = stripped.startswith("# BEGIN SOLUTION")
                continue
            marked = stripped.endswith("# SOLUTION")
            kept = _code_part(stripped) if marked else stripped
            if (fenced or marked) and kept and not kept.startswith("#"):
                found.append(kept)
    return found


def leaked_solutions(source: str | Path, student: str | Path) -> list[str]:
    """Solution lines of ``source`` (and otter's markers) that appear in the ``student`` copy."""
    nb = nbformat.read(student, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    leaks = [m.group(0) for m in SOLUTION_MARKER.finditer(code)]
    student_lines = {_code_part(line) for line in code.splitlines()}
    shared = {  # code the student copy is meant to have
        _code_part(line)
        for cell, in_solution_block in _code_cells(source)
        if not in_solution_block
        for line in cell.splitlines()
    }
    leaks += [line for line in solution_lines(source) if line in student_lines - shared]
    return leaks


def write_student_copies(dest: str | Path, out: str | Path = DEFAULT_OUT) -> list[Path]:
    """Student notebooks for learners in ``dest/NN_topic/``, never overwriting a notebook there.

    Each folder gets the notebook and its public ``tests/`` (refreshed every time; they are not
    the learner's work). Returns the notebooks written now.
    """
    written = []
    for assigned in assign_all(out):
        folder = Path(dest) / assigned.name
        folder.mkdir(parents=True, exist_ok=True)
        tests = folder / "tests"
        if tests.exists():
            shutil.rmtree(tests)
        shutil.copytree(assigned.student.parent / "tests", tests)
        target = folder / assigned.student.name
        if not target.exists():
            shutil.copy2(assigned.student, target)
            written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m medgen_nb.grading", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_assign = sub.add_parser("assign", help="student and solution notebooks, autograder tests")
    p_assign.add_argument("--out", default=str(DEFAULT_OUT))
    p_assign.add_argument("--only", nargs="*", default=(), help="notebook numbers, e.g. 02 05")
    p_student = sub.add_parser("student", help="student copies for a learner (never overwritten)")
    p_student.add_argument("--dest", default="student")
    p_grade = sub.add_parser("grade", help="grade a submitted notebook with the full autograder")
    p_grade.add_argument("submission")
    p_grade.add_argument("--smoke", action="store_true", help="run it with SMOKE = True")
    p_grade.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    try:
        if args.command == "assign":
            for a in assign_all(args.out, args.only):
                print(f"{a.name}: student {a.student}, solutions {a.solution}")
            return 0
        if args.command == "student":
            written = write_student_copies(args.dest)
            print(f"{len(written)} new student notebooks in {args.dest}/ (existing ones kept)")
            return 0
        submission = Path(args.submission)
        source = NOTEBOOK_DIR / submission.name
        if not source.exists():
            raise GradingError(
                f"{submission.name} is not a course notebook name (expected one of "
                f"{[p.name for p in course_notebooks()]})"
            )
        assigned = assign(source, args.out)
        grades = grade(
            submission, assigned.tests, parameters={"SMOKE": True} if args.smoke else None
        )
        print(grades.report)
        for q, (p, poss) in grades.scores.items():
            print(f"{q}: {p:g} / {poss:g}")
        print(f"total: {grades.total:g} / {grades.possible:g}")
        return 0 if grades.total >= grades.possible else 1
    except GradingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
