"""Fixtures shared by the test files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from course import WORKER_PRELUDE, make_course, nbgrader, require_bwrap
from filelock import FileLock  # comes with torch


@pytest.fixture(scope="session")
def release(tmp_path_factory):
    """``release(lesson, folder)`` -> ``folder / "course"``: a course as :func:`course.make_course` and ``nbgrader
    generate_assignment <lesson> --force`` leave it (the config, ``solutions/<lesson>/``, ``notebooks/<lesson>/`` and a
    gradebook that knows the lesson's cells), the caller's own copy to grade in.

    nbgrader releases each lesson once per test run (10 to 15 s of a 2-core machine each), in a folder the xdist
    workers share, under a lock: the first caller generates, the others wait and copy.
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # each worker's temporary folder lies in the run's own
    shared = shared / "released"
    shared.mkdir(exist_ok=True)

    def release(lesson: str, folder: Path) -> Path:
        built = shared / lesson
        with FileLock(str(shared / f"{lesson}.lock")):
            if not built.exists():
                scratch = shared / f"{lesson}.building"
                shutil.rmtree(scratch, ignore_errors=True)  # what a failed generation left
                scratch.mkdir()
                nbgrader(make_course(scratch, [lesson]), "generate_assignment", lesson, "--force")
                scratch.rename(built)  # complete or absent: a failed generation is tried again by the next caller
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copytree(built / "course", folder / "course"))

    return release


@pytest.fixture(scope="module")
def worker():
    """One grading worker (in its sandbox where bwrap exists; required under CI) for a test file that drives it
    without nbgrader (tests/test_remote.py, tests/test_callback_attacks.py)."""
    from grader.remote import Worker

    sandboxed = require_bwrap("the grading worker must be tested in its sandbox", skip=False)
    w = Worker(WORKER_PRELUDE, sandboxed=sandboxed, timeout=20)
    yield w
    w.close()
