"""The autograder, tested with real `nbgrader autograde` runs in a temporary course, lesson by lesson.

For every lesson in solutions/ its catalogue ``tests/catalogue/c<NN>_<name>.py`` lists, per graded function,
independently written correct answers and typical mistakes (each with a phrase the feedback must contain).
One course per lesson, autograded in parallel by ``scripts/grade_class.py`` (the instructors' command):

- ``complete``: the answers from solutions/               -> full marks, written answers left for manual grading;
- ``untouched``: the student notebook as released          -> 0 on every test cell, "not implemented yet";
- ``correct_<i>``: the i-th correct variant of every exercise -> full marks;
  (the variant notebooks end at the last test cell: the experiments after it are not graded)
- ``mistake_<j>``: the j-th typical mistake of every exercise -> each exercise's test cell scores 0 and its
  feedback names the mistake.

The catch rate (mistakes caught with the right phrase / mistakes in the catalogue) is printed per lesson.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time

import nbformat
import pytest
from course import (
    LESSONS,
    SCRIPTS,
    autograded_output,
    catalogue_problems,
    catalogue_submissions,
    correct_names,
    fill,
    grade_class,
    grade_id,
    load_catalogue,
    output_text,
    points,
    read,
    scores,
    solution_path,
    solution_sources,
    submit,
    up_to_last_test,
)


def test_every_lesson_has_a_complete_catalogue():
    problems = []
    for lesson in LESSONS:
        try:
            problems += catalogue_problems(lesson, load_catalogue(lesson))
        except AssertionError as error:
            problems.append(str(error))
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module", params=LESSONS)
def graded(request, tmp_path_factory, release):
    lesson = request.param
    catalogue = load_catalogue(lesson)  # fails with "write tests/catalogue/cNN_<lesson>.py" when missing
    course = release(lesson, tmp_path_factory.mktemp(lesson))
    released = read(course / "notebooks" / lesson / f"{lesson}.ipynb")
    correct, mistaken = catalogue_submissions(catalogue)
    submit(course, "complete", lesson, fill(released, solution_sources(lesson)))
    submit(course, "untouched", lesson, released)
    variants = up_to_last_test(released)  # nothing after the last test cell is graded: skip the experiments
    for i, answers in enumerate(correct):
        submit(course, f"correct_{i}", lesson, fill(variants, answers))
    for j, chosen in enumerate(mistaken):
        submit(course, f"mistake_{j}", lesson, fill(variants, {gid: src for gid, (_, _, src) in chosen.items()}))
    start = time.perf_counter()
    graded_students, failed = grade_class(course, lesson, jobs=2)
    print(
        f"\nautograde {lesson}: {len(graded_students)} submissions in {time.perf_counter() - start:.1f} s (2 workers)"
    )
    assert not failed, f"nbgrader could not grade {failed}"
    return lesson, course, catalogue, correct, mistaken


def _tests(table):
    return {gid: (score, top) for gid, (score, top, _) in table.items() if gid.startswith("test_")}


@pytest.mark.slow
def test_complete_submission_scores_full_marks(graded):
    lesson, course, *_ = graded
    table = scores(course, lesson, "complete")
    tests = _tests(table)
    assert tests, "no autograded test cells found"
    failed = {gid: v for gid, v in tests.items() if v[0] != v[1]}
    output = autograded_output(course, lesson, "complete")
    assert not failed, "complete answers lost points:\n" + "\n".join(
        f"{gid}: {output_text(output, gid)}" for gid in failed
    )
    written = [gid for gid in table if gid.startswith("q_")]
    assert all(table[gid][2] for gid in written), "written answers must be left for manual grading"
    data_cell = next((cell for cell in output.cells if cell.cell_type == "code" and "load_mnist(" in cell.source), None)
    if data_cell is not None and not os.environ.get("GAN_COURSE_OFFLINE"):  # as in an instructor's own environment
        printed = "".join(o.get("text", "") for o in data_cell.outputs)
        assert "no download: nbgrader is grading" in printed, (
            f"grading tried to download MNIST or did not say why not:\n{printed}"
        )


@pytest.mark.slow
def test_untouched_notebook_scores_zero_and_grading_finishes(graded):
    lesson, course, *_ = graded
    tests = _tests(scores(course, lesson, "untouched"))
    assert tests and all(score == 0 for score, _ in tests.values()), tests
    output = autograded_output(course, lesson, "untouched")
    for gid in tests:
        assert "not implemented yet" in output_text(output, gid), output_text(output, gid)


@pytest.mark.slow
def test_every_correct_variant_scores_full_marks(graded):
    lesson, course, catalogue, correct, _ = graded
    failures = []
    for i in range(len(correct)):
        student = f"correct_{i}"
        table, output = scores(course, lesson, student), autograded_output(course, lesson, student)
        names = correct_names(catalogue, i)
        for gid, entry in catalogue.EXERCISES.items():
            score, top, _ = table[entry["test"]]
            if score != top:
                failures.append(
                    f"{lesson} {gid}: correct variant {names[gid]!r} got {score}/{top}:\n"
                    f"{output_text(output, entry['test'])}"
                )
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_every_typical_mistake_loses_its_exercise_points_with_a_reason(graded):
    lesson, course, catalogue, _, mistaken = graded
    worth = points(lesson)
    caught, failures = set(), []
    for j, chosen in enumerate(mistaken):
        student = f"mistake_{j}"
        table, output = scores(course, lesson, student), autograded_output(course, lesson, student)
        for gid, (name, phrase, _) in chosen.items():
            if phrase is None:  # an exercise another one uses, filled in with a correct answer
                continue
            test = catalogue.EXERCISES[gid]["test"]
            score, top, _ = table[test]
            feedback = output_text(output, test)
            if top != worth[test]:
                failures.append(f"{lesson} {test}: max score {top}, the notebook gives {worth[test]}")
            if score != 0:
                failures.append(f"{lesson} {gid}: mistake {name!r} kept {score}/{top} points")
            elif phrase not in feedback:
                failures.append(
                    f"{lesson} {gid}: mistake {name!r} lost its points, but the feedback does not say "
                    f"{phrase!r}:\n{feedback}"
                )
            else:
                caught.add((gid, name))
    total = sum(len(e["mistakes"]) for e in catalogue.EXERCISES.values())
    print(f"\ncatch rate {lesson}: {len(caught)}/{total} typical mistakes lose their points with feedback naming them")
    assert not failures, "\n\n".join(failures)


# ---------------------------------------------------------------------------------------------------------------
# The metadata validator (scripts/check_notebooks.py)


def _check_notebooks():
    spec = importlib.util.spec_from_file_location("check_notebooks", SCRIPTS / "check_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_metadata_validator_passes_every_solution_notebook():
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "check_notebooks.py")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(LESSONS)} notebooks checked: no problems" in result.stdout


def test_metadata_validator_names_each_broken_cell(tmp_path):
    notebook = read(solution_path("01_backquery"))
    cells = {grade_id(c): c for c in notebook.cells if grade_id(c)}
    cells["test_inverse_sigmoid"].metadata["nbgrader"]["grade_id"] = "test_make_targets"  # duplicate id
    cells["test_make_targets"].metadata["nbgrader"]["points"] = 0  # no points
    cells["make_targets"].source = cells["make_targets"].source.replace("    ### END SOLUTION", "")  # unbalanced
    backquery_test = cells["test_backquery"]
    backquery_test.source = re.sub(
        r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "", backquery_test.source, flags=re.S
    )  # no hidden tests
    backquery_test.metadata["nbgrader"]["locked"] = False  # test cell editable
    path = tmp_path / "broken.ipynb"
    nbformat.write(notebook, str(path))
    problems = "\n".join(_check_notebooks().check_notebook(path)[0])
    expected = [
        (cells["test_inverse_sigmoid"].id, "grade_id 'test_make_targets' is used twice"),
        (cells["test_make_targets"].id, "needs points > 0"),
        (cells["make_targets"].id, "BEGIN SOLUTION is never closed"),
        (backquery_test.id, "no hidden-test block that calls backquery"),
        (backquery_test.id, "must be locked"),
    ]
    for cell_id, message in expected:
        assert re.search(rf"broken.ipynb cell {cell_id}\b.*{re.escape(message)}", problems), (message, problems)


def test_metadata_validator_finds_an_answer_in_helpers():
    module = _check_notebooks()
    assert module.helpers_problems({"get_device": ""}), "a helpers function named like an exercise must be reported"
    assert not module.helpers_problems({name: "" for name in ("make_targets", "backquery", "sample_noise")})


# ---------------------------------------------------------------------------------------------------------------
# A class end to end: scripts/grade_class.py (parallel autograde, feedback, CSV export) on 10 mixed submissions,
# among them a student who deleted one test cell and edited another, an infinite loop, a huge print, a NaN answer
# and an exception. The CSV must hold exactly the expected scores.

HANG = """
while True:
    pass

