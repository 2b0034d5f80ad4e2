"""Does every catalogue entry grade the same way on every run? A developer's check, run by hand, not by pytest.

Most test cells draw their inputs afresh at each grading (``gen.seed()``, ``torch.rand`` without a seed), so a mistake
can slip past a visible check by luck and be caught by a hidden one with another message, or a correct answer can
miss a tolerance on rare inputs. ``tests/test_autograder.py`` grades each entry once per CI run, through nbgrader, in
minutes; this runs each entry's cell and its test cell (visible and hidden parts) many times in this process, in
seconds, and lists every entry whose outcome changes between runs:

    python tests/catalogue/stability.py 03_mnist_gan               # every mistake, 50 runs each
    python tests/catalogue/stability.py 05_cyclegan --runs 10 --correct   # every correct variant

A mistake is stable when every run fails with a message that holds its catalogue phrase; a correct variant, when no
run fails. It runs the instructor's solutions and hidden tests in this process: the catalogue and the solutions are
the course's own code, never a student's (grading runs those only in the sandbox). The namespace is the lesson's
prelude and setup (``grader.answer_cells``), every solution cell, then every test cell once on the solutions (which
defines the references some later hidden tests use, lesson 5's ``_ref_*``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def lesson_namespace(notebook) -> tuple[dict, dict[str, str]]:
    """The names a test cell sees after the solutions ran, and the test cells' sources by grade_id."""
    from nbgrader import utils

    from grader.answer_cells import free_names, lesson_prelude, lesson_setup

    tests = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in notebook.cells if utils.is_grade(cell)}
    answers = [cell.source for cell in notebook.cells if cell.cell_type == "code" and utils.is_solution(cell)]
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(lesson_prelude(notebook), namespace)
        exec(lesson_setup(notebook, set().union(*(free_names(s) for s in [*tests.values(), *answers]))), namespace)
        for source in answers:
            exec(source, namespace)
        for source in tests.values():
            with contextlib.suppress(Exception, SyntaxError):  # written answers' cells are not Python
                exec(source, namespace)
    return namespace, tests


def outcome(namespace: dict, source: str, test: str) -> str | None:
    """None when the test cell passes on ``source``, else its printed output and the error's message."""
    scope = dict(namespace)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        try:
            exec(source, scope)
            exec(test, scope)
        except Exception as error:  # noqa: BLE001 - the test's verdict
            return f"{printed.getvalue()}{type(error).__name__}: {error}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lesson", help="e.g. 03_mnist_gan")
    parser.add_argument("--runs", type=int, default=50, help="runs of each entry (default 50)")
    parser.add_argument("--correct", action="store_true", help="the correct variants instead of the mistakes")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(HERE.parent))
    import matplotlib
    import nbformat

    matplotlib.use("Agg")
    catalogue = importlib.import_module(f"catalogue.c{args.lesson}")
    notebook = nbformat.read(ROOT / "solutions" / args.lesson / f"{args.lesson}.ipynb", as_version=4)
    namespace, tests = lesson_namespace(notebook)
    unstable = 0
    for gid, entry in catalogue.EXERCISES.items():
        entries = (
            {name: (None, source) for name, source in entry["correct"].items()} if args.correct else entry["mistakes"]
        )
        for name, (phrase, source) in entries.items():
            results = [outcome(namespace, source, tests[entry["test"]]) for _ in range(args.runs)]
            if args.correct:
                bad = [r for r in results if r is not None]
            else:
                bad = [r or "passed" for r in results if r is None or phrase not in r]
            unstable += bool(bad)
            verdict = f"{len(bad)}/{args.runs} runs UNSTABLE, e.g. {bad[0][-300:]!r}" if bad else "stable"
            print(f"{gid} / {name}: {verdict}", flush=True)
    kind = "correct variants" if args.correct else "mistakes"
    print(f"{args.lesson}: {unstable} unstable {kind} over {args.runs} runs each")
    return 1 if unstable else 0


if __name__ == "__main__":
    sys.exit(main())
