"""Autograde a whole class in parallel, then (optionally) write feedback and export grades to CSV.

The instructors' command is ``scripts/grade_class.py`` (its command line); this module does the work.

nbgrader itself autogrades one submission after another. Several ``nbgrader autograde`` processes on one
course would share one SQLite gradebook (and run its migrations at start-up), where concurrent writers can fail
with "database is locked". So each worker autogrades its share of the students in a folder of its own (copies,
never links: the configuration, the assignments' cells without any student's data, the lesson's sources, the
submissions), and :func:`merge` brings the autograder's verdicts (auto scores, auto comments, late penalties, the
autograded notebooks) into the course's gradebook, one writer, one student at a time. Manual scores and comments and
extra credit are the graders': never taken from a worker. A submission whose grading fails (its nbgrader process
crashes, its notebook does not read, no result is recorded) is graded once more alone, then reported: listed with the
reason, every other student graded.

Submissions are in ``submitted/<student>/<lesson>/<lesson>.ipynb`` (nbgrader's layout). Afterwards the course looks
exactly as if ``nbgrader autograde <lesson> --create --force`` had run: ``autograded/``, the gradebook,
``nbgrader formgrader`` for the written answers, ``nbgrader generate_feedback``, ``nbgrader export``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from grader.submission_guard import RefusedSubmission, copy_regular_tree, refusal, unsafe_entries
from helpers.data.download import install_folder


def nbgrader_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "nbgrader", *args]


def environment(single_thread: bool) -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader runs `alembic` from the interpreter's bin folder.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    # grading always runs the lessons' grading tier: a GAN_PROFILE=full left in the shell would train for real
    env.pop("GAN_PROFILE", None)
    if single_thread:
        # one worker per core: keep each grading kernel's PyTorch/BLAS on one thread (no oversubscription)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = "1"
    return env


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


def students_of(course: Path, lesson: str) -> list[str]:
    submitted = course / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir() if (p / lesson).is_dir())


def ensure_assignment(course: Path, lesson: str, env: dict[str, str]) -> None:
    """The gradebook must know the lesson's cells: generate the student version once if it does not."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url(course)) as gradebook:
        try:
            gradebook.find_assignment(lesson)
            return
        except MissingEntry:
            pass
    result = run(nbgrader_command("generate_assignment", lesson, "--force"), course, env)
    if result.returncode != 0:
        raise SystemExit(f"nbgrader generate_assignment {lesson} failed:\n{result.stderr[-3000:]}")


def db_url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


# The tables of nbgrader's gradebook that hold students and their work; a worker's copy starts with none of them.
STUDENT_TABLES = ("grade", "comment", "submitted_notebook", "submitted_assignment", "student")


class GradingFailure(Exception):
    """One submission could not be graded: the message says why."""


def _copy_files(source: Path, destination: Path, skip: set[str] = frozenset()) -> list[str]:
    """Copy the regular files and folders under ``source`` (but those named in ``skip``) to ``destination``;
    symbolic links and anything else are left out (a link in a submission could point at the course's solutions).
    Returns what was left out, links and special files."""
    skipped = []
    destination.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir()):
        target = destination / entry.name
        if entry.name in skip:
            continue
        if entry.is_symlink():
            skipped.append(str(entry))
        elif entry.is_dir():
            skipped += _copy_files(entry, target, skip)
        elif entry.is_file():
            shutil.copy2(entry, target, follow_symlinks=False)
        else:
            skipped.append(str(entry))
    return skipped


def refused(course: Path, student: str, lesson: str) -> str | None:
    """Why ``submitted/<student>/<lesson>/`` may not be graded (links or special files in it, or it or the student's
    folder a link: :mod:`grader.submission_guard`), or None."""
    folder = course / "submitted" / student / lesson
    problems = unsafe_entries(folder)
    if folder.parent.is_symlink():
        problems.insert(0, f"{folder.parent}: a symbolic link to {os.readlink(folder.parent)}")
    return refusal(problems) if problems else None


