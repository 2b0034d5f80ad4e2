"""What the grader reads in a lesson's notebooks, without running them: the answer cells, the exercises they define,
the names a cell uses, and which cells and references one test cell's worker gets (:func:`job_for`).

Used by :class:`grader.preprocessors.grade_outside_kernel.GradeOutsideKernel` on the instructor's notebook (the
exercises, the lesson's prelude) and the student's (their answer cells). Nothing here runs student code.
"""

from __future__ import annotations

import ast
import re
import symtable
import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

from nbgrader import utils

REFERENCES = "_GRADING_REFERENCES"  # a dict a test cell may define: {exercise name: reference function}
REGION = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")  # nbgrader's markers, each on its own line


def split_regions(source: str) -> tuple[list[str], list[str]]:
    """A cell's lines inside ``### BEGIN/END SOLUTION`` and ``### BEGIN/END HIDDEN TESTS`` regions (what only the
    instructor sees) and outside them (what the student version shows), markers dropped. The one reading of the
    markers that scripts/build_student_bundle.py, scripts/check_notebooks.py and tests/test_project.py share."""
    inside, outside, depth = [], [], 0
    for line in source.splitlines():
        found = REGION.match(line)
        if found:
            depth = depth + 1 if found.group(1) == "BEGIN" else max(0, depth - 1)
        else:
            (inside if depth else outside).append(line)
    return inside, outside


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


def globals_read(source: str) -> set[str]:
    """The global names a cell reads: at its top level, and inside its functions and classes (not their locals nor
    their arguments); ``set()`` for a cell that is not valid Python."""
    try:
        top = symtable.symtable(source, "<cell>", "exec")
    except (SyntaxError, ValueError):
        return set()
    read, todo = set(), [top]
    while todo:
        table = todo.pop()
        for symbol in table.get_symbols():
            if symbol.is_referenced() and (table is top or symbol.is_global()):
                read.add(symbol.get_name())
        todo += table.get_children()
    return read


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


def solution_calls_of(source_nb) -> dict[str, set[str]]:
    """``{exercise: the other exercises its solution calls}`` in the instructor's notebook (:func:`job_for`)."""
    exercises = exercises_of(source_nb)
    calls: dict[str, set[str]] = {}
    for cell in source_nb.cells:
        if is_answer(cell):
            names = free_names(python_source(cell.source)) & set(exercises)
            for name in defined_functions(cell.source):
                calls[name] = names - {name}
    return calls


def exercises_of(source_nb) -> dict[str, str]:
    """``{function name: grade_id of its answer cell}`` in the instructor's notebook."""
    return {
        name: cell.metadata.nbgrader.grade_id
        for cell in source_nb.cells
        if is_answer(cell)
        for name in defined_functions(cell.source)
    }


