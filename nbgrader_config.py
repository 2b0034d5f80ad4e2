"""nbgrader configuration for the GAN course (run nbgrader commands from the repository root).

- ``solutions/<lesson>/<lesson>.ipynb`` are the instructor sources (solutions + hidden tests);
- ``notebooks/<lesson>/<lesson>.ipynb`` are the student versions, written by
  ``nbgrader generate_assignment <lesson> --force`` (see README, "For instructors").
"""

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "gan-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# Training cells follow the quick profile under grading (nbgrader sets NBGRADER_EXECUTION);
# no cell should need more than a few seconds, this is a safety margin for slow machines.
c.Execute.timeout = 120

# A warning printed by a library (PyTorch, matplotlib) in a test cell is not a failed test.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?m)^.*:\d+: \w*Warning: "  # the format of warnings.warn

# Keep feedback readable when a submission prints without end.
c.LimitOutput.max_lines = 500
c.LimitOutput.max_traceback = 200
