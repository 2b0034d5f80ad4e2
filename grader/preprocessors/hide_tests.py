"""HideTests: the student's kernel never sees or runs a test cell, hidden or not."""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor

from grader.answer_cells import is_test

HIDDEN_TESTS = "gan_grader_tests"  # the key in nbgrader's resources: {cell index: the test cell's source}


class HideTests(NbGraderPreprocessor):
    """Empty every autograded test cell before the notebook runs; their sources wait in ``resources[HIDDEN_TESTS]``
    for :class:`grader.preprocessors.grade_outside_kernel.GradeOutsideKernel`, which runs them in the grader.

    The student's kernel still runs everything else: its outputs, plots and written answers are kept for feedback
    and manual grading.
    """

    def preprocess(self, nb, resources):
        resources[HIDDEN_TESTS] = {i: cell.source for i, cell in enumerate(nb.cells) if is_test(cell)}
        for i in resources[HIDDEN_TESTS]:
            nb.cells[i].source = ""
        return nb, resources
