"""Autograde a whole class in parallel, then (optionally) write feedback and export grades to CSV.

Run it from the course root:

    python scripts/grade_class.py 01_backquery 02_simple_pattern_gan --jobs 4 --feedback --export grades.csv

Submissions go in ``submitted/<student>/<lesson>/<lesson>.ipynb`` (nbgrader's layout). Each worker grades its share
of the students in a copy of the course; the verdicts are merged into the course's gradebook (grader/grade_class.py).
Afterwards the course looks exactly as if ``nbgrader autograde <lesson> --create --force`` had run: ``autograded/``,
the gradebook, ``nbgrader formgrader`` for the written answers, ``nbgrader generate_feedback``, ``nbgrader export``.
A submission whose grading fails is listed with the reason (exit status 1); every other student is graded.
Extra nbgrader options go after ``--``, e.g. ``-- --Execute.timeout=30``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from grader.grade_class import grade_lessons


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lessons", nargs="+", help="assignments to grade, e.g. 01_backquery")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: the current folder)")
    parser.add_argument(
        "--jobs", "-j", type=int, default=os.cpu_count() or 1, help="parallel workers (default: CPU cores)"
    )
    parser.add_argument(
        "--feedback", action="store_true", help="then run `nbgrader generate_feedback` (HTML in feedback/)"
    )
    parser.add_argument("--export", metavar="CSV", help="then run `nbgrader export --to CSV`")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    if not (course / "nbgrader_config.py").exists():
        parser.error(f"{course} has no nbgrader_config.py: run from the course root or pass --course")
    for lesson in args.lessons:
        if not (course / "solutions" / lesson).is_dir():
            parser.error(f"no lesson {lesson!r} in {course / 'solutions'}")
    return grade_lessons(course, args.lessons, args.jobs, extra, feedback=args.feedback, export=args.export)


if __name__ == "__main__":
    sys.exit(main())