def answers_of(nb, exercises: dict[str, str]) -> dict[str, str]:
    """The student's source for each exercise, as Python (:func:`python_source`: a ``%%time`` or ``%matplotlib`` in
    it is no error): the answer cell with that exercise's grade_id; where that cell does not define it or still holds
    nbgrader's stub, the first other answer cell that defines it, else the last definition of it in the student's own
    cells (written in a new cell below the stub, as the kernel then has it), else that answer cell as it is."""
    answer_cells = [
        (cell.metadata.nbgrader.get("grade_id"), python_source(cell.source)) for cell in nb.cells if is_answer(cell)
    ]
    by_id = dict(answer_cells)
    answers = {}
    for name, grade_id in exercises.items():
        if grade_id in by_id and _defines(by_id[grade_id], name):
            answers[name] = by_id[grade_id]
    for _, source in answer_cells:
        for name in defined_functions(source):
            if name in exercises and name not in answers and _defines(source, name):
                answers[name] = source
    own = {}
    for cell in nb.cells:
        if (
            cell.cell_type == "code"
            and not is_answer(cell)
            and not utils.is_grade(cell)
            and HIDDEN_MARKER not in cell.source
        ):
            for node, _, source in statements(python_source(cell.source)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in exercises:
                    own[node.name] = source
    for name, grade_id in exercises.items():
        if name not in answers and name in own:
            answers[name] = own[name]
        elif name not in answers and grade_id in by_id:
            answers[name] = by_id[grade_id]
    return answers


def _defines(source: str, name: str) -> bool:
    """Whether a cell defines ``name`` at its top level with more than nbgrader's stub (a body that raises
    ``NotImplementedError``)."""
    for node, _, _ in statements(source):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            raises = [ast.unparse(inner.exc) for inner in node.body if isinstance(inner, ast.Raise) and inner.exc]
            if not any("NotImplementedError" in raised for raised in raises):
                return True
    return False


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
    tested: Iterable[str],
    answers: dict[str, str],
    exercises: dict[str, str],
    references: dict[str, Any],
    also: Iterable[str] = (),
    solution_calls: Mapping[str, set[str]] | None = None,
) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The answer cells and references one test cell's worker gets: the student's cells for the exercises the test
    calls; for other exercises those cells call, and those the student's other replayed cells call (``also``: a
    helper of their own that calls an exercise), the references, or the student's own answers where there is none.

    Only an exercise that the instructor's solution of a tested one relies on (``solution_calls``: each exercise's
    solution -> the exercises it calls; ``None``: any) is a reference: any other exercise the student's code calls is
    the student's own, as in their kernel, so that no reference stands in for the tested exercise (an identity loss
    with its weight set to 1 computes the cycle loss). A reference that could reach the reference of a tested
    exercise (``_ref_generator`` calls ``_ref_cycle``; it would carry it to the worker in its globals) is never
    shipped: the student's own cell stands in for it. An exercise that is not tested brings its definitions
    (:data:`DEFINITIONS`), not its cell's other code: an ``os._exit()`` there costs its own exercise alone.
    """
    tested = list(tested)
    secret = [references[name] for name in tested if name in references]
    relied_on = None
    if solution_calls is not None:
        relied_on, todo_calls = set(), list(tested)
        while todo_calls:
            for called in solution_calls.get(todo_calls.pop(), set()):
                if called not in relied_on:
                    relied_on.add(called)
                    todo_calls.append(called)
    chosen, refs = [], {}
    todo = list(tested) + sorted(set(also) & set(exercises))
    seen = set()
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if (
            name in tested
            or name not in references
            or (relied_on is not None and name not in relied_on)
            or reaches(references[name], secret)
            # the student's own answer for it calls a tested exercise (two answers that call each other forever in
            # the kernel): a reference there would compute the tested one's value and break the recursion
            or _calls_tested(name, tested, answers, exercises)
        ):
            if name in answers:
                source = answers[name]
                if name not in tested:  # its definitions: the rest of its cell runs in its own exercise's job alone
                    source = "\n".join(code for node, _, code in statements(source) if isinstance(node, DEFINITIONS))
                chosen.append((name, source))
                todo += sorted((free_names(source) & set(exercises)) - seen)
        else:
            refs[name] = references[name]
    return chosen, refs


def _calls_tested(name: str, tested: list[str], answers: dict[str, str], exercises: dict[str, str]) -> bool:
    """Whether the student's answer for ``name``, or an answer it calls (through the student's cells), names one of
    the ``tested`` exercises."""
    todo, seen = [name], set()
    while todo:
        current = todo.pop()
        if current in seen or current not in answers:
            continue
        seen.add(current)
        called = free_names(answers[current]) & set(exercises)
        if called & set(tested):
            return True
        todo += sorted(called - seen)
    return False


# -- the student's own cells (what the kernel had defined when the test cell ran) -------------------------------------

CELL_SECONDS = 2.0  # the most one of the student's cells may take when replayed in the worker, per exercise
FIXED = frozenset({"device"})  # names the grader sets itself in the worker (the CPU): never taken from a cell
HIDDEN_MARKER = "BEGIN HIDDEN TESTS"
# what an answer cell of another exercise contributes (its code outside definitions, such as an os._exit() or an
# endless loop at its top, costs only its own exercise, as it always has)
DEFINITIONS = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
    ast.AugAssign,
)


# cell magics whose body runs in the kernel's namespace, so that what it defines stays defined (``%%timeit`` runs its
# body inside a function of its own: nothing it defines stays)
PYTHON_CELL_MAGICS = frozenset({"time", "capture", "prun"})


def python_source(source: str) -> str:
    """A code cell's source as Python: IPython's magics and shell escapes (``%matplotlib``, ``!pip``) become calls
    (:func:`runner_source` gives the worker a ``get_ipython()`` that takes them), and a cell that starts with one of
    :data:`PYTHON_CELL_MAGICS` (``%%time``) is its body, as the kernel ran it."""
    lines = source.split("\n")
    first = next((k for k, line in enumerate(lines) if line.strip()), None)
    magic = re.match(r"%%(\w+)", lines[first]) if first is not None else None
    if magic and magic.group(1) in PYTHON_CELL_MAGICS:
        source = "\n".join(lines[first + 1 :])
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - nbgrader brings IPython
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - a cell IPython cannot read either: parsed as it is
        return source


def statements(source: str) -> list[tuple[ast.stmt, int, str]]:
    """``(node, first line, source)`` of each top-level statement of a cell (decorators included), [] when the cell is
    not valid Python."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines()
    out = []
    for node in tree.body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        out.append((node, first, "\n".join(lines[first - 1 : node.end_lineno])))
    return out


