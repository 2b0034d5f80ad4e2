"""Repository-wide pytest setup.

nbval runs the notebooks in ``solutions/`` in a kernel that inherits this
process's environment; ``NBVAL=1`` makes :func:`helpers.profiles.get_profile`
choose the quick profile there (unless ``GAN_PROFILE`` says otherwise).

Every kernel the tests start (nbval, nbgrader, the browser test's Jupyter) inherits one math-library thread
(``OMP_NUM_THREADS=1``, unless set): on a shared 2-core machine two threads per process spin against the other load
and ran 6 to 12 times slower than one; one thread per kernel keeps the cell timeouts valid on a busy machine.
"""

import os
import re
import sys
from pathlib import Path

import pytest

os.environ.setdefault("NBVAL", "1")
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# The unit tests run the trainers with the reference steps of bench/reference_steps.py (helpers/ has no default
# step: it never holds an exercise's answer).
sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))

# `pytest` runs the tests in two pytest-xdist workers (addopts in pyproject.toml: `-n 2 --dist loadgroup`). A worker
# takes a unit of tests at a time and runs it in order, in one process: a test file (its module fixtures are built
# once; nbval runs a notebook's cells in one kernel), except in tests/test_autograder.py, where each lesson's graded
# course and the class test are units of their own, so that two of them grade at the same time.
# The long units start first, in this order, the others after them in their own order. Longest first, so that the
# last to finish are short and both workers end together; and the units that leave most of a core idle while they
# wait (the hub, the browser, the sandbox's timeouts) beside those that keep two busy (autograde runs two nbgrader
# processes, the hostile test three). Seconds on the 2-core machine, alone: CPU time / wall time.
FIRST = [
    "tests/test_classroom.py",  # 103 / 155
    "tests/test_autograder.py::test_grade_a_class_in_parallel_with_feedback_and_csv",  # 108 / 78
    "tests/test_hostile.py",  # 189 / 110
    "tests/test_honest.py",  # 110 / 85
    "tests/test_browser.py",  # 106 / 128
    "tests/test_browser_gan_lab.py",  # 40 s wall at load 10: a Jupyter server, one kernel, the lab played
    "tests/test_autograder.py[02_simple_pattern_gan]",  # 90 / 60 to 90, each lesson
    "tests/test_autograder.py[03_mnist_gan]",
    "tests/test_sandbox.py",  # 53 / 92
    "tests/test_autograder.py[01_backquery]",
    "tests/test_autograder.py[04_cgan]",
    "tests/test_autograder.py[05_cyclegan]",
    "tests/test_grade_class.py",  # 52 / 51
    "tests/test_hostile_submissions.py",  # 50 / 110: a collect, an autograde of 6 students, a grade_class.py run
    "solutions/04_cgan/04_cgan.ipynb",  # 47 / 51
    "solutions/05_cyclegan/05_cyclegan.ipynb",  # 43 / 44
    "solutions/03_mnist_gan/03_mnist_gan.ipynb",  # 35 / 35
    "solutions/02_simple_pattern_gan/02_simple_pattern_gan.ipynb",  # 15 / 15
]


def unit(nodeid: str) -> str:
    """The unit of work of the test ``nodeid`` (see above)."""
    path, _, name = nodeid.partition("::")
    if path == "tests/test_autograder.py":
        lesson = re.search(r"\[(\d\d_\w+)\]$", name)  # the tests of the `graded` fixture end in [<lesson>]
        if lesson:
            return f"{path}[{lesson.group(1)}]"
        if name.startswith("test_grade_a_class"):
            return nodeid
    return path


@pytest.hookimpl(tryfirst=True)  # the slow marks must be there when `-m` selects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        if item.path.suffix == ".ipynb":  # nbval: a cell of a lesson that runs whole, in a kernel of its own
            item.add_marker(pytest.mark.slow)
        units.setdefault(unit(item.nodeid), []).append(item)
    rank = {name: index for index, name in enumerate(FIRST)}
    ordered = sorted(units.items(), key=lambda entry: rank.get(entry[0], len(FIRST)))  # stable: the rest keep theirs
    items[:] = [item for _, members in ordered for item in members]


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist's own; a hook of pytest-xdist only
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadgroup`` with :func:`unit` as the group, units sent in collection order (longest first).

    pytest-xdist's own loadgroup reads ``@pytest.mark.xdist_group`` through a change of ``item.nodeid`` that
    pytest 9 ignores (every test then is a group of its own); this scheduler sees only node ids, so the units
    come from them."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit(nodeid)

        def _assign_work_unit(self, node) -> None:
            """Send ``node`` the next unit; a short one while it still runs a long one.

            A worker runs a test only once it holds the next one (pytest needs it for the fixtures' teardown), so
            xdist sends each worker a second unit as soon as the first nears its end: behind a long unit of one or
            two tests, that second unit waits the whole time. A short unit there is soon done; the next long one
            goes to the first worker free of long ones."""
            running_long = any(
                scope in long_units and not all(tests.values())
                for scope, tests in self.assigned_work.get(node, {}).items()
            )
            short = next((scope for scope in self.workqueue if scope not in long_units), None)
            scope = short if running_long and short is not None else next(iter(self.workqueue))
            work_unit = self.workqueue.pop(scope)
            self.assigned_work.setdefault(node, {})[scope] = work_unit
            collection = self.registered_collections[node]
            node.send_runtest_some([collection.index(nodeid) for nodeid, done in work_unit.items() if not done])

    long_units = set(FIRST)
    config.option.loadscopereorder = False  # keep the order above, not the largest number of tests first
    return UnitScheduling(config, log)
