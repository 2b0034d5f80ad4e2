"""Time `nbgrader autograde` for one student's complete submission of every lesson, on one CPU core.

Prints, side by side in one run, per lesson:
- ``grading``: the shipped lessons and nbgrader_config.py (training cells use the grading tier,
  ``profile.pick(..., grading=...)``; every kernel in the sandbox; verdicts decided outside the kernel);
- the baseline (``--baseline``): ``kernel`` (default), the same lessons graded with nbgrader's
  own preprocessors only (tests run in the student's kernel, no sandbox); or ``quick``, the shipped config with the
  ``grading=`` values removed, i.e. the quick profile;
- the fixed cost inside the grading run: seconds to the end of the setup cell (kernel start, imports,
  profile, device) and of the data cell, from the cell timestamps nbclient records.

    python bench/autograde.py                    # every lesson, core 0
    python bench/autograde.py 01_backquery --cores 0,1 --no-baseline
    python bench/autograde.py --baseline quick

The budget is under 60 s for one student's five lessons on one core.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from course import LESSONS, fill, make_course, nbgrader, nbgrader_env, read, solution_sources, submit  # noqa: E402

GRADING_START = re.compile(r"^[ \t]*grading=", re.M)


def without_grading_argument(source: str) -> str:
    """``source`` without its ``grading=...`` argument (one or more lines: up to the matching parenthesis, the comma
    and the rest of that line, e.g. a comment)."""
    match = GRADING_START.search(source)
    if match is None:
        return source
    depth, i = 0, match.end()
    while i < len(source):
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(source[i], 0)
        if depth < 0:  # the closing parenthesis of profile.pick(...) itself: the argument ended without a comma
            break
        if depth == 0 and source[i] == ",":
            break
        i += 1
    end = source.find("\n", i)
    return source[: match.start()] + (source[end + 1 :] if end != -1 else "")


def strip_grading_tier(course: Path) -> None:
    """Remove the ``grading=...`` argument from every lesson's settings cell (the baseline: the quick profile)."""
    for path in (course / "solutions").glob("*/*.ipynb"):
        notebook = read(path)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.source = without_grading_argument(cell.source)
        nbformat.write(notebook, str(path))


SHIPPED = "c.Autograde.autograde_preprocessors = graded_outside_kernel(sandboxed(c.Autograde.autograde_preprocessors))"


def grade_in_kernel(course: Path) -> None:
    """The course's nbgrader_config.py without the sandbox and the grader's verdicts: tests run in the kernel."""
    config = course / "nbgrader_config.py"
    text = config.read_text()
    if SHIPPED not in text:
        raise SystemExit(f"nbgrader_config.py no longer holds `{SHIPPED}`: update bench/autograde.py")
    config.write_text(text.replace(SHIPPED, ""))


def prepare(tmp: Path, lessons: list[str], baseline: str | None) -> Path:
    tmp.mkdir(parents=True)
    course = make_course(tmp, lessons)
    if baseline == "quick":
        strip_grading_tier(course)
    elif baseline == "kernel":
        grade_in_kernel(course)
    for lesson in lessons:
        nbgrader(course, "generate_assignment", lesson, "--force")
        released = read(course / "notebooks" / lesson / f"{lesson}.ipynb")
        submit(course, "bench", lesson, fill(released, solution_sources(lesson)))
    return course


def _stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def fixed_cost(course: Path, lesson: str, start: float) -> tuple[float, float]:
    """Seconds from the start of `nbgrader autograde` to the end of the first and second code cells."""
    notebook = read(course / "autograded" / "bench" / lesson / f"{lesson}.ipynb")
    ends = [
        _stamp(c.metadata["execution"]["shell.execute_reply"])
        for c in notebook.cells
        if c.cell_type == "code" and "execution" in c.metadata
    ]
    if len(ends) < 2:
        return float("nan"), float("nan")
    return ends[0] - start, ends[1] - start