def bound_names(node: ast.stmt) -> set[str]:
    """The global names a top-level statement binds: its ``def``/``class`` name, assignment targets and imports, and
    those of the blocks it holds (a loop, an ``if``, a ``with``, a ``try``), not the local names of a function body."""
    names, todo = set(), [node]
    while todo:
        current = todo.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(current.name)
            todo += current.decorator_list
            continue
        if isinstance(current, (ast.Lambda, ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)):
            continue  # a scope of its own
        if isinstance(current, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in current.names}
        elif isinstance(current, ast.Name) and isinstance(current.ctx, (ast.Store, ast.Del)):
            names.add(current.id)
        elif isinstance(current, (ast.Attribute, ast.Subscript)) and isinstance(current.ctx, (ast.Store, ast.Del)):
            base = current
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(base, ast.Name):  # `Generator.forward = ...`, `table[k] = ...` change that global
                names.add(base.id)
        elif isinstance(current, ast.Global):
            names |= set(current.names)
        todo += list(ast.iter_child_nodes(current))
    return names


def lesson_statements(source_nb) -> set[str]:
    """Every top-level statement of the instructor's notebook outside exercises and tests (``ast.dump``): the lesson's
    own code. The prelude holds its definitions and :func:`lesson_setup` its setup variables; the rest (training
    runs, figures) is never run again by the grader, even where the student's notebook holds it unchanged."""
    return {
        ast.dump(node)
        for cell in source_nb.cells
        if cell.cell_type == "code" and not utils.is_grade(cell) and not utils.is_solution(cell)
        for node, _, _ in statements(python_source(cell.source))
    }


def _test_ids(source_nb) -> set[str]:
    return {cell.metadata.nbgrader.grade_id for cell in source_nb.cells if is_test(cell)}


