"""KeepLastCopy: a copy-pasted graded cell (a repeated grade id) is graded as the student's kernel ran it."""

from __future__ import annotations

from collections.abc import Iterable

from nbgrader import utils
from nbgrader.preprocessors import DeduplicateIds

NOTE = "# (graded as a cell of your own: a copy of the cell {grade_id}, whose last copy is the one graded)\n"


class KeepLastCopy(DeduplicateIds):
    """nbgrader's DeduplicateIds, which keeps the last cell with each grade id, with the earlier copies made the
    student's own cells.

    DeduplicateIds empties an earlier copy's nbgrader metadata but leaves the empty entry, which nbgrader's
    OverwriteCells then reads as a cell without a grade id: a ``KeyError`` that leaves the whole notebook ungraded
    (nbgrader issue #1083). Here the entry goes, and the copy gets a first line that says so. As in the kernel, where
    the last definition run wins, the last copy of an answer cell is the answer; an earlier copy's other definitions
    (a helper, a constant) still count, as any cell of the student's does. The log names each copy.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if not (utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell)):
            return cell, resources
        grade_id = cell.metadata.nbgrader.get("grade_id")
        if grade_id in self.grade_ids:
            student = resources.get("nbgrader", {}).get("student", "?")
            self.log.warning(
                "Student %s: cell %s appears more than once: the last copy is graded, the earlier copy (cell %d) is "
                "graded as a cell of the student's own",
                student,
                grade_id,
                self._count - 1 - cell_index,  # DeduplicateIds walks the cells backwards
            )
            del cell.metadata["nbgrader"]
            if cell.cell_type == "code":
                cell.source = NOTE.format(grade_id=grade_id) + cell.source
        else:
            self.grade_ids.add(grade_id)
        return cell, resources

    def preprocess(self, nb, resources):
        self._count = len(nb.cells)
        return super().preprocess(nb, resources)


def with_last_copies(preprocessors: Iterable[type]) -> list[type]:
    """A sanitize preprocessor list with nbgrader's DeduplicateIds replaced by :class:`KeepLastCopy`; for
    ``nbgrader_config.py``."""
    return [KeepLastCopy if step is DeduplicateIds else step for step in preprocessors]