def autograde(course: Path, lesson: str, cores: str) -> tuple[float, float, float, float]:
    """(wall seconds, CPU seconds of nbgrader and its kernel, setup done, data done) of one autograde."""
    command = ["taskset", "-c", cores] if shutil.which("taskset") else []
    command += [
        sys.executable,
        "-m",
        "nbgrader",
        "autograde",
        lesson,
        "--student",
        "bench",
        "--force",
        "--Execute.record_timing=True",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    result = subprocess.run(command, cwd=course, env=nbgrader_env(), capture_output=True, text=True)
    seconds = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0 or "ERROR" in result.stderr:
        raise SystemExit(f"autograde {lesson} failed:\n{result.stderr[-3000:]}")
    if lesson == "*":
        return seconds, cpu, float("nan"), float("nan")
    return (seconds, cpu, *fixed_cost(course, lesson, start))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lessons", nargs="*", default=LESSONS)
    parser.add_argument("--cores", default="0", help="CPU list for taskset (default: one core, 0)")
    parser.add_argument(
        "--baseline",
        choices=("kernel", "quick"),
        default="kernel",
        help="kernel: tests in the student's kernel, no sandbox (default); "
        "quick: the quick profile instead of the grading tier",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of the one-command grading of every lesson; the median is printed (default 3)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        grading = prepare(Path(tmp) / "grading", args.lessons, baseline=None)
        baseline = None if args.no_baseline else prepare(Path(tmp) / "baseline", args.lessons, baseline=args.baseline)
        print(
            f"autograde one student, complete answers, cores {args.cores} (nbgrader {nbgrader_version()})", flush=True
        )
        print(
            f"{'lesson':<24}{'grading wall/CPU (s)':>22}{args.baseline + ' baseline wall/CPU (s)':>29}"
            f"{'setup done (s)':>16}{'data done (s)':>15}",
            flush=True,
        )
        totals = [0.0] * 4
        for lesson in args.lessons:
            seconds, cpu, setup, data = autograde(grading, lesson, args.cores)
            base, base_cpu = autograde(baseline, lesson, args.cores)[:2] if baseline else (float("nan"),) * 2
            for k, value in enumerate((seconds, cpu, base, base_cpu)):
                totals[k] += value
            print(
                f"{lesson:<24}{seconds:>15.1f} /{cpu:>5.1f}{base:>22.1f} /{base_cpu:>5.1f}{setup:>16.1f}{data:>15.1f}",
                flush=True,
            )
        print(f"{'total':<24}{totals[0]:>15.1f} /{totals[1]:>5.1f}{totals[2]:>22.1f} /{totals[3]:>5.1f}")
        if len(args.lessons) > 1:  # one nbgrader process for every lesson: its start-up is paid once
            # alternately, so that both columns see the same load
            runs = [
                (
                    autograde(grading, "*", args.cores)[:2],
                    autograde(baseline, "*", args.cores)[:2] if baseline else (float("nan"),) * 2,
                )
                for _ in range(args.repeats)
            ]
            seconds, cpu = statistics.median(r[0][0] for r in runs), statistics.median(r[0][1] for r in runs)
            base, base_cpu = statistics.median(r[1][0] for r in runs), statistics.median(r[1][1] for r in runs)
            spread = ", ".join(f"{r[0][0]:.1f}/{r[1][0]:.1f}" for r in runs)
            print(
                f"{'all, one command':<24}{seconds:>15.1f} /{cpu:>5.1f}{base:>22.1f} /{base_cpu:>5.1f}   "
                f"(nbgrader autograde '*' --student bench; median of {len(runs)} runs, grading/baseline: {spread} s)"
            )
        print(
            "(wall: `nbgrader autograde` per lesson, kernel start, imports, every cell, gradebook; CPU: user+sys of "
            "nbgrader and its kernel, less sensitive to other load; 'setup/data done': seconds from the start of the "
            "command to the end of the first/second code cell)"
        )


def nbgrader_version() -> str:
    import nbgrader

    return nbgrader.__version__


if __name__ == "__main__":
    main()
