"""The instructor's loop, end to end with real nbgrader commands in a temporary course:
generate the student version, collect submissions, autograde, read the gradebook.

Three submissions per lesson:
- ``complete``: every answer copied from solutions/  -> full marks on every autograded cell;
- ``untouched``: the student notebook as released      -> 0 on every exercise, and grading finishes;
- ``mistakes``: one typical mistake per exercise        -> loses exactly that exercise's points, with feedback naming it.
"""

from __future__ import annotations

import time

import pytest

from course import (LESSONS, autograded_output, cell_text, fill, make_course, nbgrader, read, scores,
                    solution_sources, submit)
from submissions import MISTAKES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=LESSONS)
def graded(request, tmp_path_factory):
    lesson = request.param
    course = make_course(tmp_path_factory.mktemp(lesson), [lesson])
    nbgrader(course, "generate_assignment", lesson, "--force")
    released = read(course / "notebooks" / lesson / f"{lesson}.ipynb")
    answers = solution_sources(lesson)
    mistakes = MISTAKES[lesson]
    exercises = {gid for gid in answers if not gid.startswith("q_")}
    assert set(mistakes) == exercises, f"every exercise of {lesson} needs a typical mistake in tests/submissions.py"
    submit(course, "complete", lesson, fill(released, answers))
    submit(course, "untouched", lesson, released)
    submit(course, "mistakes", lesson, fill(released, {gid: src for gid, (_, _, src) in mistakes.items()}))
    start = time.perf_counter()
    nbgrader(course, "autograde", lesson, "--create", "--force")
    print(f"autograde {lesson}: 3 submissions in {time.perf_counter() - start:.1f} s")
    return lesson, course


def test_complete_submission_scores_full_marks(graded):
    lesson, course = graded
    table = scores(course, lesson, "complete")
    tests = {gid: (score, top) for gid, (score, top, manual) in table.items() if gid.startswith("test_")}
    assert tests, "no autograded test cells found"
    failed = {gid: v for gid, v in tests.items() if v[0] != v[1]}
    output = autograded_output(course, lesson, "complete")
    assert not failed, "complete answers lost points:\n" + "\n".join(f"{gid}: {cell_text(output, gid)}" for gid in failed)
    written = [gid for gid in table if gid.startswith("q_")]
    assert all(table[gid][2] for gid in written), "written answers must be left for manual grading"


def test_untouched_notebook_scores_zero_and_grading_finishes(graded):
    lesson, course = graded
    table = scores(course, lesson, "untouched")
    tests = {gid: score for gid, (score, top, manual) in table.items() if gid.startswith("test_")}
    assert tests and all(score == 0 for score in tests.values()), tests
    output = autograded_output(course, lesson, "untouched")
    for gid in tests:
        assert "not implemented yet" in cell_text(output, gid), cell_text(output, gid)


def test_each_typical_mistake_loses_its_exercise_points_with_a_reason(graded):
    lesson, course = graded
    table = scores(course, lesson, "mistakes")
    output = autograded_output(course, lesson, "mistakes")
    for solution_id, (test_id, phrase, _) in MISTAKES[lesson].items():
        score, top, _ = table[test_id]
        assert score == 0 and top > 0, f"{test_id} gave {score}/{top} for the mistake in {solution_id}"
        feedback = cell_text(output, test_id)
        assert phrase in feedback, f"feedback of {test_id} does not name the mistake ({phrase!r}):\n{feedback}"
