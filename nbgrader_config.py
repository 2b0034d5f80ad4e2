"""nbgrader configuration for the GAN course (run nbgrader commands from the repository root).

- ``solutions/<lesson>/<lesson>.ipynb`` are the instructor sources (solutions + hidden tests);
- ``notebooks/<lesson>/<lesson>.ipynb`` are the student versions, written by
  ``nbgrader generate_assignment <lesson> --force`` (see docs/instructors.md).
"""

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
# Every output is collected when the last cell ends: stop the kernel at once instead of waiting for a graceful exit
# (about 2 s per notebook; `python bench/autograde.py`).
c.Execute.shutdown_kernel = "immediate"

# A submission that deleted or edited a test cell is graded with the original test cells from the gradebook.
c.OverwriteCells.add_missing_cells = True

# One submission never affects another or the run (grader/submission_guard.py): a submission with links or special
# files is refused before nbgrader copies anything, in `nbgrader autograde` and `nbgrader collect`, and a notebook
# whose nbgrader metadata has the wrong schema is that student's error; each submission is graded against the
# instructor's cells, its tests in the instructor's order (grader/preprocessors/instructor_cells.py).
from nbgrader.converters.autograde import Autograde  # noqa: E402

from grader.preprocessors.instructor_cells import with_instructor_cells  # noqa: E402
from grader.submission_guard import install  # noqa: E402

install()
c.ExchangeFactory.collect = "grader.submission_guard.SafeExchangeCollect"
c.Autograde.sanitize_preprocessors = with_instructor_cells(Autograde.class_traits()["sanitize_preprocessors"].default())

# Grading never downloads data: helpers.data.mnist.offline_reason() sees NBGRADER_EXECUTION, which nbgrader sets in
# every grading kernel (command line and formgrader alike); cached data is still used.

# A warning printed by a library (PyTorch, matplotlib) in a test cell is not a failed test.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?m)^.*:\d+: \w*Warning: "  # the format of warnings.warn

# Keep feedback readable when a submission prints without end: nbgrader's LimitOutput counts lines, and one
# enormous line (print("x" * 10**7)) passes it, so autograding uses a LimitOutput that also counts characters.
from nbgrader.preprocessors import LimitOutput  # noqa: E402

from grader.preprocessors.limit_output_size import LimitOutputSize  # noqa: E402

c.LimitOutput.max_lines = 500
c.LimitOutput.max_traceback = 200
c.Autograde.autograde_preprocessors = [
    LimitOutputSize if step is LimitOutput else step
    for step in Autograde.class_traits()["autograde_preprocessors"].default()
]

# Every submission is graded in a bubblewrap sandbox (grader/preprocessors/sandboxed_execute.py, grader/sandbox.py),
# and every verdict is decided outside the student's kernel (grader/preprocessors/grade_outside_kernel.py): the kernel
# runs the notebook with its test cells emptied (grader/preprocessors/hide_tests.py); the grader then runs each test
# cell itself, calling the student's functions in a sandboxed worker that sends back plain data only.
from grader.preprocessors.grade_outside_kernel import graded_outside_kernel  # noqa: E402
from grader.preprocessors.sandboxed_execute import sandboxed  # noqa: E402

c.Autograde.autograde_preprocessors = graded_outside_kernel(sandboxed(c.Autograde.autograde_preprocessors))

# Feedback never shows the hidden tests (their inputs are drawn afresh at each grading anyway).
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# A copy-pasted answer cell (a repeated grade id, nbgrader issue #1083) is graded as the kernel ran it: the last copy
# is the answer, the earlier ones are the student's own cells (grader/preprocessors/keep_last_copy.py); nbgrader's own
# DeduplicateIds leaves the notebook ungraded.
from grader.preprocessors.keep_last_copy import with_last_copies  # noqa: E402

c.Autograde.sanitize_preprocessors = with_last_copies(
    c.Autograde.sanitize_preprocessors
    if "sanitize_preprocessors" in c.Autograde
    else Autograde.class_traits()["sanitize_preprocessors"].default()
)
