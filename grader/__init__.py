"""Instructor-side grading code for the GAN course (nothing here runs in a student's notebook).

``nbgrader autograde``, in the order its steps run (``nbgrader_config.py`` puts them in place):

- :mod:`grader.preprocessors` -- one nbgrader preprocessor per module, named after its class:
  ``hide_tests`` (:class:`HideTests`: the student's kernel runs the notebook with its test cells emptied),
  ``sandboxed_execute`` (:class:`SandboxedExecute`: that kernel runs in the bubblewrap sandbox),
  ``limit_output_size`` (:class:`LimitOutputSize`: each cell's output capped in lines and characters),
  ``grade_outside_kernel`` (:class:`GradeOutsideKernel`: each test cell runs in the grader and decides the score).
- :mod:`grader.answer_cells` -- reads the notebooks: the exercises, the student's answer cells, the lesson's prelude,
  which cells and references each test cell's worker gets.
- :mod:`grader.sandbox` -- the bubblewrap command and the kernel manager that starts every grading kernel in it.

The student's side and the grader's side of a verdict:

- :mod:`grader.worker` -- the student's side: a process in the sandbox that runs the answer cells and answers calls
  with plain data; it decides nothing.
- :mod:`grader.remote` -- the grader's side: starts the worker, and binds each exercise's name to a function that
  calls into it, so a test cell judges tensors the grader rebuilt itself.
- :mod:`grader.protocol` -- the wire between them: framing and every message, each encoder beside its decoder.

A whole class: :mod:`grader.grade_class` autogrades every submission in parallel worker folders and merges the
verdicts into the course's gradebook (the command line is ``scripts/grade_class.py``).
"""
