"""scripts/grade_class.py (grader/grade_class.py) with real nbgrader on lesson 01_backquery (the fastest): grades come
only from the autograder's verdicts, workers hold copies and no link back to the course, and a submission whose
grading fails is reported without costing any other student a grade."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from pathlib import Path

import pytest
from course import SCRIPTS, fill, make_course, nbgrader, points, read, solution_sources, submit, up_to_last_test

from grader import grade_class

LESSON = "01_backquery"
pytestmark = pytest.mark.slow


def _script():
    """scripts/grade_class.py, the command line (its main); the work is grader.grade_class's."""
    spec = importlib.util.spec_from_file_location("grade_class_under_test", SCRIPTS / "grade_class.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _course(tmp_path: Path) -> tuple[Path, object]:
    course = make_course(tmp_path, [LESSON])
    nbgrader(course, "generate_assignment", LESSON, "--force")
    return course, read(course / "notebooks" / LESSON / f"{LESSON}.ipynb")


def _test_points() -> dict[str, float]:
    return {gid: p for gid, p in points(LESSON).items() if gid.startswith("test_")}


def _auto_scores(course: Path, student: str) -> dict[str, float | None]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(LESSON, LESSON, student)
        return {g.name: g.auto_score for g in notebook.grades}


def _full_marks(course: Path, student: str) -> None:
    table = _auto_scores(course, student)
    got = {gid: table[gid] for gid in _test_points()}
    assert got == _test_points(), f"{student}: {got}"
    assert (course / "autograded" / student / LESSON / f"{LESSON}.ipynb").is_file()


def test_a_failed_submission_is_reported_and_costs_no_other_student_a_grade(tmp_path, monkeypatch, capsys):
    import subprocess

    course, released = _course(tmp_path)
    variants = up_to_last_test(released)
    submit(course, "a_first", LESSON, variants)  # untouched: graded, 0 points
    (course / "submitted" / "b_corrupt" / LESSON).mkdir(parents=True)
    (course / "submitted" / "b_corrupt" / LESSON / f"{LESSON}.ipynb").write_text("{ this is not a notebook")
    submit(course, "c_honest", LESSON, fill(variants, solution_sources(LESSON)))

    script = _script()
    original, calls = grade_class.run, []

    def crashing_run(command, cwd, env):
        """A worker's nbgrader process that grades several students dies after the first one (as if killed)."""
        if "autograde" not in command:
            return original(command, cwd, env)
        students = sorted(p.name for p in (Path(cwd) / "submitted").iterdir())
        calls.append(students)
        if len(students) == 1:
            return original(command, cwd, env)
        done = original([*command, f"--student={students[0]}"], cwd, env)
        return subprocess.CompletedProcess(command, -9, done.stdout, done.stderr + "\nKilled")

    monkeypatch.setattr(grade_class, "run", crashing_run)
    status = script.main([LESSON, "--course", str(course), "--jobs", "2"])  # shares [a_first, c_honest], [b_corrupt]
    out, err = capsys.readouterr()
    assert status == 1, out + err
    assert sorted(calls) == [["a_first", "c_honest"], ["b_corrupt"], ["c_honest"]], calls  # c again, alone
    summary = next(line for line in out.splitlines() if line.startswith(f"{LESSON}:"))
    assert "2 submissions autograded" in summary and summary.endswith("FAILED: b_corrupt"), summary
    assert "b_corrupt: NOT GRADED" in err, err[-3000:]
    _full_marks(course, "c_honest")
    assert all(_auto_scores(course, "a_first")[gid] == 0 for gid in _test_points())
    assert not (course / "autograded" / "b_corrupt" / LESSON).exists()


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's add_submission, in the setup
def test_only_the_autograders_verdicts_reach_the_gradebook_and_workers_hold_copies(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook, MissingEntry

    course, released = _course(tmp_path)
    variants = up_to_last_test(released)
    submit(course, "honest", LESSON, fill(variants, solution_sources(LESSON)))
    submit(course, "inflated", LESSON, variants)
    # a link in a submission to the course's solutions: the submission is refused, nothing of it reaches a worker
    submit(course, "linked", LESSON, fill(variants, solution_sources(LESSON)))
    os.symlink(
        course / "solutions" / LESSON / f"{LESSON}.ipynb", course / "submitted" / "linked" / LESSON / "answers.ipynb"
    )
    db = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(db) as gradebook:  # a grader's work from before: kept as it is
        gradebook.add_student("honest", first_name="Ada")
        gradebook.add_submission(LESSON, "honest")
        gradebook.find_grade("q_same_image", LESSON, LESSON, "honest").manual_score = 1.5
        gradebook.find_grade("test_backquery", LESSON, LESSON, "honest").extra_credit = 2
        gradebook.find_comment("q_same_image", LESSON, LESSON, "honest").manual_comment = "good"
        gradebook.db.commit()

    original, workers = grade_class.run, []

    def doctored_run(command, cwd, env):
        if "autograde" not in command:
            return original(command, cwd, env)
        root = Path(cwd).resolve()
        links = [str(p) for p in root.rglob("*") if p.is_symlink() or not p.resolve().is_relative_to(root)]
        with sqlite3.connect(root / "gradebook.db") as con:
            people = con.execute("SELECT count(*) FROM student").fetchone()[0]
            sources = con.execute("SELECT count(*) FROM source_cell").fetchone()[0]
        workers.append(
            (
                root,
                links,
                sorted(p.name for p in (root / "solutions").rglob("*.ipynb")),
                sorted(p.name for p in (root / "submitted").rglob("*")),
                people,
                sources,
            )
        )
        result = original(command, cwd, env)
        # what a grading process that reached its gradebook could write: extra credit, manual grades, flags
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
            for student in gradebook.students:
                for submission in student.submissions:
                    for notebook in submission.notebooks:
                        notebook.flagged = True
                        for grade in notebook.grades:
                            grade.extra_credit, grade.manual_score = 100, grade.max_score
                            if student.id == "inflated" and grade.name == "test_make_targets":
                                grade.auto_score = 10 * grade.max_score
                        for comment in notebook.comments:
                            comment.manual_comment = "doctored"
            gradebook.db.commit()
        return result

    monkeypatch.setattr(grade_class, "run", doctored_run)
    reasons = {}
    graded, failed = grade_class.autograde(course, LESSON, 2, [], reasons)
    assert graded == ["honest"] and failed == ["inflated", "linked"], reasons
    assert "outside" in reasons["inflated"], reasons
    assert "answers.ipynb: a symbolic link" in reasons["linked"], reasons

    assert len(workers) == 2
    for root, links, notebooks, submitted, people, sources in workers:
        assert not links, f"{root}: links or paths out of the worker: {links}"
        assert notebooks == [f"{LESSON}.ipynb"], f"{root}: the lesson's source is not copied: {notebooks}"
        assert "answers.ipynb" not in submitted and "linked" not in submitted, "the linked submission was copied"
        assert people == 0, "a worker's gradebook holds the class's students"
        assert sources > 0, "a worker's gradebook lacks the cells that restore the test cells"

    _full_marks(course, "honest")
    with Gradebook(db) as gradebook:
        assert gradebook.find_student("honest").first_name == "Ada"
        notebook = gradebook.find_submission_notebook(LESSON, LESSON, "honest")
        assert not notebook.flagged
        extra = {g.name: g.extra_credit for g in notebook.grades if g.extra_credit}
        manual = {g.name: g.manual_score for g in notebook.grades if g.manual_score is not None}
        assert extra == {"test_backquery": 2} and manual == {"q_same_image": 1.5}, (extra, manual)
        assert {c.name: c.manual_comment for c in notebook.comments if c.manual_comment} == {"q_same_image": "good"}
        needs = {g.name for g in notebook.grades if g.needs_manual_grade}
        assert needs == {"q_same_image", "q_hidden_size"}, needs  # the written answers, as nbgrader leaves them
        with pytest.raises(MissingEntry):
            gradebook.find_submission(LESSON, "inflated")
    assert not (course / "autograded" / "inflated").exists()