def worker_gradebook(course_db: Path, worker_db: Path) -> None:
    """A copy of the course's gradebook with its assignments (cells, source cells, due dates) and no student:
    no grade, comment or name of anybody reaches a worker, and nothing a worker writes but its verdicts comes back."""
    import sqlite3

    source = sqlite3.connect(f"file:{course_db}?mode=ro", uri=True)
    target = sqlite3.connect(worker_db)
    try:
        source.backup(target)  # a consistent snapshot, even while the formgrader writes
        for table in STUDENT_TABLES:
            target.execute(f"DELETE FROM {table}")
        target.commit()
        target.execute("VACUUM")  # the deleted rows leave no trace in free pages
    finally:
        source.close()
        target.close()


def make_worker(
    course: Path, root: Path, lesson: str, students: list[str], failures: dict[str, str] | None = None
) -> Path:
    """A course folder of its own for grading ``students``' submissions of ``lesson``: copies, never links.

    It holds the nbgrader configuration, a gradebook with the assignments and no student (see
    :func:`worker_gradebook`), a copy of the lesson's source folder (the grader reads the instructor notebook; the
    grading kernels never see it, see grader/sandbox.py) and the submissions' regular files. Nothing in it leads
    back to the course folder: a process that follows every link in it stays in the copy. A submission that cannot
    be copied (an unreadable file) or holds links or special files (:mod:`grader.submission_guard`, as in
    ``nbgrader autograde``) is left out, with the reason in ``failures``.
    """
    root.mkdir(parents=True)
    shutil.copy(course / "nbgrader_config.py", root / "nbgrader_config.py")
    worker_gradebook(course / "gradebook.db", root / "gradebook.db")
    _copy_files(course / "solutions" / lesson, root / "solutions" / lesson, skip={".ipynb_checkpoints", "__pycache__"})
    for student in students:
        folder = course / "submitted" / student / lesson
        try:
            reason = refused(course, student, lesson)
            if reason:
                raise RefusedSubmission(reason)
            copy_regular_tree(folder, root / "submitted" / student / lesson)  # refuses links and special files
        except (OSError, RefusedSubmission) as error:
            shutil.rmtree(root / "submitted" / student, ignore_errors=True)
            if failures is None:
                raise
            failures[student] = (
                str(error)
                if isinstance(error, RefusedSubmission)
                else f"its submission could not be copied for grading ({error})"
            )
    return root


def _verdicts(source, target, worker: Path, lesson: str, student: str) -> dict:
    """What the worker's autograde found for ``student``, checked against the course's assignment: for every
    notebook its late penalty, each graded cell's auto score (None: graded by hand) and each comment's auto
    comment. Nothing else of the worker's gradebook (manual scores and comments, extra credit, flags) is read."""
    from nbgrader.api import MissingEntry

    try:
        submission = source.find_submission(lesson, student)
    except MissingEntry:
        raise GradingFailure("the grading process recorded no result for this submission") from None
    produced = worker / "autograded" / student / lesson
    if not produced.is_dir():
        raise GradingFailure(f"the grading process wrote no autograded/{student}/{lesson}/")
    verdicts = {"timestamp": submission.timestamp, "notebooks": {}}
    assignment = target.find_assignment(lesson)
    for notebook in assignment.notebooks:
        if (worker / "submitted" / student / lesson / f"{notebook.name}.ipynb").is_file():
            path = produced / f"{notebook.name}.ipynb"
            if not path.is_file():
                raise GradingFailure(f"the grading process wrote no autograded/{student}/{lesson}/{path.name}")
            try:
                nbformat.read(str(path), as_version=4)
            except Exception as error:  # noqa: BLE001 - a graded notebook that does not read is no result
                raise GradingFailure(f"autograded/{student}/{lesson}/{path.name} is not a notebook ({error})") from None
        try:
            theirs = source.find_submission_notebook(notebook.name, lesson, student)
        except MissingEntry:
            raise GradingFailure(f"the grading process recorded no result for {notebook.name}") from None
        scores, comments, total = {}, {}, 0.0
        for cell in [*notebook.grade_cells, *notebook.task_cells]:
            try:
                score = source.find_grade(cell.name, notebook.name, lesson, student).auto_score
            except MissingEntry:
                raise GradingFailure(f"the grading process recorded no score for {cell.name}") from None
            if score is not None and not (0 <= float(score) <= cell.max_score):  # NaN fails too
                raise GradingFailure(
                    f"{cell.name}: score {score} outside 0..{cell.max_score}: not a verdict of the autograder"
                )
            scores[cell.name] = None if score is None else float(score)
            total += scores[cell.name] or 0.0
        for cell in [*notebook.solution_cells, *notebook.task_cells]:
            try:
                comment = source.find_comment(cell.name, notebook.name, lesson, student).auto_comment
            except MissingEntry:
                raise GradingFailure(f"the grading process recorded no comment for {cell.name}") from None
            comments[cell.name] = None if comment is None else str(comment)[:1000]
        penalty = theirs.late_submission_penalty
        if penalty is not None and not (0 <= float(penalty) <= total):
            raise GradingFailure(f"{notebook.name}: late penalty {penalty} outside 0..{total}")
        verdicts["notebooks"][notebook.name] = (scores, comments, penalty)
    return verdicts


