"""Instructor-side grading code for the GAN course (nothing here runs in a student's notebook).

- :mod:`grader.sandbox` -- every kernel that ``nbgrader autograde`` starts runs in a bubblewrap sandbox.
"""