def student_cells(nb, source_nb, exercises: dict[str, str]) -> list[tuple[int, list[tuple[int, str]]]]:
    """The student's code outside the test cells, as the worker replays it: ``(cell index, [(line, source), ...])``
    per code cell, in notebook order, one entry per top-level statement.

    Kept from every code cell that is not a test cell (the student's own cells and the lesson's cells as the student
    has them; of the answer cells, only the imports, ``def``, ``class`` and assignments): every top-level statement,
    but those identical to one of the lesson's own (:func:`lesson_statements`: the lesson's training runs are not
    repeated; its definitions are in the prelude, its setup variables in :func:`lesson_setup`) and those that bind an
    exercise's name (the exercise is the student's answer cell or the reference, as :func:`job_for` decides) or a
    :data:`FIXED` name. A lesson assignment stays where the student's code reads what it binds and the setup does not
    (``loss_fn = nn.MSELoss()`` below the first exercise, read by a default argument), with those it depends on. No
    test cell is read (nor a cell that claims a test's id or holds hidden tests).
    """
    lesson, tests = lesson_statements(source_nb), _test_ids(source_nb)
    in_setup = {name for node, _ in _setup_assignments(source_nb) for name in bound_names(node)}
    found = []  # (cell index, line, source, node, a lesson statement)
    for index, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or is_test(cell) or grade_id in tests or HIDDEN_MARKER in cell.source:
            continue
        for node, line, source in statements(python_source(cell.source)):
            if (is_answer(cell) and not isinstance(node, DEFINITIONS)) or bound_names(node) & (set(exercises) | FIXED):
                continue
            found.append((index, line, source, node, ast.dump(node) in lesson))
    wanted = {name for cell in nb.cells if is_answer(cell) for name in globals_read(python_source(cell.source))}
    wanted |= {name for *_, source, _, of_lesson in found if not of_lesson for name in globals_read(source)}
    keep = {k for k, (*_, of_lesson) in enumerate(found) if not of_lesson}
    changed = True
    while changed:  # the lesson assignments the student's code reads, and those they read
        changed = False
        for k, (_, _, source, node, _) in enumerate(found):
            if k in keep or not isinstance(node, (ast.Assign, ast.AnnAssign)):
                continue
            if bound_names(node) & wanted and not bound_names(node) <= in_setup:
                keep.add(k)
                wanted |= globals_read(source)
                changed = True
    out: dict[int, list[tuple[int, str]]] = {}
    for k, (index, line, source, _, _) in enumerate(found):
        if k in keep:
            out.setdefault(index, []).append((line, source))
    return list(out.items())


def _setup_assignments(source_nb) -> list[tuple[ast.stmt, str]]:
    """The assignments of the instructor's cells above the first exercise (``settings``, ``data``), but :data:`FIXED`
    names: the lesson's setup, which the worker's prelude computes once (:func:`lesson_setup`)."""
    setup = []
    for cell in source_nb.cells:
        if is_answer(cell):
            break
        if cell.cell_type != "code" or utils.is_grade(cell):
            continue
        for node, _, source in statements(python_source(cell.source)):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and not bound_names(node) & FIXED:
                setup.append((node, source))
    return setup


def lesson_setup(source_nb, needed: set[str]) -> str:
    """The lesson's setup variables that the student's code names (``settings``, ``data``), for the worker's prelude:
    the assignments of the instructor's cells above the first exercise that bind ``needed`` names, with the
    assignments those depend on, in notebook order, each on its own (one that fails is left out). ``device`` stays the
    CPU (:data:`FIXED`)."""
    setup = _setup_assignments(source_nb)
    chosen: set[int] = set()
    wanted = set(needed)
    changed = True
    while changed:
        changed = False
        for k, (node, _) in enumerate(setup):
            if k not in chosen and bound_names(node) & wanted:
                chosen.add(k)
                wanted |= free_names(ast.unparse(node))
                changed = True
    parts = []
    for k in sorted(chosen):
        body = textwrap.indent(setup[k][1], "    ")
        parts.append(f"try:\n{body}\nexcept Exception:\n    pass")
    return "\n".join(parts) + ("\n" if parts else "")


def names_used(nb, cells: list[tuple[int, list[tuple[int, str]]]]) -> set[str]:
    """The names the student's answer cells and the statements of ``cells`` (:func:`student_cells`) use."""
    used = set()
    for cell in nb.cells:
        if is_answer(cell):
            used |= free_names(python_source(cell.source))
    for _, kept in cells:
        for _, source in kept:
            used |= free_names(source)
    return used


