"""``nbgrader autograde`` with every verdict decided outside the student's kernel.

Two preprocessors around nbgrader's Execute (:func:`graded_outside_kernel` puts them in place):

- :class:`HideTests`, before Execute, empties every autograded test cell: the student's kernel runs the notebook
  (its outputs, plots and written answers are kept for feedback and manual grading) but never sees or runs a test,
  hidden or not, nor any reference.
- :class:`GradeOutsideKernel`, before SaveAutoGrades, runs each test cell, as the gradebook holds it, in the grader's
  own process, with every exercise's name bound to a :class:`grader.remote.RemoteFunction`: the student's answer
  cells run in a sandboxed worker (:mod:`grader.worker`), one fresh child per test cell, and only plain data comes
  back. The cell's outputs become what the test printed, plus an error when it failed, so SaveAutoGrades scores the
  grader's verdict. The other exercises an answer calls are bound to their references when the test cells define
  them (``_GRADING_REFERENCES``), so one mistake costs its own points only.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import textwrap
import time
from pathlib import Path
from typing import Any, Iterable

import nbformat
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, SaveAutoGrades
from traitlets import Float

from grader.sandbox import sandbox_disabled

REFERENCES = "_GRADING_REFERENCES"  # a dict a test cell may define: {exercise name: reference function}
KEY = "gan_grader_tests"


def is_test(cell) -> bool:
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def is_answer(cell) -> bool:
    return cell.cell_type == "code" and utils.is_solution(cell)


class HideTests(NbGraderPreprocessor):
    """Empty every autograded test cell before the notebook runs (their sources wait in ``resources``)."""

    def preprocess(self, nb, resources):
        resources[KEY] = {i: cell.source for i, cell in enumerate(nb.cells) if is_test(cell)}
        for i in resources[KEY]:
            nb.cells[i].source = ""
        return nb, resources


def defined_functions(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


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
    return {name: cell.metadata.nbgrader.grade_id for cell in source_nb.cells if is_answer(cell)
            for name in defined_functions(cell.source)}


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


def job_for(tested: Iterable[str], answers: dict[str, str], exercises: dict[str, str],
            references: dict[str, Any]) -> tuple[list[tuple[str, str]], dict[str, Any]]:
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


def run_test(source: str, namespace: dict, *, label: str) -> list:
    """Run one test cell's source in ``namespace``: its printed text, and an error output when it raised."""
    printed = io.StringIO()
    error = None
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(source, f"<test {label}>", "exec"), namespace)  # noqa: S102 - the gradebook's own test
    except Exception as raised:  # noqa: BLE001 - every failure is a verdict
        error = raised
    outputs = []
    if printed.getvalue():
        outputs.append(new_output("stream", name="stdout", text=printed.getvalue()))
    if error is not None:
        name = type(error).__name__
        outputs.append(new_output("error", ename=name, evalue=str(error), traceback=[f"{name}: {error}"]))
    return outputs


class GradeOutsideKernel(NbGraderPreprocessor):
    """Decide every autograded test cell in the grader (module docstring), then restore the cells' sources."""

    timeout = Float(60.0, help="Seconds one call of a student's function may take in the worker.").tag(config=True)

    def preprocess(self, nb, resources):
        tests = resources.pop(KEY, None)
        if tests is None:
            raise RuntimeError("GradeOutsideKernel needs HideTests before Execute: use graded_outside_kernel() in "
                               "nbgrader_config.py")
        if not tests:
            return nb, resources
        start = time.perf_counter()
        from grader.remote import RemoteFunction, Worker  # imports torch: only when there is something to grade

        source_nb = self.source_notebook(resources)
        exercises = exercises_of(source_nb)
        answers = answers_of(nb, exercises)
        prelude = lesson_prelude(source_nb)
        namespace = {"__name__": "__gan_test__", "__builtins__": builtins}
        exec(compile(prelude, "<lesson>", "exec"), namespace)  # noqa: S102 - the instructor's notebook
        self.log.info("Grader ready in %.2f s", time.perf_counter() - start)
        worker = Worker(prelude, sandboxed=not sandbox_disabled(), timeout=self.timeout)
        try:
            for index in sorted(tests):
                cell, source = nb.cells[index], tests[index]
                cell.source = source
                # the exercises this test calls: those it names and does not define itself
                tested = sorted((free_names(source) - assigned_names(source)) & set(exercises))
                current: list = []

                def exercise_for(tested=tested, current=current):
                    if not current:  # at the first call: the references may be defined by this very cell
                        found = namespace.get(REFERENCES)
                        chosen, refs = job_for(tested, answers, exercises, found if isinstance(found, dict) else {})
                        current.append(worker.exercise(chosen, refs))
                    return current[0]

                for name in exercises:
                    namespace[name] = RemoteFunction(name, exercise_for)
                start = time.perf_counter()
                try:
                    cell.outputs = run_test(source, namespace, label=cell.metadata.nbgrader.grade_id)
                finally:
                    if current:
                        current[0].close()
                self.log.info("Graded %s outside the kernel in %.2f s", cell.metadata.nbgrader.grade_id,
                              time.perf_counter() - start)
        finally:
            worker.close()
        return nb, resources

    def source_notebook(self, resources):
        """The instructor's version of this notebook (``solutions/<lesson>/<notebook>.ipynb``)."""
        info = resources["nbgrader"]
        course = CourseDirectory(config=self.config)
        path = Path(course.format_path(course.source_directory, ".", info["assignment"]), f"{info['notebook']}.ipynb")
        return nbformat.read(path, as_version=4)


def graded_outside_kernel(preprocessors: Iterable[type]) -> list[type]:
    """An autograde preprocessor list with :class:`HideTests` before Execute (or a subclass such as
    :class:`grader.sandbox.SandboxedExecute`) and :class:`GradeOutsideKernel` before SaveAutoGrades."""
    out = []
    for step in preprocessors:
        if isinstance(step, type) and issubclass(step, Execute):
            out.append(HideTests)
        if isinstance(step, type) and issubclass(step, SaveAutoGrades):
            out.append(GradeOutsideKernel)
        out.append(step)
    return out