def merge_student(target, course: Path, worker: Path, lesson: str, student: str, verdicts: dict) -> None:
    """Write one student's verdicts into the course's gradebook and put the autograded notebooks in place.

    What ``nbgrader autograde`` itself writes, and only that: each cell's auto score, whether it needs grading by
    hand (yes when there is no auto score, or when a grader already gave a manual score, which is kept), the auto
    comments, the late penalty and the submission's time. Manual scores and comments, extra credit and flags in the
    course's gradebook stay as the graders left them.
    """
    from nbgrader.api import MissingEntry

    destination = course / "autograded" / student / lesson
    staged = destination.with_name(f".{lesson}.merging-{os.getpid()}")
    if staged.exists():
        shutil.rmtree(staged)
    _copy_files(worker / "autograded" / student / lesson, staged)
    try:
        try:
            target.find_student(student)
        except MissingEntry:
            target.add_student(student)  # as `nbgrader autograde --create`: an id, no name
        target.update_or_create_submission(lesson, student, timestamp=verdicts["timestamp"])
        for name, (scores, comments, penalty) in verdicts["notebooks"].items():
            target.find_submission_notebook(name, lesson, student).late_submission_penalty = penalty
            for cell, score in scores.items():
                grade = target.find_grade(cell, name, lesson, student)
                grade.auto_score = score
                grade.needs_manual_grade = grade.manual_score is not None or score is None
            for cell, text in comments.items():
                target.find_comment(cell, name, lesson, student).auto_comment = text
        target.db.commit()
    except BaseException:
        target.db.rollback()
        shutil.rmtree(staged, ignore_errors=True)
        raise
    install_folder(staged, destination)


