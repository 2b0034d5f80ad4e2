"""GradeOutsideKernel: every verdict decided in the grader, never in the student's kernel.

Before SaveAutoGrades, :class:`GradeOutsideKernel` runs each test cell, as the gradebook holds it, in the grader's own
process, with every exercise's name bound to a :class:`grader.remote.RemoteFunction`: the student's answer cells run
in a sandboxed worker (:mod:`grader.worker`), one fresh child per test cell, and only plain data comes back
(:mod:`grader.protocol`). The cell's outputs become what the test printed, plus an error when it failed, so
SaveAutoGrades scores the grader's verdict. The other exercises an answer calls are bound to their references when
the test cells define them (``_GRADING_REFERENCES``, run in the grader and called back from the worker:
:func:`grader.protocol.callback_proxy`), so one mistake costs its own points only
(:func:`grader.answer_cells.job_for`).

It needs :class:`grader.preprocessors.hide_tests.HideTests` before Execute: :func:`graded_outside_kernel` puts both in
nbgrader's list.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import io
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import nbformat
from nbformat.v4 import new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, SaveAutoGrades
from traitlets import Float

from grader.answer_cells import (
    REFERENCES,
    answers_of,
    assigned_names,
    exercises_of,
    free_names,
    globals_read,
    job_for,
    lesson_prelude,
    lesson_setup,
    names_used,
    solution_calls_of,
    student_cells,
    with_student_cells,
)
from grader.preprocessors.hide_tests import HIDDEN_TESTS, HideTests
from grader.sandbox import copy_submission, sandbox_disabled


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
        tests = resources.pop(HIDDEN_TESTS, None)
        if tests is None:
            raise RuntimeError(
                "GradeOutsideKernel needs HideTests before Execute: use graded_outside_kernel() in nbgrader_config.py"
            )
        if not tests:
            return nb, resources
        start = time.perf_counter()
        from grader.remote import RemoteFunction  # imports torch: only when there is something to grade

        source_nb = self.source_notebook(resources)
        exercises = exercises_of(source_nb)
        solution_calls = solution_calls_of(source_nb)  # only what a solution calls may be a reference (job_for)
        answers = answers_of(nb, exercises)
        prelude = lesson_prelude(source_nb)
        namespace = {"__name__": "__gan_test__", "__builtins__": builtins}
        exec(compile(prelude, "<lesson>", "exec"), namespace)  # noqa: S102 - the instructor's notebook
        self.log.info("Grader ready in %.2f s", time.perf_counter() - start)
        # what the student's kernel had defined: their own cells' definitions, replayed before each answer, and the
        # lesson's setup variables their code names (the fork server computes those once)
        cells = student_cells(nb, source_nb, exercises)
        setup = lesson_setup(source_nb, names_used(nb, cells))
        reads = [(i, {n for _, code in kept for n in globals_read(code)}) for i, kept in cells]  # each cell's, once
        worker = shared_worker(prelude + setup, sandboxed=not sandbox_disabled(), timeout=self.timeout)
        folder = resources.get("metadata", {}).get("path") or None
        try:
            for index in sorted(tests):
                cell, source = nb.cells[index], tests[index]
                cell.source = source
                # the exercises this test calls: those it names and does not define itself
                tested = sorted((free_names(source) - assigned_names(source)) & set(exercises))
                current: list = []
                work: list = []

                def exercise_for(tested=tested, current=current, work=work, index=index):
                    if not current:  # at the first call: the references may be defined by this very cell
                        found = namespace.get(REFERENCES)
                        # and those the student's own cells above this test call (a helper that calls an exercise)
                        called = {n for i, names in reads if i < index for n in names}
                        found = found if isinstance(found, dict) else {}
                        chosen, refs = job_for(tested, answers, exercises, found, called, solution_calls)
                        work.append(working_folder(worker, folder))
                        job = with_student_cells(chosen, nb, cells, index, str(work[0]))
                        current.append(worker.exercise(job, refs))
                    return current[0]

                for name in exercises:
                    namespace[name] = RemoteFunction(name, exercise_for)
                start = time.perf_counter()
                try:
                    cell.outputs = run_test(source, namespace, label=cell.metadata.nbgrader.grade_id)
                finally:
                    if current:
                        current[0].close()
                    for path in work:  # the worker child and what it started are gone
                        shutil.rmtree(path, ignore_errors=True)
                self.log.info(
                    "Graded %s outside the kernel in %.2f s",
                    cell.metadata.nbgrader.grade_id,
                    time.perf_counter() - start,
                )
        except BaseException:
            worker.close()  # a worker in an unknown state grades no other notebook
            raise
        return nb, resources

    def source_notebook(self, resources):
        """The instructor's version of this notebook (``solutions/<lesson>/<notebook>.ipynb``)."""
        info = resources["nbgrader"]
        course = CourseDirectory(config=self.config)
        path = Path(course.format_path(course.source_directory, ".", info["assignment"]), f"{info['notebook']}.ipynb")
        return nbformat.read(path, as_version=4)


_WORKERS: dict = {}  # (sandboxed, timeout) -> the grading worker this process's notebooks share


def shared_worker(prelude: str, *, sandboxed: bool, timeout: float):
    """The grading worker for one notebook, shared by the notebooks one nbgrader process grades (one after the
    other): PyTorch's import and warm-up are paid once per run, not per notebook. Every exercise still runs in a child
    with namespaces of its own (:class:`grader.worker.Namespaces`), so nothing passes from one notebook, or student,
    to the next; each notebook gets a new lesson server for its prelude. The worker ends with the process."""
    from grader.remote import Worker

    key = (sandboxed, timeout)
    worker = _WORKERS.get(key)
    if worker is None:
        worker = _WORKERS[key] = Worker(prelude, sandboxed=sandboxed, timeout=timeout)
        atexit.register(worker.close)
    else:
        worker.next_lesson(prelude)
    return worker


def working_folder(worker, folder: str | None) -> Path:
    """A new working folder for one exercise in the worker's scratch folder (which the sandbox shows at the same path):
    a copy of the submission folder (:func:`grader.sandbox.copy_submission`), so that a scratch file an answer writes
    works and reaches no other exercise (the grader removes the folder when the exercise ends)."""
    if not worker.alive():  # (re)started here rather than in Worker.exercise: the folder lives in its scratch
        worker.close()
        worker.start()
    from grader.protocol import WORK_PREFIX  # the worker's child looks for this prefix (imports torch: lazily)

    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=worker.scratch))
    copy_submission(folder, work)
    return work


def graded_outside_kernel(preprocessors: Iterable[type]) -> list[type]:
    """An autograde preprocessor list with :class:`HideTests` before Execute (or a subclass such as
    :class:`grader.preprocessors.sandboxed_execute.SandboxedExecute`) and :class:`GradeOutsideKernel` before
    SaveAutoGrades; for ``nbgrader_config.py``."""
    out = []
    for step in preprocessors:
        if isinstance(step, type) and issubclass(step, Execute):
            out.append(HideTests)
        if isinstance(step, type) and issubclass(step, SaveAutoGrades):
            out.append(GradeOutsideKernel)
        out.append(step)
    return out
