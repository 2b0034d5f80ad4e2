"""What the grader reads in a lesson's notebooks, without running them: the answer cells, the exercises they define,
the names a cell uses, and which cells and references one test cell's worker gets (:func:`job_for`).

Used by :class:`grader.preprocessors.grade_outside_kernel.GradeOutsideKernel` on the instructor's notebook (the
exercises, the lesson's prelude) and the student's (their answer cells). Nothing here runs student code.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable
from typing import Any

from nbgrader import utils

REFERENCES = "_GRADING_REFERENCES"  # a dict a test cell may define: {exercise name: reference function}


def is_test(cell) -> bool:
    """An autograded test cell: graded code that is not an answer."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def is_answer(cell) -> bool:
    """A code cell the student writes (nbgrader's solution cell)."""
    return cell.cell_type == "code" and utils.is_solution(cell)


def defined_functions(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    # a class is an exercise too: a network the student builds (lessons 3-5), called like a function
    return [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def free_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def assigned_names(source: str) -> set[str]:
    """Names a cell binds at its top level (``def``, ``class``, assignments, imports)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def lesson_prelude(source_nb) -> str:
    """The imports, functions and classes of the instructor's notebook outside exercises and tests, as one module:
    what a test cell and an answer may use (``torch``, ``nn``, the lesson's networks and helpers)."""
    parts = []
    for cell in source_nb.cells:
        if cell.cell_type != "code" or utils.is_grade(cell) or utils.is_solution(cell):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
                # each on its own: a definition whose defaults name a lesson variable is left out, not fatal
                body = textwrap.indent(ast.get_source_segment(cell.source, node, padded=True), "    ")
                parts.append(f"try:\n{body}\nexcept Exception:\n    pass")
    return "\n".join(parts) + "\nimport torch\ndevice = torch.device('cpu')\n"


def exercises_of(source_nb) -> dict[str, str]:
    """``{function name: grade_id of its answer cell}`` in the instructor's notebook."""
    return {
        name: cell.metadata.nbgrader.grade_id
        for cell in source_nb.cells
        if is_answer(cell)
        for name in defined_functions(cell.source)
    }


def answers_of(nb, exercises: dict[str, str]) -> dict[str, str]:
    """The student's source for each exercise: the answer cell with that exercise's grade_id, else any answer cell
    that defines the function."""
    by_id = {cell.metadata.nbgrader.get("grade_id"): cell.source for cell in nb.cells if is_answer(cell)}
    answers = {name: by_id[grade_id] for name, grade_id in exercises.items() if grade_id in by_id}
    for cell in nb.cells:
        if is_answer(cell):
            for name in defined_functions(cell.source):
                if name in exercises and name not in answers:
                    answers[name] = cell.source
    return answers


def reaches(value: Any, targets: list, seen: set | None = None, depth: int = 0) -> bool:
    """Whether ``value`` is one of ``targets`` or could reach one: through a function's globals, closure or defaults
    (what cloudpickle would ship along with it), or the items of a list, tuple or dict."""
    seen = set() if seen is None else seen
    if id(value) in seen or depth > 50:
        return False
    seen.add(id(value))
    if any(value is target for target in targets):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(reaches(v, targets, seen, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(reaches(v, targets, seen, depth + 1) for v in value.values())
    code = getattr(value, "__code__", None)
    if code is None:
        return False
    names, stack = set(), [code]
    while stack:
        current = stack.pop()
        names |= set(current.co_names)
        stack += [c for c in current.co_consts if hasattr(c, "co_names")]
    parts = [value.__globals__.get(n) for n in names if n in getattr(value, "__globals__", {})]
    parts += [cell.cell_contents for cell in (value.__closure__ or ()) if _has_contents(cell)]
    parts += list(value.__defaults__ or ()) + list((value.__kwdefaults__ or {}).values())
    return any(reaches(v, targets, seen, depth + 1) for v in parts)


def _has_contents(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def job_for(
    tested: Iterable[str], answers: dict[str, str], exercises: dict[str, str], references: dict[str, Any]
) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The answer cells and references one test cell's worker gets: the student's cells for the exercises the test
    calls; for other exercises those cells call, the references, or the student's own cells where there is none.

    A reference that could reach the reference of a tested exercise (``_ref_generator`` calls ``_ref_cycle``; it
    would carry it to the worker in its globals) is never shipped: the student's own cell stands in for it.
    """
    tested = list(tested)
    secret = [references[name] for name in tested if name in references]
    chosen, refs, todo = [], {}, list(tested)
    seen = set()
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name in tested or name not in references or reaches(references[name], secret):
            if name in answers:
                chosen.append((name, answers[name]))
                todo += sorted((free_names(answers[name]) & set(exercises)) - seen)
        else:
            refs[name] = references[name]
    return chosen, refs
