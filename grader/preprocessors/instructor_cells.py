"""InstructorCells: a submission is graded against the instructor's cells, its tests in the instructor's order."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor, OverwriteCells


def _marked_id(cell) -> str | None:
    """The grade id of a cell nbgrader treats as one of its own (grade, answer, locked or task), else None."""
    meta = cell.metadata.get("nbgrader")
    if not isinstance(meta, dict) or not (
        utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell) or utils.is_task(cell)
    ):
        return None
    name = meta.get("grade_id")
    return name if isinstance(name, str) else None


class InstructorCells(NbGraderPreprocessor):
    """In nbgrader's sanitize step, after DeduplicateIds and before OverwriteCells:

    - every cell that carries one of the lesson's grade ids gets the instructor's nbgrader metadata for that id (test,
      answer, written answer, locked, points): a student's copy of the metadata never decides what a cell is;
    - a test cell (or a written answer) the student deleted is put back after the instructor's cell before it, or the
      nearest one still there (nbgrader's ``add_missing_cells`` stops the notebook with a ``KeyError`` when that cell
      was deleted too);
    - the locked cells (the tests and the instructor's read-only cells) stand in the instructor's order, in the places
      locked cells hold in the submission. The grader runs the tests in the order they stand
      (:class:`grader.preprocessors.grade_outside_kernel.GradeOutsideKernel`), so a student who moves one test above
      another, or deletes one for nbgrader to put back wherever it fits, does not choose which test runs first.

    The student's own cells and answer cells stay where the student put them (they run as in the student's kernel).
    Duplicated grade ids are DeduplicateIds' (the last copy keeps the id).
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
            sources = {cell.name: cell for cell in notebook.source_cells}
            grades = {cell.name: cell.max_score for cell in notebook.grade_cells}
            tasks = {cell.name: cell.max_score for cell in notebook.task_cells}
            solutions = {cell.name for cell in notebook.solution_cells}
            order = self.instructor_order(info, sources)
            rank = {name: k for k, name in enumerate(order)}
            missing_cell = OverwriteCells(parent=self).missing_cell_transform

            cells = list(nb.cells)
            where: dict[str, int] = {}
            for index, cell in enumerate(cells):
                name = _marked_id(cell)
                if name in sources and name not in where:
                    where[name] = index
                    self.restore_metadata(cell, name, sources[name], grades, tasks, solutions)
                elif cell.metadata.get("nbgrader", {}).get("grade_id") in sources:
                    # a second cell with one of the lesson's ids that nbgrader does not count as its cell (all its
                    # flags cleared): the student's own cell, or OverwriteCells would lock it as a duplicate
                    self.log.warning("Cell %d claims a graded id without its flags: a cell of the student's", index)
                    del cell.metadata["nbgrader"]

            # deleted graded cells: after the nearest instructor cell before them still there (else before the nearest
            # one after them; else at the end)
            after: dict[int, list] = {}
            for k, name in enumerate(order):
                if name not in grades or name in where:
                    continue
                self.log.warning("Graded cell %s is missing: put back from the gradebook", name)
                cell = nbformat.from_dict(missing_cell(sources[name], grades[name], is_solution=name in solutions))
                if nb.nbformat_minor >= 5:
                    cell.id = uuid.uuid4().hex[:8]
                before = [where[n] for n in order[:k] if n in where]
                later = [where[n] for n in order[k + 1 :] if n in where]
                anchor = max(before) if before else (min(later) - 0.5 if later else len(cells))
                after.setdefault(anchor, []).append(cell)
            placed = []
            for index, cell in enumerate(cells):
                placed += after.pop(index - 0.5, [])
                placed.append(cell)
                placed += after.pop(index, [])
            for anchor in sorted(after):
                placed += after[anchor]

            # the locked cells in the instructor's order, in the places locked cells hold
            slots = [
                i for i, cell in enumerate(placed) if _marked_id(cell) in sources and sources[_marked_id(cell)].locked
            ]
            ordered = sorted((placed[i] for i in slots), key=lambda cell: rank.get(_marked_id(cell), len(rank)))
            if [placed[i] for i in slots] != ordered:
                self.log.warning("The submission's locked cells are not in the instructor's order: put back in order")
            for i, cell in zip(slots, ordered):
                placed[i] = cell
            nb.cells = placed
        return nb, resources

    def restore_metadata(self, cell, name, source, grades, tasks, solutions) -> None:
        """The instructor's nbgrader metadata for the cell ``name`` (what nbgrader's generate_assignment wrote)."""
        meta = cell.metadata.nbgrader
        wanted = {
            "grade": name in grades,
            "grade_id": name,
            "locked": bool(source.locked),
            "schema_version": 3,
            "solution": name in solutions,
            "task": name in tasks,
        }
        if name in grades or name in tasks:
            wanted["points"] = grades.get(name, tasks.get(name))
        changed = sorted(key for key, value in wanted.items() if meta.get(key, False) != value)
        extra = sorted(set(meta) - set(wanted) - {"checksum", "cell_type", "task"})
        if changed or extra:
            self.log.warning("Cell %s: nbgrader metadata %s changed: the instructor's restored", name, changed + extra)
        checksum = meta.get("checksum")
        cell.metadata.nbgrader = wanted if checksum is None else {**wanted, "checksum": checksum}

    def instructor_order(self, info, sources) -> list[str]:
        """The grade ids in the order of the instructor's notebook (``solutions/<lesson>/<notebook>.ipynb``), the
        gradebook's cells it lacks after them."""
        course = CourseDirectory(config=self.config)
        path = Path(course.format_path(course.source_directory, ".", info["assignment"]), f"{info['notebook']}.ipynb")
        order = []
        if path.is_file():
            for cell in nbformat.read(path, as_version=4).cells:
                name = cell.metadata.get("nbgrader", {}).get("grade_id")
                if name in sources and name not in order:
                    order.append(name)
        return order + [name for name in sources if name not in order]


def with_instructor_cells(preprocessors: Iterable[type]) -> list[type]:
    """A sanitize preprocessor list with :class:`InstructorCells` before OverwriteCells; for ``nbgrader_config.py``:
    ``c.Autograde.sanitize_preprocessors = with_instructor_cells(<nbgrader's default list>)``."""
    out = []
    for step in preprocessors:
        if isinstance(step, type) and issubclass(step, OverwriteCells):
            out.append(InstructorCells)
        out.append(step)
    return out