def make_targets(label, num_classes=10):
    raise NotImplementedError()
"""
HUGE_PRINT = """
def inverse_sigmoid(y):
    return torch.log(y / (1 - y))

for line in range(200_000):
    print("debug", line)
print("x" * 3_000_000)  # one enormous line
"""
NAN_ANSWER = """
def backquery(model, label):
    return torch.full((28, 28), float("nan"))
"""
EXCEPTION = """
def make_targets(label, num_classes=10):
    raise ValueError("I will finish this later")
"""


def _class_of_lesson_1(released, catalogue):
    """{student: (notebook, expected points)} for lesson 1: 7 mixed submissions and 3 special ones (whole notebooks).

    The mixed ones end at the last test cell (see ``up_to_last_test``), to keep the test short.
    """
    import random

    worth = points("01_backquery")
    entries = catalogue.EXERCISES
    solutions = solution_sources("01_backquery")
    students = {}
    variants = up_to_last_test(released)
    for n in range(4, 11):  # tests/test_grade_class.py covers the script's failure paths; these, a class's mix
        rng = random.Random(n)
        answers, expected = {}, 0.0
        for gid, entry in entries.items():
            kind = rng.choice(["correct", "correct", "mistake", "untouched"])
            if kind == "correct":
                answers[gid] = rng.choice([solutions[gid], *entry["correct"].values()])
                expected += worth[entry["test"]]
            elif kind == "mistake":
                answers[gid] = rng.choice(list(entry["mistakes"].values()))[1]
        students[f"s{n:02d}"] = (fill(variants, answers), expected)
    # s01 cheats: a wrong make_targets with its test cell emptied, a right inverse_sigmoid with its test cell deleted
    tampered = fill(
        released,
        {
            "make_targets": entries["make_targets"]["mistakes"]["0.01 and 0.99 swapped"][1],
            "inverse_sigmoid": solutions["inverse_sigmoid"],
            "backquery": solutions["backquery"],
        },
    )
    for cell in tampered.cells:
        if grade_id(cell) == "test_make_targets":
            cell.source = "pass  # my tests"
    tampered.cells = [c for c in tampered.cells if grade_id(c) != "test_inverse_sigmoid"]
    students["s01"] = (tampered, worth["test_inverse_sigmoid"] + worth["test_backquery"])
    # s02: an infinite loop in one exercise, a huge print in another, a NaN answer in the third
    students["s02"] = (
        fill(released, {"make_targets": HANG, "inverse_sigmoid": HUGE_PRINT, "backquery": NAN_ANSWER}),
        worth["test_inverse_sigmoid"],
    )
    # s03: an exception in one exercise, the others right
    students["s03"] = (
        fill(
            released,
            {
                "make_targets": EXCEPTION,
                "inverse_sigmoid": solutions["inverse_sigmoid"],
                "backquery": solutions["backquery"],
            },
        ),
        worth["test_inverse_sigmoid"] + worth["test_backquery"],
    )
    return students


@pytest.mark.slow
def test_grade_a_class_in_parallel_with_feedback_and_csv(tmp_path, release):
    import csv

    course = release("01_backquery", tmp_path)
    released = read(course / "notebooks" / "01_backquery" / "01_backquery.ipynb")
    students = _class_of_lesson_1(released, load_catalogue("01_backquery"))
    for student, (notebook, _) in students.items():
        submit(course, student, "01_backquery", notebook)

    start = time.perf_counter()
    # a 15 s limit per cell and per call instead of the shipped 60 s keeps the infinite loop cheap here (it runs
    # twice: in the kernel, then in the grading worker); lesson 1's slowest honest cell takes 6 s on a busy machine
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "grade_class.py"),
            "01_backquery",
            "--course",
            str(course),
            "--jobs",
            "2",
            "--feedback",
            "--export",
            str(tmp_path / "grades.csv"),
            "--",
            "--Execute.timeout=15",
            "--GradeOutsideKernel.timeout=15",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(f"\n{result.stdout}graded {len(students)} submissions in {time.perf_counter() - start:.1f} s")
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]

    with open(tmp_path / "grades.csv", newline="") as f:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    total_1 = sum(points("01_backquery").values())
    wrong = []
    for student, (_, expected) in students.items():
        row = rows[("01_backquery", student)]
        if float(row["score"]) != expected or float(row["max_score"]) != total_1:
            wrong.append(f"{student}: CSV {row['score']}/{row['max_score']}, expected {expected}/{total_1}")
    assert len(rows) == len(students), sorted(rows)
    assert not wrong, "\n".join(wrong)

    # the restored test cells graded s01 automatically, with the original feedback
    table = scores(course, "01_backquery", "s01")
    assert not table["test_inverse_sigmoid"][2] and not table["test_make_targets"][2], table
    assert "swapped" in output_text(autograded_output(course, "01_backquery", "s01"), "test_make_targets")
    hostile = autograded_output(course, "01_backquery", "s02")
    assert "NaN" in output_text(hostile, "test_backquery")
    printed = next(c for c in hostile.cells if grade_id(c) == "inverse_sigmoid")
    assert sum(o.get("text", "").count("\n") for o in printed.outputs) <= 500, "the huge print was not truncated"
    assert sum(len(o.get("text", "")) for o in printed.outputs) <= 60_000, "the enormous line was not truncated"
    assert "ValueError" in output_text(autograded_output(course, "01_backquery", "s03"), "test_make_targets")
    for student in students:
        assert (course / "feedback" / student / "01_backquery" / "01_backquery.html").exists(), student


def test_nbgrader_config_grades_with_restored_test_cells_and_a_cell_limit(monkeypatch):
    from course import ROOT
    from traitlets.config import Config

    monkeypatch.setenv("GAN_COURSE_OFFLINE", "")  # recorded, so any value the config set would be undone afterwards
    monkeypatch.delenv("GAN_COURSE_OFFLINE")
    config = Config()
    exec((ROOT / "nbgrader_config.py").read_text(), {"get_config": lambda: config})
    assert "GAN_COURSE_OFFLINE" not in os.environ  # the instructor's own session keeps its downloads
    assert config.OverwriteCells.add_missing_cells is True
    assert config.Execute.interrupt_on_timeout is True and 0 < config.Execute.timeout <= 60
    assert config.Execute.shutdown_kernel == "immediate"  # grading does not wait for each kernel's graceful exit
    limiter = next(step for step in config.Autograde.autograde_preprocessors if step.__name__ == "LimitOutputSize")
    cell = nbformat.v4.new_code_cell(
        "print('x' * 100_000)", outputs=[nbformat.v4.new_output("stream", name="stdout", text="x" * 100_000 + "\n")]
    )
    limited, _ = limiter(max_chars=1_000).preprocess_cell(cell, {}, 0)
    assert len(limited.outputs[0].text) < 1_100 and "truncated" in limited.outputs[0].text