def merge(course: Path, worker: Path, lesson: str, students: list[str]) -> tuple[list[str], dict[str, str]]:
    """Merge each student's results from ``worker`` into the course, one student at a time: a student whose
    grading failed is recorded (with the reason) and costs no other student a grade. Returns (merged, failures)."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    merged, failures = [], {}
    try:
        source_gradebook = Gradebook(db_url(worker))
    except Exception as error:  # noqa: BLE001 - a worker whose gradebook does not open graded nobody
        return [], {
            student: f"the worker's gradebook is unreadable ({type(error).__name__}: {error})" for student in students
        }
    with source_gradebook as source, Gradebook(db_url(course)) as target, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's add_submission builds objects before adding them
        for student in students:
            try:
                merge_student(
                    target, course, worker, lesson, student, _verdicts(source, target, worker, lesson, student)
                )
                merged.append(student)
            except Exception as error:  # noqa: BLE001 - any failure is this student's alone
                failures[student] = (
                    str(error)
                    if isinstance(error, GradingFailure)
                    else f"merging failed ({type(error).__name__}: {error})"
                )
    return merged, failures


def _grade_shares(
    course: Path,
    tmp: Path,
    lesson: str,
    shares: list[list[str]],
    command: list[str],
    env: dict[str, str],
    jobs: int,
    tag: str,
) -> tuple[list[str], dict[str, str]]:
    """Grade each share in a worker of its own (``jobs`` at a time), then merge them; returns (graded, failures)."""
    copy_failures: dict[str, str] = {}
    workers = [make_worker(course, tmp / f"{tag}{k}", lesson, share, copy_failures) for k, share in enumerate(shares)]
    shares = [[s for s in share if s not in copy_failures] for share in shares]
    with ThreadPoolExecutor(max(1, min(jobs, len(workers)))) as pool:
        results = list(pool.map(lambda worker, share: run(command, worker, env) if share else None, workers, shares))
    graded, failures = [], dict(copy_failures)
    for worker, share, result in zip(workers, shares, results):
        if result is None:
            continue
        if result.returncode != 0:
            print(
                f"{lesson}: nbgrader exited with {result.returncode} grading {', '.join(share)}:\n"
                f"{result.stderr[-3000:]}",
                file=sys.stderr,
            )
        merged, failed = merge(course, worker, lesson, share)
        graded += merged
        for student, reason in failed.items():
            failures[student] = reason + (f" (nbgrader exited with {result.returncode})" if result.returncode else "")
    return graded, failures


def autograde(
    course: Path, lesson: str, jobs: int, extra: list[str], reasons: dict[str, str] | None = None
) -> tuple[list[str], list[str]]:
    """Autograde every submission of ``lesson`` with ``jobs`` workers; return (graded, failed) students.

    Every submission is graded in a worker folder (:func:`make_worker`), never in the course folder. A student whose
    grading failed in a worker shared with others is graded once more alone, so a submission that crashes its
    nbgrader process costs nobody else a grade; what still fails is listed in ``failed`` (and, with the reason, in
    ``reasons`` when given) and keeps whatever the course's gradebook held for it before.
    """
    students = students_of(course, lesson)
    if not students:
        print(f"{lesson}: no submissions in submitted/*/{lesson}/")
        return [], []
    # refused before anything is copied (links, special files), as the course's `nbgrader autograde` refuses them
    not_copied = {student: reason for student in students if (reason := refused(course, student, lesson))}
    students = [student for student in students if student not in not_copied]
    if not students:
        return [], _report(lesson, not_copied, reasons)
    jobs = max(1, min(jobs, len(students)))
    env = environment(single_thread=jobs > 1)
    ensure_assignment(course, lesson, env)
    command = nbgrader_command("autograde", lesson, "--create", "--force", *extra)
    shares = [students[k::jobs] for k in range(jobs)]
    with tempfile.TemporaryDirectory(prefix=f"grade-{lesson}-") as tmp:
        tmp = Path(tmp).resolve()
        graded, failures = _grade_shares(course, tmp, lesson, shares, command, env, jobs, "worker")
        failures |= not_copied
        again = [student for share in shares if len(share) > 1 for student in share if student in failures]
        if again:
            print(f"{lesson}: grading {', '.join(again)} again, each alone", file=sys.stderr)
            regraded, failures_alone = _grade_shares(
                course, tmp, lesson, [[s] for s in again], command, env, jobs, "alone"
            )
            graded += regraded
            failures = {s: r for s, r in failures.items() if s not in again} | failures_alone
    return sorted(graded), _report(lesson, failures, reasons)


def _report(lesson: str, failures: dict[str, str], reasons: dict[str, str] | None) -> list[str]:
    """Print each student not graded, with the reason (also into ``reasons``); return them, sorted."""
    for student, reason in sorted(failures.items()):
        print(f"{lesson}: {student}: NOT GRADED: {reason}", file=sys.stderr)
    if reasons is not None:
        reasons.update(failures)
    return sorted(failures)


def grade_lessons(
    course: Path, lessons: list[str], jobs: int, extra: list[str], feedback: bool = False, export: str | None = None
) -> int:
    """Autograde every submission of each of ``lessons`` with ``jobs`` workers (:func:`autograde`), then run
    ``nbgrader generate_feedback`` for each graded lesson (``feedback``) and ``nbgrader export`` to the CSV file
    ``export``. Prints a summary line per lesson. Returns the exit status: 1 when a submission was not graded or a
    feedback or export command failed, else 0."""
    env = environment(single_thread=False)
    status = 0
    for lesson in lessons:
        start = time.perf_counter()
        graded, failed = autograde(course, lesson, jobs, extra)
        print(
            f"{lesson}: {len(graded)} submissions autograded in {time.perf_counter() - start:.1f} s "
            f"with {jobs} workers" + (f"; FAILED: {', '.join(failed)}" if failed else ""),
            flush=True,
        )
        status |= bool(failed)
        if feedback and graded:
            result = run(nbgrader_command("generate_feedback", lesson, "--force"), course, env)
            if result.returncode != 0:
                print(result.stderr[-3000:], file=sys.stderr)
                status = 1
    if export:
        result = run(nbgrader_command("export", "--to", str(Path(export).resolve())), course, env)
        if result.returncode != 0:
            print(result.stderr[-3000:], file=sys.stderr)
            status = 1
        else:
            print(f"grades written to {export}")
    return status
