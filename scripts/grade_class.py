"""Autograde a whole class in parallel, then (optionally) write feedback and export grades to CSV.

nbgrader itself autogrades one submission after another. Several ``nbgrader autograde`` processes on one
course would share one SQLite gradebook (and run its migrations at start-up), where concurrent writers can fail
with "database is locked". So each worker autogrades its share of the students in a course copy of its own
(same config, same sources, a copy of the gradebook); the results (autograded notebooks, scores, comments) are
then merged into the course's gradebook by this script, one writer. Run it from the course root (this repository):

    python scripts/grade_class.py 01_backquery 02_simple_pattern_gan --jobs 4 --feedback --export grades.csv

Submissions go in ``submitted/<student>/<lesson>/<lesson>.ipynb`` (nbgrader's layout). Afterwards the course looks
exactly as if ``nbgrader autograde <lesson> --create --force`` had run: ``autograded/``, the gradebook,
``nbgrader formgrader`` for the written answers, ``nbgrader generate_feedback``, ``nbgrader export``.
Extra nbgrader options go after ``--``, e.g. ``-- --Execute.timeout=30``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


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


def make_worker(course: Path, root: Path, lesson: str, students: list[str]) -> Path:
    """A course copy holding only ``students``' submissions of ``lesson``."""
    root.mkdir(parents=True)
    shutil.copy(course / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copy(course / "gradebook.db", root / "gradebook.db")
    (root / "solutions").mkdir()
    os.symlink(course / "solutions" / lesson, root / "solutions" / lesson)
    for student in students:
        shutil.copytree(course / "submitted" / student / lesson, root / "submitted" / student / lesson)
    return root


def merge(course: Path, worker: Path, lesson: str, students: list[str]) -> list[str]:
    """Copy the worker's autograded notebooks and gradebook entries into the course; return students merged."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    merged = []
    with Gradebook(db_url(worker)) as source, Gradebook(db_url(course)) as target, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's add_submission builds objects before adding them
        for student in students:
            try:
                graded = source.find_submission(lesson, student)
            except MissingEntry:
                continue
            folder = worker / "autograded" / student / lesson
            destination = course / "autograded" / student / lesson
            if destination.exists():
                shutil.rmtree(destination)
            shutil.copytree(folder, destination)
            row = source.find_student(student)
            target.update_or_create_student(student, first_name=row.first_name, last_name=row.last_name,
                                            email=row.email, lms_user_id=row.lms_user_id)
            try:
                target.remove_submission(lesson, student)
            except MissingEntry:
                pass
            target.add_submission(lesson, student, timestamp=graded.timestamp)
            for notebook in graded.notebooks:
                mine = target.find_submission_notebook(notebook.name, lesson, student)
                mine.flagged = notebook.flagged
                mine.late_submission_penalty = notebook.late_submission_penalty
                for grade in notebook.grades:
                    copy = target.find_grade(grade.name, notebook.name, lesson, student)
                    copy.auto_score, copy.manual_score = grade.auto_score, grade.manual_score
                    copy.extra_credit, copy.needs_manual_grade = grade.extra_credit, grade.needs_manual_grade
                for comment in notebook.comments:
                    copy = target.find_comment(comment.name, notebook.name, lesson, student)
                    copy.auto_comment, copy.manual_comment = comment.auto_comment, comment.manual_comment
            target.db.commit()
            merged.append(student)
    return merged


def autograde(course: Path, lesson: str, jobs: int, extra: list[str]) -> tuple[list[str], list[str]]:
    """Autograde every submission of ``lesson`` with ``jobs`` workers; return (graded, failed) students."""
    students = students_of(course, lesson)
    if not students:
        print(f"{lesson}: no submissions in submitted/*/{lesson}/")
        return [], []
    jobs = max(1, min(jobs, len(students)))
    env = environment(single_thread=jobs > 1)
    ensure_assignment(course, lesson, env)
    command = nbgrader_command("autograde", lesson, "--create", "--force", *extra)
    if jobs == 1:  # nothing to merge: nbgrader as documented
        result = run(command, course, env)
        failed = [] if result.returncode == 0 else students
        if failed:
            print(result.stderr[-3000:], file=sys.stderr)
        return [s for s in students if s not in failed], failed
    shares = [students[k::jobs] for k in range(jobs)]
    with tempfile.TemporaryDirectory(prefix=f"grade-{lesson}-") as tmp:
        workers = [make_worker(course, Path(tmp, f"worker{k}").resolve(), lesson, share) for k, share in enumerate(shares)]
        with ThreadPoolExecutor(jobs) as pool:
            results = list(pool.map(lambda w: run(command, w, env), workers))
        graded = []
        for worker, share, result in zip(workers, shares, results):
            if result.returncode != 0:
                print(f"{lesson}: a worker failed ({', '.join(share)}):\n{result.stderr[-3000:]}", file=sys.stderr)
            graded += merge(course, worker, lesson, share)
    return graded, [s for s in students if s not in graded]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lessons", nargs="+", help="assignments to grade, e.g. 01_backquery")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: the current folder)")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="parallel workers (default: CPU cores)")
    parser.add_argument("--feedback", action="store_true", help="then run `nbgrader generate_feedback` (HTML in feedback/)")
    parser.add_argument("--export", metavar="CSV", help="then run `nbgrader export --to CSV`")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    if not (course / "nbgrader_config.py").exists():
        parser.error(f"{course} has no nbgrader_config.py: run from the course root or pass --course")
    env = environment(single_thread=False)
    status = 0
    for lesson in args.lessons:
        if not (course / "solutions" / lesson).is_dir():
            parser.error(f"no lesson {lesson!r} in {course / 'solutions'}")
        start = time.perf_counter()
        graded, failed = autograde(course, lesson, args.jobs, extra)
        print(f"{lesson}: {len(graded)} submissions autograded in {time.perf_counter() - start:.1f} s "
              f"with {args.jobs} workers" + (f"; FAILED: {', '.join(failed)}" if failed else ""), flush=True)
        status |= bool(failed)
        if args.feedback and graded:
            result = run(nbgrader_command("generate_feedback", lesson, "--force"), course, env)
            if result.returncode != 0:
                print(result.stderr[-3000:], file=sys.stderr)
                status = 1
    if args.export:
        result = run(nbgrader_command("export", "--to", str(Path(args.export).resolve())), course, env)
        if result.returncode != 0:
            print(result.stderr[-3000:], file=sys.stderr)
            status = 1
        else:
            print(f"grades written to {args.export}")
    return status


if __name__ == "__main__":
    sys.exit(main())