RUNNER = "<the grader: your cells>"  # the name of the job entry that defines the replay and enters the working folder


def runner_source(folder: str | None, seconds: float = CELL_SECONDS) -> str:
    """The first entry of an exercise's job: enter the exercise's private working folder (and import from it), and
    define the function that replays one of the student's cells (:func:`with_student_cells`).

    Each statement of a cell runs on its own: one that raises is skipped (what depends on it then fails as it would in
    the kernel), and the cell's statements together get ``seconds``, after which the rest of the cell is skipped
    (a student's training run or experiment costs each later exercise ``seconds`` at most).
    """
    # as in the kernel, where the notebook's folder is the first place imports look (a module saved beside it)
    enter = f"__import__('os').chdir({folder!r})\n__import__('sys').path.insert(0, {folder!r})\n" if folder else ""
    return enter + textwrap.dedent(
        f"""
        def __gan_replay__(cell, filename, seconds={seconds!r}):
            import signal, time

            def stop(signum, frame):
                raise TimeoutError(f"{{filename}} took longer than {{seconds:g}} s")

            previous = signal.signal(signal.SIGALRM, stop)
            deadline = time.monotonic() + seconds
            try:
                for line, source in cell:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    code = compile("\\n" * (line - 1) + source, filename, "exec")
                    signal.setitimer(signal.ITIMER_REAL, left, 0.05)
                    try:
                        exec(code, globals())
                    except BaseException:
                        pass
                    finally:
                        signal.setitimer(signal.ITIMER_REAL, 0)
            finally:
                signal.signal(signal.SIGALRM, previous)


        # what a cell's magics and shell escapes call (python_source): no magic and no shell command runs here, but
        # %%writefile writes its file into the working folder, as the kernel did
        class __GanShell__:
            def run_line_magic(self, name, line, *args, **kwargs):
                return None

            def run_cell_magic(self, name, line, cell):
                words = line.split()
                if name == "writefile" and words:
                    mode = "a" if {{"-a", "--append"}} & set(words) else "w"
                    with open(words[-1].strip(chr(34) + chr(39)), mode) as file:
                        file.write(cell)

            def system(self, command, *args, **kwargs):
                return None

            def getoutput(self, command, *args, **kwargs):
                return []


        def get_ipython():
            return __gan_shell__


        __gan_shell__ = __GanShell__()
        """
    )


def with_student_cells(
    chosen: list[tuple[str, str]],
    nb,
    cells: list[tuple[int, list[tuple[int, str]]]],
    test_index: int,
    folder: str | None = None,
) -> list[tuple[str, str]]:
    """One exercise's job entries in the order the student's kernel ran them: the answer cells :func:`job_for` chose,
    each at its place in the notebook, and the student's other cells above the test cell (``test_index``,
    :func:`student_cells`), replayed by :func:`runner_source`'s function, which comes first."""
    answer_cells = [(index, python_source(c.source)) for index, c in enumerate(nb.cells) if is_answer(c)]
    where = {source: index for index, source in reversed(answer_cells)}
    # an exercise that is not tested comes as its definitions alone (job_for): at the place of the cell that has them
    defines = {name: index for index, source in answer_cells for name in defined_functions(source)}
    entries = [(where.get(source, defines.get(name, test_index)), 1, name, source) for name, source in chosen]
    for index, kept in cells:
        if index < test_index and not any(where.get(source) == index for _, source in chosen):
            replay = f"__gan_replay__({kept!r}, {f'<your cell [{index}]>'!r})\n"
            entries.append((index, 0, f"<your cell {index + 1}>", replay))
    entries.sort(key=lambda entry: entry[:2])
    return [(RUNNER, runner_source(folder))] + [(name, source) for _, _, name, source in entries]
