"""nbgrader configuration for the GAN course (run nbgrader commands from the repository root).

- ``solutions/<lesson>/<lesson>.ipynb`` are the instructor sources (solutions + hidden tests);
- ``notebooks/<lesson>/<lesson>.ipynb`` are the student versions, written by
  ``nbgrader generate_assignment <lesson> --force`` (see README, "For instructors").
"""

import os
import sys

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "gan-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# Training cells follow the grading tier under grading (nbgrader sets NBGRADER_EXECUTION); no cell needs more than
# a few seconds. The per-cell limit is what an infinite loop in a submission costs before nbgrader interrupts the
# kernel, scores that cell and goes on with the next one.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# A submission that deleted or edited a test cell is graded with the original test cells from the gradebook.
c.OverwriteCells.add_missing_cells = True

# Grading kernels inherit this environment: never wait for a dataset download while autograding
# (the lessons fall back to their offline data; cached data is still used).
if sys.argv[1:2] in (["autograde"], ["validate"]):
    os.environ.setdefault("GAN_COURSE_OFFLINE", "1")

# A warning printed by a library (PyTorch, matplotlib) in a test cell is not a failed test.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?m)^.*:\d+: \w*Warning: "  # the format of warnings.warn

# Keep feedback readable when a submission prints without end.
c.LimitOutput.max_lines = 500
c.LimitOutput.max_traceback = 200
