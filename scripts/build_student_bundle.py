"""Build what students get: the student notebooks, the ``helpers`` package and how to install them, nothing else.

    python scripts/build_student_bundle.py                            # dist/gan-course-student.zip
    python scripts/build_student_bundle.py --out dist/student         # a folder instead (no .zip suffix)

The bundle holds ``notebooks/`` (the student versions that ``nbgrader generate_assignment`` wrote), ``helpers/``,
a ``pyproject.toml`` that installs only ``helpers`` (so ``pip install .`` works in the bundle), an
``environment.yml`` without the developers' tools, and ``docs/students.md`` as its ``README.md``. It never holds
``solutions/``, ``tests/`` (``tests/catalogue/`` has correct answers), ``grader/``, ``bench/``, ``scripts/``,
``nbgrader_config.py``, a gradebook or any class folder (``submitted/``, ``autograded/``, ``feedback/``).

Before anything is written, every student notebook is checked against its instructor source
(``solutions/<lesson>/<lesson>.ipynb``): no ``### BEGIN/END SOLUTION`` or ``HIDDEN TESTS`` marker, every solution
cell differs from the instructor's and holds nbgrader's stub (``raise NotImplementedError()`` /
``YOUR ANSWER HERE``), and no line of a solution or hidden-test region (one that is not also in the instructor
notebook outside those regions) appears anywhere in the notebook, outputs included. Then the built bundle is scanned
again: no forbidden path, no marker and no answer line longer than 25 characters in any file. A failed check stops
the build with the problems listed (exit status 1) and writes nothing; the output appears in one step
(a temporary file or folder, then ``os.replace``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
import tomllib

from grader.answer_cells import split_regions
from helpers.data.download import install_folder

ROOT = Path(__file__).resolve().parents[1]
NAME = "gan-course-student"
DEFAULT_OUT = Path("dist") / f"{NAME}.zip"

# Never in a bundle, at any depth: instructor sources, tests and their answer catalogue, the grading service,
# benchmarks, scripts, nbgrader's configuration, gradebooks and class folders.
FORBIDDEN = {
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
    "release",
    "source",
    "exports",
    ".git",
    "dist",
    "build",
}
FORBIDDEN_SUFFIXES = (".db", ".sqlite", ".pyc")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", ".DS_Store", "*.egg-info")

MARKERS = re.compile(r"BEGIN SOLUTION|END SOLUTION|BEGIN HIDDEN TESTS|END HIDDEN TESTS")
CODE_STUBS = ("raise NotImplementedError()", "YOUR CODE HERE")
TEXT_STUB = "YOUR ANSWER HERE"
STUB_LINES = {"# YOUR CODE HERE", "raise NotImplementedError()", "YOUR ANSWER HERE"}
LONG = 25  # answer lines longer than this are looked for in every file of the bundle

# The students' guide, written for students and shipped as the bundle's README.md (the one copy of that text).
STUDENT_README = Path("docs") / "students.md"


class BundleError(Exception):
    """A check failed: the message lists every problem."""


# -- what the instructor notebooks keep secret ----------------------------------------------------------------------


def lessons(root: Path = ROOT) -> list[str]:
    return sorted(p.name for p in (root / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def secret_and_public(notebook) -> tuple[list[str], list[str]]:
    """Lines (stripped) that only the instructor may see, and every other line of an instructor notebook.

    Secret: the solution and hidden-test regions, and the whole of a solution cell without markers (nbgrader
    replaces all of it with the stub). A line that also appears outside those regions is public.
    """
    secret, public = [], []
    for cell in notebook.cells:
        meta = _meta(cell)
        inside, outside = split_regions(cell.source)
        if meta.get("solution") and not MARKERS.search(cell.source):
            inside, outside = outside, []
        secret += [line.strip() for line in inside]
        public += [line.strip() for line in outside]
    public_text = "\n".join(public)
    secret = [line for line in dict.fromkeys(secret) if line and line not in STUB_LINES and line not in public_text]
    return secret, public


def notebook_lines(notebook) -> list[str]:
    """Every line a reader of the notebook sees: cell sources and text outputs."""
    lines = []
    for cell in notebook.cells:
        lines += cell.source.splitlines()
        for output in cell.get("outputs", []):
            texts = [output.get("text", "")] + [output.get("evalue", "")] + list(output.get("traceback", []))
            for value in output.get("data", {}).values():
                texts.append(value if isinstance(value, str) else "".join(value) if isinstance(value, list) else "")
            for text in texts:
                lines += (text if isinstance(text, str) else "".join(text)).splitlines()
    return lines


def check_student_notebook(lesson: str, root: Path = ROOT) -> list[str]:
    """Problems of ``notebooks/<lesson>/<lesson>.ipynb`` against its instructor source (empty: fine)."""
    instructor_path = root / "solutions" / lesson / f"{lesson}.ipynb"
    student_path = root / "notebooks" / lesson / f"{lesson}.ipynb"
    regenerate = f"run `nbgrader generate_assignment {lesson} --force` from the course root"
    if not student_path.is_file():
        return [f"notebooks/{lesson}/{lesson}.ipynb is missing: {regenerate}"]
    try:
        student = nbformat.read(str(student_path), as_version=4)
    except Exception as error:  # noqa: BLE001 - any unreadable notebook is a problem to report
        return [f"notebooks/{lesson}/{lesson}.ipynb is not a readable notebook ({error}): {regenerate}"]
    instructor = nbformat.read(str(instructor_path), as_version=4)
    where = f"notebooks/{lesson}/{lesson}.ipynb"
    problems = []
    lines = notebook_lines(student)
    for _number, line in enumerate(lines):
        if MARKERS.search(line):
            problems.append(
                f"{where}: holds the nbgrader marker {line.strip()!r} (a solution or hidden test "
                f"was released): {regenerate}"
            )
            break
    secret, _ = secret_and_public(instructor)
    seen = {line.strip() for line in lines}
    leaked = [line for line in secret if line in seen]
    if leaked:
        problems.append(
            f"{where}: holds {len(leaked)} line(s) of the instructor's solutions or hidden tests, "
            f"e.g. {leaked[0]!r}: {regenerate}"
        )
    cells = {_meta(c).get("grade_id"): c for c in student.cells if _meta(c).get("grade_id")}
    for cell in instructor.cells:
        meta = _meta(cell)
        gid = meta.get("grade_id")
        if not (meta.get("solution") or meta.get("grade")) or not gid:
            continue
        mine = cells.get(gid)
        if mine is None:
            problems.append(f"{where}: has no cell {gid!r} of the instructor's notebook (stale?): {regenerate}")
            continue
        if not meta.get("solution"):
            continue
        if mine.source.strip() == cell.source.strip():
            problems.append(f"{where}: solution cell {gid!r} is the instructor's own source: {regenerate}")
        elif cell.cell_type == "code" and not any(stub in mine.source for stub in CODE_STUBS):
            problems.append(
                f"{where}: solution cell {gid!r} lacks nbgrader's stub (`# YOUR CODE HERE` / "
                f"`raise NotImplementedError()`): {regenerate}"
            )
        elif cell.cell_type == "markdown" and TEXT_STUB not in mine.source:
            problems.append(f"{where}: written answer {gid!r} lacks nbgrader's stub ({TEXT_STUB!r}): {regenerate}")
    return problems


def check_notebooks(root: Path = ROOT) -> list[str]:
    problems = []
    for lesson in lessons(root):
        problems += check_student_notebook(lesson, root)
    return problems


def answer_lines(root: Path = ROOT, longer_than: int = LONG) -> list[str]:
    """Secret lines of every lesson that are long enough to look for in any file (a line that one lesson keeps
    secret and another shows is public)."""
    secret, public = [], []
    for lesson in lessons(root):
        mine, theirs = secret_and_public(nbformat.read(str(root / "solutions" / lesson / f"{lesson}.ipynb"), 4))
        secret += mine
        public += theirs
    public_text = "\n".join(public)
    return [line for line in dict.fromkeys(secret) if len(line) > longer_than and line not in public_text]


# -- the bundle's install files ------------------------------------------------------------------------------------


def _drop_section(text: str, header: str) -> str:
    """``text`` without the TOML table ``[header]`` (up to the next table)."""
    pattern = re.compile(rf"^\[{re.escape(header)}\]\s*$.*?(?=^\[|\Z)", re.M | re.S)
    return pattern.sub("", text)


def student_pyproject(text: str) -> str:
    """The repository's pyproject.toml for students: installs only ``helpers``, without the developers' extras and
    pytest settings (they point at tests/ and solutions/)."""
    text = re.sub(r"^include\s*=\s*\[[^\]]*\]", 'include = ["helpers", "helpers.*"]', text, count=1, flags=re.M)
    for header in ("project.optional-dependencies", "tool.pytest.ini_options"):
        text = _drop_section(text, header)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    parsed = tomllib.loads(text)
    packages = parsed.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {}).get("include")
    if packages != ["helpers", "helpers.*"]:
        raise BundleError(
            f"pyproject.toml for students includes packages {packages}, expected ['helpers', 'helpers.*']: "
            f"its [tool.setuptools.packages.find] include line has an unexpected form"
        )
    extra = set(parsed.get("tool", {}).get("setuptools", {}).get("package-data", {})) - {"helpers"}
    if extra:
        raise BundleError(f"pyproject.toml for students has package-data for {sorted(extra)}, which it does not ship")
    return text


def student_environment(text: str, pyproject_text: str) -> str:
    """environment.yml without the developers' tools, installing the bundle itself (``-e .``)."""
    dev = tomllib.loads(pyproject_text).get("project", {}).get("optional-dependencies", {}).get("dev", [])
    dev_names = {re.split(r"[<>=!~\[ ]", d, maxsplit=1)[0].lower() for d in dev}
    out = [
        "# Conda: `conda env create -f environment.yml && conda activate gan-course`, then `jupyter lab notebooks/`."
    ]
    for line in text.splitlines():
        item = line.strip()
        if item.startswith("#"):
            continue
        if item.startswith("- ") and re.split(r"[<>=!~\[ ]", item[2:].strip(), maxsplit=1)[0].lower() in dev_names:
            continue
        if item.startswith("- -e .") or item.startswith("- ."):
            line = line[: line.index("-")] + "- -e ."
        out.append(line)
    return "\n".join(out) + "\n"


