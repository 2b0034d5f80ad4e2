"""Check the nbgrader metadata of every solution notebook (or the ones given), before an assignment is released.

    python scripts/check_notebooks.py                       # every solutions/<lesson>/<lesson>.ipynb
    python scripts/check_notebooks.py solutions/03_mnist_gan/03_mnist_gan.ipynb

Checks, each problem reported with the notebook and the cell id:
- grade ids are unique within a notebook, and follow the course's names: a solution code cell is named after the
  function it defines, its test cell is ``test_<function>``, written answers are ``q_*`` manual-graded markdown;
- every graded cell has points (> 0); test cells are locked, solution cells are not;
- ``### BEGIN/END SOLUTION`` and ``### BEGIN/END HIDDEN TESTS`` markers are balanced, not nested, and only in
  solution cells and test cells respectively;
- every graded function has a test cell with a hidden-test block that calls it;
- no function of an exercise can be imported from ``helpers/``, and no answer line appears in its source.
Exit status 1 when a problem is found.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
import re
import sys
from pathlib import Path

import nbformat

from grader.answer_cells import split_regions

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _where(path: Path, cell, gid: str | None = None) -> str:
    try:
        shown = path.resolve().relative_to(ROOT)
    except ValueError:
        shown = path
    return f"{shown} cell {cell.get('id', '?')}" + (f" ({gid})" if gid else "")


def marker_problems(source: str) -> list[str]:
    """Unbalanced or nested ``### BEGIN/END`` markers in one cell's source."""
    problems, open_block = [], None
    for number, line in enumerate(source.splitlines(), 1):
        found = MARKER.match(line)
        if not found:
            if "### BEGIN" in line or "### END" in line:
                problems.append(
                    f"line {number}: {line.strip()!r} is not a marker nbgrader recognises "
                    f"(write it alone on its line: '### BEGIN SOLUTION')"
                )
            continue
        kind, block = found.groups()
        if kind == "BEGIN":
            if open_block:
                problems.append(f"line {number}: BEGIN {block} inside an open {open_block} block")
            open_block = block
        else:
            if open_block != block:
                problems.append(f"line {number}: END {block} without a matching BEGIN {block}")
            open_block = None
    if open_block:
        problems.append(f"BEGIN {open_block} is never closed")
    return problems


def _functions(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    # a class is an exercise's answer too: a network the student builds (lesson 3; lesson 5's ResnetBlock and
    # NLayerDiscriminator)
    return [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]


def check_notebook(path: Path) -> tuple[list[str], dict[str, str]]:
    """Problems in one notebook, and its exercises' answers {function name: solution block}."""
    notebook = nbformat.read(str(path), as_version=4)
    problems, seen, answers, tests = [], {}, {}, {}
    for cell in notebook.cells:
        meta = _meta(cell)
        gid = meta.get("grade_id")
        where = _where(path, cell, gid)
        for problem in marker_problems(cell.source):
            problems.append(f"{where}: {problem}")
        has_solution = "### BEGIN SOLUTION" in cell.source
        has_hidden = "### BEGIN HIDDEN TESTS" in cell.source
        if not meta:
            if has_solution or has_hidden:
                problems.append(f"{where}: solution or hidden-test markers in a cell without nbgrader metadata")
            continue
        if not gid:
            problems.append(f"{where}: nbgrader cell without a grade_id")
            continue
        if gid in seen:
            problems.append(f"{where}: grade_id {gid!r} is used twice (also cell {seen[gid]})")
        seen[gid] = cell.get("id", "?")
        graded, solution, locked = bool(meta.get("grade")), bool(meta.get("solution")), bool(meta.get("locked"))
        if graded and not (float(meta.get("points") or 0) > 0):
            problems.append(f"{where}: a graded cell needs points > 0 (metadata nbgrader.points)")
        if has_hidden and not (graded and not solution):
            problems.append(f"{where}: hidden tests belong in an autograded test cell")
        if cell.cell_type == "code" and solution:
            if graded:
                problems.append(f"{where}: a solution code cell must not be graded itself: its test cell grades it")
            if locked:
                problems.append(f"{where}: a solution cell must not be locked")
            if not has_solution:
                problems.append(f"{where}: a solution code cell needs '### BEGIN SOLUTION' / '### END SOLUTION'")
            if gid not in _functions(cell.source):
                problems.append(
                    f"{where}: a solution cell's grade_id must be the function or class it defines "
                    f"({', '.join(_functions(cell.source)) or 'none'})"
                )
            if has_solution:
                answers[gid] = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        elif cell.cell_type == "code" and graded:
            if not gid.startswith("test_"):
                problems.append(f"{where}: an autograded test cell's grade_id starts with 'test_'")
            if not locked:
                problems.append(f"{where}: a test cell must be locked (nbgrader.locked = true)")
            if has_solution:
                problems.append(f"{where}: solution markers in a test cell")
            tests[gid] = cell
        elif cell.cell_type == "markdown" and graded:
            if not (solution and gid.startswith("q_")):
                problems.append(f"{where}: a written answer is a manual-graded solution cell named 'q_*'")
        elif has_solution:
            problems.append(f"{where}: solution markers in a cell that is not a solution cell")
    for function in answers:
        test = tests.get(f"test_{function}")
        if test is None:
            problems.append(f"{_where(path, notebook.cells[0])}: {function} has no test cell 'test_{function}'")
            continue
        hidden = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", test.source, re.S)
        if not any(function in block for block in hidden):
            problems.append(f"{_where(path, test, f'test_{function}')}: no hidden-test block that calls {function}")
    # a line the student reads anyway (in a hint, a table, a visible test) gives nothing away: keep only the others
    public = "\n".join("\n".join(split_regions(cell.source)[1]) for cell in notebook.cells)
    answers = {
        gid: "\n".join(line for line in answer.splitlines() if line.strip() not in public)
        for gid, answer in answers.items()
    }
    return problems, answers


def helpers_problems(answers: dict[str, str]) -> list[str]:
    """An exercise's function importable from helpers/, or an answer line copied into helpers/ sources."""
    sys.path.insert(0, str(ROOT))
    import helpers

    problems = []
    for info in pkgutil.walk_packages(helpers.__path__, prefix="helpers."):
        module = importlib.import_module(info.name)
        leaked = sorted(name for name in answers if hasattr(module, name))
        if leaked:
            problems.append(f"{info.name} defines exercise answers {leaked}: pass the student's function in")
    sources = {str(p.relative_to(ROOT / "helpers")): p.read_text() for p in (ROOT / "helpers").rglob("*.py")}
    for function, answer in answers.items():
        for line in answer.splitlines():
            line = line.strip()
            if len(line) > 25 and not line.startswith(("return", "with torch.no_grad", "#")):
                for name, text in sources.items():
                    if line in text:
                        problems.append(f"helpers/{name} contains the answer line {line!r} of {function}")
    return problems


def check(paths: list[Path]) -> list[str]:
    problems, answers = [], {}
    for path in paths:
        found, mine = check_notebook(path)
        problems += found
        answers.update(mine)
    return problems + helpers_problems(answers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every solutions/<lesson>/<lesson>.ipynb")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(
        p / f"{p.name}.ipynb" for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists()
    )
    problems = check(paths)
    for problem in problems:
        print(problem)
    print(f"{len(paths)} notebooks checked: " + (f"{len(problems)} problems" if problems else "no problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
