"""SandboxedExecute: nbgrader's Execute with every grading kernel in the bubblewrap sandbox (:mod:`grader.sandbox`)."""

from __future__ import annotations

from collections.abc import Iterable

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbgrader.preprocessors import Execute

from grader.sandbox import SandboxedKernelManager


class SandboxedExecute(Execute):
    """nbgrader's Execute preprocessor, with every kernel started by :class:`SandboxedKernelManager`, and a kernel
    that dies (``os._exit``) or stops answering (a loop that ignores the interrupt) costing only the rest of the run.

    nbgrader drops the whole notebook, every score with it, when nbclient raises ``DeadKernelError`` or
    ``CellTimeoutError``. The scores do not need the kernel (:mod:`grader.preprocessors.grade_outside_kernel` decides
    them outside it), so here the cell gets an error that says what happened, the cells after it are not run (no
    outputs), and grading goes on.

    A subclass, because ``c.Execute.kernel_manager_class`` does not work: nbgrader's Execute passes
    ``kernel_manager_class=AsyncKernelManager`` to its constructor, and a constructor argument wins over the config.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self._stopped: str | None = None

    def preprocess(self, nb, resources=None, km=None):
        self._stopped = None
        return super().preprocess(nb, resources, km)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if self._stopped is not None:
            return cell
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except (DeadKernelError, CellTimeoutError) as error:
            dead = isinstance(error, DeadKernelError)
            self._stopped = "died" if dead else "stopped answering"
            what = (
                "The kernel died in this cell (os._exit(), exit() from a thread, a crash, too much memory or disk)"
                if dead
                else "The kernel stopped answering in this cell (a loop that ignores the interrupt?)"
            )
            cell.outputs.append(
                nbformat.v4.new_output(
                    "error",
                    ename=type(error).__name__,
                    evalue=f"{what}: the cells after it were not run.",
                    traceback=[f"{type(error).__name__}: {what}; the cells after it were not run."],
                )
            )
            self.log.warning(
                "%s: the kernel %s in cell %d; the rest of the notebook is not run",
                type(error).__name__,
                self._stopped,
                cell_index,
            )
            return cell

    execute_cell = run_sync(async_execute_cell)


def sandboxed(preprocessors: Iterable[type]) -> list[type]:
    """An autograde preprocessor list with nbgrader's Execute replaced by :class:`SandboxedExecute`; for
    ``nbgrader_config.py``: ``c.Autograde.autograde_preprocessors = sandboxed(c.Autograde.autograde_preprocessors)``."""
    return [SandboxedExecute if step is Execute else step for step in preprocessors]