def student_readme(root: Path = ROOT) -> bytes:
    """The bundle's README.md: ``docs/students.md``, byte for byte."""
    path = root / STUDENT_README
    if not path.is_file():
        raise BundleError(
            f"{STUDENT_README.as_posix()} is missing from {root}: the bundle's README.md is that file; "
            f"restore it before building"
        )
    return path.read_bytes()


# -- build, scan, write ----------------------------------------------------------------------------------------------


def build_tree(dest: Path, root: Path = ROOT) -> Path:
    """Write the bundle's files into the new folder ``dest``."""
    dest.mkdir(parents=True)
    shutil.copytree(root / "notebooks", dest / "notebooks", ignore=SKIP)
    shutil.copytree(root / "helpers", dest / "helpers", ignore=SKIP)
    pyproject = (root / "pyproject.toml").read_text()
    (dest / "pyproject.toml").write_text(student_pyproject(pyproject))
    if (root / "environment.yml").exists():
        (dest / "environment.yml").write_text(student_environment((root / "environment.yml").read_text(), pyproject))
    (dest / "README.md").write_bytes(student_readme(root))
    return dest


def scan_bundle(folder: Path, root: Path = ROOT) -> list[str]:
    """Problems of a built bundle: forbidden paths, markers or answer lines in any file (empty: fine)."""
    problems = []
    answers = answer_lines(root)
    for lesson in lessons(root):
        if not (folder / "notebooks" / lesson / f"{lesson}.ipynb").is_file():
            problems.append(f"the bundle lacks notebooks/{lesson}/{lesson}.ipynb")
    if not (folder / "helpers" / "__init__.py").is_file():
        problems.append("the bundle lacks the helpers package")
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if set(relative.parts) & FORBIDDEN or path.name.endswith(FORBIDDEN_SUFFIXES):
            problems.append(f"the bundle holds {relative}, which students must not get")
            continue
        if not path.is_file():
            continue
        if path.suffix == ".ipynb":
            try:
                text = "\n".join(notebook_lines(nbformat.read(str(path), as_version=4)))
            except Exception as error:  # noqa: BLE001
                problems.append(f"{relative} is not a readable notebook ({error})")
                continue
        else:
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:  # binary (weights): no source lines in it
                continue
        if MARKERS.search(text):
            problems.append(f"{relative} holds an nbgrader solution or hidden-test marker")
        found = [line for line in answers if line in text]
        if found:
            problems.append(
                f"{relative} holds {len(found)} line(s) of the instructor's solutions or hidden tests, "
                f"e.g. {found[0]!r}"
            )
    return problems


