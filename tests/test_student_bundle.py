"""scripts/build_student_bundle.py: what students get holds the lessons and helpers, installs, and leaks no answer."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from course import LESSONS, ROOT, SCRIPTS, read, solution_path, student_path

FORBIDDEN = [
    "solutions",
    "tests",
    "catalogue",
    "grader",
    "bench",
    "scripts",
    "nbgrader_config.py",
    "gradebook.db",
    ".ci",
    "submitted",
    "autograded",
    "feedback",
]
REGION = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
HIDDEN_MARKERS = re.compile(r"BEGIN SOLUTION|BEGIN HIDDEN TESTS|END HIDDEN TESTS")


def _script():
    spec = importlib.util.spec_from_file_location("build_student_bundle", SCRIPTS / "build_student_bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _answer_lines(longer_than: int = 25) -> list[str]:
    """Lines of every solution and hidden-test region of solutions/, written independently of the script:
    stripped, longer than 25 characters, and not shown anywhere outside those regions in any lesson."""
    inside, outside = [], []
    for lesson in LESSONS:
        for cell in read(solution_path(lesson)).cells:
            whole = cell.metadata.get("nbgrader", {}).get("solution") and "### BEGIN" not in cell.source
            depth = 0
            for line in cell.source.splitlines():
                marker = REGION.match(line)
                if marker:
                    depth += 1 if marker.group(1) == "BEGIN" else -1
                    continue
                (inside if depth or whole else outside).append(line.strip())
    shown = "\n".join(outside)
    return sorted({line for line in inside if len(line) > longer_than and line not in shown})


def _text(path: Path) -> str | None:
    if path.suffix == ".ipynb":  # the notebook's own text (the JSON escapes quotes and backslashes)
        notebook = nbformat.read(str(path), as_version=4)
        parts = [cell.source for cell in notebook.cells]
        parts += [str(output) for cell in notebook.cells for output in cell.get("outputs", [])]
        return "\n".join(parts)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The default form, a zip, built and unpacked."""
    tmp = tmp_path_factory.mktemp("bundle")
    out = tmp / "dist" / "gan-course-student.zip"
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "build_student_bundle.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name], "a temporary file was left behind"
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert all(name.startswith("gan-course-student/") for name in names), names[:5]
        archive.extractall(tmp / "unpacked")
    return tmp / "unpacked" / "gan-course-student"


def test_the_bundle_holds_every_lesson_and_helpers_and_nothing_of_the_instructors(bundle):
    for lesson in LESSONS:
        shipped = bundle / "notebooks" / lesson / f"{lesson}.ipynb"
        assert shipped.read_bytes() == student_path(lesson).read_bytes(), f"{lesson}: not the student version"
    assert (bundle / "helpers" / "__init__.py").is_file() and (
        bundle / "helpers" / "assets" / "mnist_evaluator.pt"
    ).is_file()
    assert {p.name for p in bundle.iterdir()} == {
        "notebooks",
        "helpers",
        "pyproject.toml",
        "environment.yml",
        "README.md",
    }
    held = [
        str(p.relative_to(bundle))
        for p in bundle.rglob("*")
        if set(p.relative_to(bundle).parts) & set(FORBIDDEN) or p.suffix in (".db", ".pyc")
    ]
    assert not held, f"students must not get {held}"
    # the students' guide is docs/students.md, one text for the repository and the bundle
    assert (bundle / "README.md").read_bytes() == (ROOT / "docs" / "students.md").read_bytes()
    unnamed = [lesson for lesson in LESSONS if f"`{lesson}`" not in (bundle / "README.md").read_text()]
    assert not unnamed, f"docs/students.md (the bundle's README) does not list the lessons {unnamed}"


def test_no_file_in_the_bundle_holds_a_solution_or_hidden_test(bundle):
    answers = _answer_lines()
    assert len(answers) > 50, "the solutions' answer lines were not found: is the region parsing broken?"
    leaks = []
    for path in sorted(bundle.rglob("*")):
        text = _text(path) if path.is_file() else None
        if text is None:
            continue
        if HIDDEN_MARKERS.search(text):
            leaks.append(f"{path.relative_to(bundle)}: an nbgrader marker")
        leaks += [f"{path.relative_to(bundle)}: {line!r}" for line in answers if line in text]
    assert not leaks, "\n".join(leaks[:20])


