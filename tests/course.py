"""Test utilities: a throw-away nbgrader course built from this repository's sources."""

from __future__ import annotations

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
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=nbgrader_env(),
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
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
