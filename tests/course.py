"""Test utilities: a throw-away nbgrader course built from this repository's sources."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
LESSONS = sorted(p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").exists())
MARKERS = re.compile(r"BEGIN SOLUTION|END SOLUTION|BEGIN HIDDEN TESTS|END HIDDEN TESTS")
WORKER_PRELUDE = "import torch\nfrom torch import nn\n"  # the lesson prelude of the tests that drive a worker alone


def require_bwrap(why: str, *, skip: bool = True) -> bool:
    """Whether bubblewrap can build the grading sandbox here. Without it the test fails under CI (.ci/run installs
    it; ``why`` says what must be tested there), else it is skipped (``skip``) or told so (returns False)."""
    import pytest

    from grader.sandbox import sandbox_available
    from helpers.profiles import env_flag

    reason = sandbox_available()
    if reason is None:
        return True
    if env_flag(os.environ.get("CI")):
        pytest.fail(f"{reason} (CI is set: {why} there; .ci/run installs bubblewrap)")
    if skip:
        pytest.skip(reason)
    return False


def solution_path(lesson: str) -> Path:
    return SOLUTIONS / lesson / f"{lesson}.ipynb"


def student_path(lesson: str) -> Path:
    return NOTEBOOKS / lesson / f"{lesson}.ipynb"


def nbgrader_env() -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader runs `alembic` as a subprocess: the venv's bin folder must be on PATH.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("GAN_PROFILE", None)  # grading must pick the quick profile by itself
    env.pop("NBVAL", None)
    env.pop("CI", None)
    return env


def nbgrader(course: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course``; raise with its log if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"nbgrader {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def make_course(tmp: Path, lessons: list[str] | None = None) -> Path:
    """A course folder with this repository's config and solution sources (no notebooks/, no gradebook)."""
    course = tmp / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    for lesson in lessons or LESSONS:
        shutil.copytree(SOLUTIONS / lesson, course / "solutions" / lesson)
    return course


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def strip_markers(source: str) -> str:
    """A solution cell's source with the ``### BEGIN/END SOLUTION`` lines removed (the full answer)."""
    return "\n".join(line for line in source.splitlines() if not MARKERS.search(line))


def solution_sources(lesson: str) -> dict[str, str]:
    """grade_id -> the complete answer, for every solution cell (code and written) of a lesson."""
    out = {}
    for cell in read(solution_path(lesson)).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            out[meta["grade_id"]] = strip_markers(cell.source)
    return out


