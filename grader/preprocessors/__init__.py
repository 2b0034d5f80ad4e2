"""The nbgrader preprocessors of the course's ``nbgrader autograde``, one per module, named after its class.

In the order they run (``nbgrader_config.py`` puts them in nbgrader's list):

- :mod:`.keep_last_copy` -- :class:`KeepLastCopy` (sanitizing, in place of nbgrader's DeduplicateIds): of a
  copy-pasted graded cell the last copy is graded, the earlier ones become the student's own cells;
- :mod:`.instructor_cells` -- :class:`InstructorCells` (sanitizing, before nbgrader's OverwriteCells): every cell
  with one of the lesson's grade ids gets the instructor's metadata, deleted tests come back, the tests stand in the
  instructor's order;
- :mod:`.hide_tests` -- :class:`HideTests` empties the test cells before the student's kernel runs the notebook;
- :mod:`.sandboxed_execute` -- :class:`SandboxedExecute` is nbgrader's Execute with the kernel in the bubblewrap
  sandbox (:mod:`grader.sandbox`);
- :mod:`.limit_output_size` -- :class:`LimitOutputSize` caps each cell's output in lines and characters;
- :mod:`.grade_outside_kernel` -- :class:`GradeOutsideKernel` runs each test cell in the grader, against the
  student's functions in the sandboxed worker (:mod:`grader.remote`).
"""
