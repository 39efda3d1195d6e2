"""The exercises grade: solution notebooks pass the autograder, blank student notebooks fail it,
a wrong answer fails its question, and the student notebooks hold no solution code."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from medgen_nb.course import course_notebooks
from medgen_nb.grading import assign, assign_all, grade, leaked_solutions, question_names

NOTEBOOKS = course_notebooks()
IDS = [p.stem for p in NOTEBOOKS]


@pytest.fixture(scope="module")
def assigned(tmp_path_factory):
    return {a.name: a for a in assign_all(tmp_path_factory.mktemp("grader"))}


def _hidden_test_names(tests_dir) -> set[str]:
    names = set()
    for f in tests_dir.glob("*.py"):
        text = f.read_text()
        for block in text.split("@test_case(")[1:]:
            header, _, rest = block.partition("\ndef ")
            if "hidden=True" in header:
                names.add(rest.split("(", 1)[0])
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_notebook_has_graded_exercises(path, assigned):
    names = question_names(path)
    assert len(names) >= 2, (
        f"{path.name} has {len(names)} graded exercises; the course standard is >= 2"
    )
    a = assigned[path.stem]
    tested = {f.stem for f in a.tests.glob("*.py")}
    assert set(names) <= tested, f"questions without tests: {sorted(set(names) - tested)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_notebooks_hold_no_solutions(path, assigned):
    a = assigned[path.stem]
    assert leaked_solutions(path, a.student) == []
    hidden = _hidden_test_names(a.tests)
    student_tests = " ".join(f.read_text() for f in (a.student.parent / "tests").glob("*.py"))
    assert not [n for n in hidden if n in student_tests], "hidden tests reached the student copy"
    student = nbformat.read(a.student, as_version=4)
    checks = [
        c for c in student.cells if c.cell_type == "code" and c.source.startswith("grader.check(")
    ]
    assert len(checks) == len(question_names(path)), "every question gets a grader.check cell"


def test_the_leak_check_finds_a_solution_left_in(assigned):
    a = assigned[NOTEBOOKS[0].stem]
    # the solution notebook as a "student" copy: every solution line is there
    assert leaked_solutions(NOTEBOOKS[0], a.solution)


def _tiny_source(tmp_path):
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        }
    )
    nb.cells = [
        new_raw_cell(
            "# ASSIGNMENT CONFIG\nname: tiny\ninit_cell: false\nexport_cell: false\n"
            "run_tests: false\ntests:\n  files: true\n  ok_format: false\n"
        ),
        new_code_cell("import otter\ngrader = otter.Notebook('99_tiny.ipynb')"),
        new_code_cell("SMOKE = False\nSEED = 0", metadata={"tags": ["parameters"]}),
        new_markdown_cell("Compute the square of `SEED + 7`."),
        new_raw_cell("# BEGIN QUESTION\nname: square\npoints: 2"),
        new_raw_cell("# BEGIN SOLUTION"),
        new_code_cell("answer = (SEED + 7) ** 2  # SOLUTION"),
        new_raw_cell("# END SOLUTION"),
        new_raw_cell("# BEGIN TESTS"),
        new_code_cell(
            "def test_type(answer):\n    assert isinstance(answer, int)\n\ntest_type(answer)"
        ),
        new_code_cell(
            '""" # BEGIN TEST CONFIG\nhidden: true\n""" # END TEST CONFIG\n'
            "def test_value(answer, SEED):\n    assert answer == (SEED + 7) ** 2\n\ntest_value(answer, SEED)"
        ),
        new_raw_cell("# END TESTS"),
        new_raw_cell("# END QUESTION"),
    ]
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(nb, path)
    return path


def test_grader_scores_solution_blank_and_wrong_answers(tmp_path):
    a = assign(_tiny_source(tmp_path), tmp_path / "out")
    assert grade(a.solution, a.tests).scores == {"square": (2.0, 2.0)}
    assert grade(a.student, a.tests).scores["square"][0] == 0.0  # blank: `answer = ...`
    wrong = nbformat.read(a.student, as_version=4)
    for cell in wrong.cells:
        cell.source = cell.source.replace("answer = ...", "answer = 48")
    nbformat.write(wrong, tmp_path / "99_tiny.ipynb")
    # the public test passes (an int), the hidden one fails: otter gives part of the points
    points, possible = grade(tmp_path / "99_tiny.ipynb", a.tests).scores["square"]
    assert points < possible
    # injected parameters reach the graded run: with SEED = 1 the solution still passes
    assert grade(a.solution, a.tests, parameters={"SEED": 1}).scores["square"] == (2.0, 2.0)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_solution_notebook_passes_and_blank_student_notebook_fails(path, assigned):
    a = assigned[path.stem]
    solved = grade(a.solution, a.tests, parameters={"SMOKE": True})
    assert not solved.failed(), (
        f"{path.name}: the solutions fail {solved.failed()}:\n{solved.report}"
    )
    blank = grade(a.student, a.tests, parameters={"SMOKE": True})
    scored = {q: p for q, (p, _) in blank.scores.items() if p > 0}
    assert not scored, f"{path.name}: blank answers scored points on {scored}:\n{blank.report}"