def fill(notebook: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of a student notebook with the cells named in ``answers`` replaced by those sources."""
    notebook = nbformat.from_dict(notebook)
    for cell in notebook.cells:
        gid = grade_id(cell)
        if gid in answers:
            cell.source = answers[gid]
    return notebook


def submit(course: Path, student: str, lesson: str, notebook: nbformat.NotebookNode) -> None:
    folder = course / "submitted" / student / lesson
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(folder / f"{lesson}.ipynb"))


def scores(course: Path, lesson: str, student: str) -> dict[str, tuple[float, float, bool]]:
    """grade_id -> (score, max_score, needs_manual_grade) for one autograded submission."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(lesson, lesson, student)
        return {g.name: (g.score, g.max_score, g.needs_manual_grade) for g in notebook.grades}


def autograded_output(course: Path, lesson: str, student: str) -> nbformat.NotebookNode:
    return read(course / "autograded" / student / lesson / f"{lesson}.ipynb")


def cell_text(notebook: nbformat.NotebookNode, gid: str) -> str:
    """All text output (streams, errors) of the cell with ``grade_id == gid``."""
    for cell in notebook.cells:
        if grade_id(cell) == gid:
            parts = []
            for output in cell.get("outputs", []):
                if output.output_type == "stream":
                    parts.append(output.text)
                elif output.output_type == "error":
                    parts.append(f"{output.ename}: {output.evalue}")
            return "\n".join(parts)
    raise KeyError(gid)


# ---------------------------------------------------------------------------------------------------------------
# The autograder catalogue (tests/catalogue/c<NN>_<name>.py, format in tests/catalogue/README.md)

CATALOGUE = ROOT / "tests" / "catalogue"
SCRIPTS = ROOT / "scripts"


def catalogue_path(lesson: str) -> Path:
    """``01_backquery`` -> ``tests/catalogue/c01_backquery.py``."""
    number, _, name = lesson.partition("_")
    return CATALOGUE / f"c{number}_{name}.py"


def load_catalogue(lesson: str):
    """The catalogue module of ``lesson`` (its ``LESSON`` and ``EXERCISES``); a clear failure when it is missing."""
    path = catalogue_path(lesson)
    if not path.exists():
        raise AssertionError(
            f"{lesson} has no autograder catalogue: write tests/catalogue/{path.name} "
            f"(format: tests/catalogue/README.md)"
        )
    spec = importlib.util.spec_from_file_location(f"catalogue_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exercises(lesson: str) -> list[str]:
    """grade_ids of the graded code exercises (solution code cells) of a lesson, in notebook order."""
    return [
        grade_id(c)
        for c in read(solution_path(lesson)).cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    ]


def points(lesson: str) -> dict[str, float]:
    """grade_id -> points, for every graded cell (autograded tests and written answers)."""
    return {
        grade_id(c): float(c.metadata["nbgrader"].get("points", 0))
        for c in read(solution_path(lesson)).cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


def catalogue_problems(lesson: str, catalogue, *, min_correct: int = 3, min_mistakes: int = 5) -> list[str]:
    """Everything wrong with a lesson's catalogue, as messages (empty: fine)."""
    where = f"tests/catalogue/{catalogue_path(lesson).name}"
    problems = []
    if getattr(catalogue, "LESSON", None) != lesson:
        problems.append(f"{where}: LESSON = {getattr(catalogue, 'LESSON', None)!r}, expected {lesson!r}")
    entries = getattr(catalogue, "EXERCISES", {})
    wanted, graded = exercises(lesson), points(lesson)
    for gid in sorted(set(wanted) - set(entries)):
        problems.append(f"{where}: exercise {gid!r} has no entry")
    for gid in sorted(set(entries) - set(wanted)):
        problems.append(f"{where}: {gid!r} is not a solution cell of {lesson}")
    for gid, entry in entries.items():
        test = entry.get("test")
        if graded.get(test, 0) <= 0:
            problems.append(f"{where}: {gid}: test cell {test!r} is not an autograded cell with points in {lesson}")
        correct, mistakes = entry.get("correct", {}), entry.get("mistakes", {})
        if len(correct) < min_correct:
            problems.append(f"{where}: {gid} has {len(correct)} correct variants, at least {min_correct} needed")
        if len(mistakes) < min_mistakes:
            problems.append(f"{where}: {gid} has {len(mistakes)} mistakes, at least {min_mistakes} needed")
        sources = [("correct", name, src) for name, src in correct.items()]
        sources += [
            ("mistake", name, value[1] if isinstance(value, tuple) and len(value) == 2 else "")
            for name, value in mistakes.items()
        ]
        for name, value in mistakes.items():
            if not (isinstance(value, tuple) and len(value) == 2 and value[0].strip()):
                problems.append(f"{where}: {gid}: mistake {name!r} must be (phrase, source) with a phrase")
        for kind, name, source in sources:
            try:
                tree = ast.parse(source)
            except SyntaxError as error:
                problems.append(f"{where}: {gid}: {kind} {name!r} is not valid Python ({error})")
                continue
            if gid not in {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}:
                problems.append(f"{where}: {gid}: {kind} {name!r} does not define {gid}()")
    return problems


def catalogue_submissions(catalogue) -> tuple[list[dict[str, str]], list[dict[str, tuple[str, str | None, str]]]]:
    """Submissions that cover a catalogue with few notebooks.

    Returns ``(correct, mistaken)``: ``correct[i]`` = {exercise: source of its i-th correct variant} and
    ``mistaken[j]`` = {exercise: (mistake name, phrase, source)} with the j-th mistake of every exercise
    (an exercise with fewer entries repeats its first ones), so ``max`` entries give the number of notebooks.

    An exercise whose answer calls another exercise's function (``"uses": [...]`` in its entry, e.g. lesson 4's
    networks call exercise 1's ``generator_input``) is judged in notebooks of its own, where the exercises it uses
    hold their first correct answer: entered as ``(name, None, source)``, filled in but not judged.
    """
    entries = catalogue.EXERCISES
    n_correct = max(len(e["correct"]) for e in entries.values())
    correct = [
        {gid: list(e["correct"].values())[i % len(e["correct"])] for gid, e in entries.items()}
        for i in range(n_correct)
    ]
    mistaken = []
    for group in (
        {g: e for g, e in entries.items() if not e.get("uses")},
        {g: e for g, e in entries.items() if e.get("uses")},
    ):
        for j in range(max((len(e["mistakes"]) for e in group.values()), default=0)):
            chosen = {}
            for gid, e in group.items():
                name, (phrase, source) = list(e["mistakes"].items())[j % len(e["mistakes"])]
                chosen[gid] = (name, phrase, source)
            for gid, e in group.items():
                for used in e.get("uses", ()):
                    first_name, first_source = next(iter(entries[used]["correct"].items()))
                    chosen.setdefault(used, (f"{first_name} (used by {gid}, not judged here)", None, first_source))
            mistaken.append(chosen)
    return correct, mistaken


def correct_names(catalogue, i: int) -> dict[str, str]:
    return {gid: list(e["correct"])[i % len(e["correct"])] for gid, e in catalogue.EXERCISES.items()}


def grade_class(course: Path, lesson: str, jobs: int = 2, extra: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """``scripts/grade_class.py``'s parallel autograde of every submission of ``lesson`` in ``course``."""
    from grader.grade_class import autograde

    return autograde(course, lesson, jobs, list(extra))


def output_text(notebook: nbformat.NotebookNode, gid: str) -> str:
    """Like :func:`cell_text`, with an empty string when the cell is missing."""
    try:
        return cell_text(notebook, gid)
    except KeyError:
        return ""


def up_to_last_test(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy without the code cells after the last autograded test cell (experiments, panels: nothing graded).

    The grades of the test cells do not change, and a variant notebook grades in a fraction of the time;
    the ``complete`` and ``untouched`` submissions still run whole notebooks.
    """
    notebook = nbformat.from_dict(notebook)
    last = max(
        i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    )
    notebook.cells = [c for i, c in enumerate(notebook.cells) if i <= last or c.cell_type == "markdown"]
    return notebook