def test_the_bundle_installs_helpers_and_not_grader(bundle, tmp_path):
    import tomllib

    meta = tomllib.loads((bundle / "pyproject.toml").read_text())
    assert meta["tool"]["setuptools"]["packages"]["find"]["include"] == ["helpers", "helpers.*"]
    assert "pytest" not in meta["tool"], "the repository's pytest settings point at tests/ and solutions/"
    env = (bundle / "environment.yml").read_text()
    assert "-e ." in env and "[dev]" not in env and "playwright" not in env
    source = tmp_path / "source"
    shutil.copytree(bundle, source)  # pip writes build/ and *.egg-info next to pyproject.toml
    target = tmp_path / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / "helpers" / "__init__.py").is_file() and (
        target / "helpers" / "assets" / "mnist_evaluator.pt"
    ).is_file()
    assert not (target / "grader").exists(), "the bundle installed the grading service"
    assert not any(p.name in ("solutions", "tests", "notebooks") for p in target.iterdir())


def test_a_folder_bundle_replaces_the_old_one_in_one_step(tmp_path):
    script = _script()
    out = tmp_path / "student"
    (out / "stale").mkdir(parents=True)
    assert script.build(out) == out.resolve()
    assert not (out / "stale").exists() and (out / "helpers").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student"], "temporary folders were left behind"


def _fake_course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    for name in ("solutions", "notebooks", "helpers", "docs"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "environment.yml"):
        shutil.copy(ROOT / name, root / name)
    return root


def test_a_released_solution_stops_the_build_and_writes_nothing(tmp_path):
    script = _script()
    root = _fake_course(tmp_path)
    lesson = LESSONS[0]
    # the instructor's notebook copied over the student version (markers and all)
    shutil.copy(solution_path(lesson), root / "notebooks" / lesson / f"{lesson}.ipynb")
    with pytest.raises(script.BundleError, match=rf"(?s){lesson}.*marker.*generate_assignment {lesson}"):
        script.build(tmp_path / "out.zip", root)
    assert not (tmp_path / "out.zip").exists()
    # the same answers without the markers: caught by the cell-by-cell comparison
    notebook = read(solution_path(lesson))
    for cell in notebook.cells:
        cell.source = "\n".join(line for line in cell.source.splitlines() if not REGION.match(line))
    nbformat.write(notebook, str(root / "notebooks" / lesson / f"{lesson}.ipynb"))
    with pytest.raises(
        script.BundleError, match=r"(?s)line\(s\) of the instructor's solutions.*is the instructor's own"
    ):
        script.build(tmp_path / "out.zip", root)
    # one answer line pasted into helpers/
    shutil.copy(student_path(lesson), root / "notebooks" / lesson / f"{lesson}.ipynb")
    answer = _answer_lines()[0]
    with open(root / "helpers" / "models" / "gan1d.py", "a") as file:
        file.write(f"\n# {answer}\n")
    with pytest.raises(script.BundleError, match=r"helpers/models/gan1d\.py holds 1 line"):
        script.build(tmp_path / "out.zip", root)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course"], "a failed build left files behind"


def test_the_bundle_readme_follows_docs_students_md_and_its_absence_stops_the_build(tmp_path):
    script = _script()
    root = _fake_course(tmp_path)
    guide = root / "docs" / "students.md"
    guide.write_text(guide.read_text() + "\nA line only this course's guide has.\n")
    out = script.build(tmp_path / "student", root)
    assert (out / "README.md").read_bytes() == guide.read_bytes()
    guide.unlink()
    with pytest.raises(script.BundleError, match=r"docs/students\.md is missing"):
        script.build(tmp_path / "again.zip", root)
    assert not (tmp_path / "again.zip").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course", "student"], "a failed build left files behind"
