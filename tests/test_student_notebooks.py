"""notebooks/ is exactly what nbgrader generates from solutions/, and gives nothing away."""

from __future__ import annotations

import builtins
import json
import re
import shutil

import pytest
from course import LESSONS, MARKERS, NOTEBOOKS, SOLUTIONS, grade_id, read, solution_path, student_path

from grader.answer_cells import bound_names, globals_read, is_test, python_source, split_regions, statements

REGENERATE = "nbgrader generate_assignment '*' --force   (from the repository root)"


def _cells(notebook):
    return [(c.cell_type, c.source, json.dumps(c.metadata, sort_keys=True)) for c in notebook.cells]


@pytest.fixture(scope="module")
def generated(tmp_path_factory, release):
    """notebooks/ as nbgrader generates it now, lesson by lesson (the releases the autograder tests grade)."""
    folder = tmp_path_factory.mktemp("release") / "notebooks"
    for lesson in LESSONS:
        course = release(lesson, tmp_path_factory.mktemp(lesson))
        shutil.copytree(course / "notebooks" / lesson, folder / lesson)
    return folder


def test_every_lesson_has_a_student_version():
    assert LESSONS, "no lessons found in solutions/"
    released = sorted(p.name for p in NOTEBOOKS.iterdir() if p.is_dir())
    assert released == LESSONS, f"notebooks/ has {released}, solutions/ has {LESSONS}: run {REGENERATE}"


@pytest.mark.slow  # nbgrader generates every lesson
@pytest.mark.parametrize("lesson", LESSONS)
def test_student_notebook_is_in_sync_with_its_solution(lesson, generated):
    expected = read(generated / lesson / f"{lesson}.ipynb")
    actual = read(student_path(lesson))
    assert _cells(actual) == _cells(expected), f"notebooks/{lesson} is stale or was edited by hand: run {REGENERATE}"
    files = sorted(p.name for p in (NOTEBOOKS / lesson).iterdir())
    assert files == sorted(p.name for p in (generated / lesson).iterdir()), files


@pytest.mark.parametrize("lesson", LESSONS)
def test_student_notebook_carries_no_solution_or_hidden_test(lesson):
    text = student_path(lesson).read_text()
    assert not MARKERS.search(text), f"notebooks/{lesson} contains solution or hidden-test markers"
    source = read(SOLUTIONS / lesson / f"{lesson}.ipynb")
    student = {grade_id(c): c for c in read(student_path(lesson)).cells if grade_id(c)}
    for cell in source.cells:
        gid = grade_id(cell)
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            assert "raise NotImplementedError()" in student[gid].source, f"{gid} is not stubbed out"
            hidden = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
            for line in hidden.strip().splitlines():
                if len(line.strip()) > 12:
                    assert line.strip() not in student[gid].source, f"answer line {line.strip()!r} leaked into {gid}"
        for hidden in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            assert hidden.strip() and hidden.strip() not in student[gid].source, f"hidden tests of {gid} leaked"
            assert student[gid].metadata["nbgrader"]["locked"], f"test cell {gid} must be locked"


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_check_cell_runs_after_a_restart_without_the_checks_above_it(lesson):
    """A student who restarts the kernel and goes straight to exercise k runs the lesson's cells and the answers above
    it, not every check above it: each check cell imports or defines what its visible part uses."""
    bound, missing = set(dir(builtins)), []
    for cell in read(solution_path(lesson)).cells:
        if cell.cell_type != "code":
            continue
        # a check cell as the student's copy holds it (no hidden tests); other cells whole (an answer's def line)
        source = python_source("\n".join(split_regions(cell.source)[1]) if is_test(cell) else cell.source)
        own = {name for node, _, _ in statements(source) for name in bound_names(node)}
        if is_test(cell):
            if unknown := globals_read(source) - own - bound:
                missing.append(f"{grade_id(cell)}: {', '.join(sorted(unknown))}")
        else:
            bound |= own
    assert not missing, f"{lesson}: check cells that use names only an earlier check cell defines: {missing}"