def _zip_folder(folder: Path, target: Path) -> None:
    """``folder`` as ``target`` (entries under ``gan-course-student/``, sorted, fixed dates), atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo(f"{NAME}/{path.relative_to(folder).as_posix()}", (2024, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    archive.writestr(info, path.read_bytes())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def build(out: Path = DEFAULT_OUT, root: Path = ROOT) -> Path:
    """Check, build and write the bundle to ``out`` (a ``.zip`` file, or else a folder); returns ``out``.

    Raises:
        BundleError: a check failed (the message lists every problem); nothing was written.
    """
    out = Path(out).resolve()
    for forbidden in (root / "solutions", root / "tests", root / "notebooks", root / "helpers"):
        if out == forbidden or forbidden in out.parents:
            raise BundleError(f"--out {out} is inside {forbidden}: write the bundle elsewhere (e.g. dist/)")
    problems = check_notebooks(root)
    if problems:
        raise BundleError("the student notebooks are not safe to release:\n- " + "\n- ".join(problems))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tree = build_tree(staging / NAME, root)
        problems = scan_bundle(tree, root)
        if problems:
            raise BundleError("the bundle would leak or lack something:\n- " + "\n- ".join(problems))
        if out.suffix == ".zip":
            _zip_folder(tree, out)
        else:
            install_folder(tree, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=ROOT / DEFAULT_OUT, help=f"a .zip file, or a folder (default: {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    try:
        out = build(args.out)
    except BundleError as error:
        print(f"build_student_bundle: {error}", file=sys.stderr)
        return 1
    print(f"student bundle written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
