"""Time `nbgrader autograde` of one submission with and without the grading sandbox (grader/sandbox.py).

The runs alternate (sandboxed, plain, sandboxed, ...) so that a machine busy with other work slows both alike.
Prints every run and the medians. Without lessons it grades tests/test_sandbox.py's one-exercise assignment
(nbgrader's start-up plus one kernel: the sandbox's fixed cost); with lessons, one complete submission of each.

    python bench/sandbox.py                        # the tiny assignment, 3 runs each
    python bench/sandbox.py 03_mnist_gan --repeats 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from course import fill, make_course, nbgrader, read, scores, solution_sources, submit  # noqa: E402
from test_sandbox import ASSIGNMENT, HONEST, SANDBOX_CONFIG, submit_answer, tiny_course  # noqa: E402


def courses(tmp: Path, lesson: str | None) -> dict[str, Path]:
    """A plain and a sandboxed course holding one complete submission (``student``) of ``lesson``."""
    made = {}
    for kind in ("plain", "sandbox"):
        folder = tmp / kind
        folder.mkdir()
        if lesson is None:
            course = tiny_course(folder, sandboxed_config=kind == "sandbox")
            submit_answer(course, "student", HONEST)
        else:
            course = make_course(folder, [lesson])
            if kind == "sandbox":
                with open(course / "nbgrader_config.py", "a") as config:
                    config.write(SANDBOX_CONFIG.replace("c.Execute.timeout", "# c.Execute.timeout"))
            nbgrader(course, "generate_assignment", lesson, "--force")
            released = read(course / "notebooks" / lesson / f"{lesson}.ipynb")
            submit(course, "student", lesson, fill(released, solution_sources(lesson)))
        made[kind] = course
    return made


def autograde_seconds(course: Path, assignment: str) -> float:
    start = time.perf_counter()
    nbgrader(course, "autograde", assignment, "--create", "--force")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lessons of solutions/ (default: the tiny assignment)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ.pop("GAN_GRADING_SANDBOX", None)
    for lesson in args.lessons or [None]:
        assignment = lesson or ASSIGNMENT
        tmp = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
        try:
            made = courses(tmp, lesson)
            times = {"plain": [], "sandbox": []}
            for repeat in range(args.repeats):
                for kind in ("sandbox", "plain") if repeat % 2 == 0 else ("plain", "sandbox"):
                    times[kind].append(autograde_seconds(made[kind], assignment))
                    print(f"{assignment} {kind:8s} run {repeat + 1}: {times[kind][-1]:6.1f} s", flush=True)
            for kind, course in made.items():
                got = scores(course, assignment, "student")
                print(
                    f"{assignment} {kind:8s} score {sum(g[0] for g in got.values()):g}/"
                    f"{sum(g[1] for g in got.values()):g}"
                )
            plain, boxed = statistics.median(times["plain"]), statistics.median(times["sandbox"])
            print(
                f"{assignment}: median {plain:.1f} s plain, {boxed:.1f} s sandboxed ({boxed - plain:+.1f} s, "
                f"{(boxed / plain - 1) * 100:+.0f} %), load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
