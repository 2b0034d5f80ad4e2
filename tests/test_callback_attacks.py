"""A hostile student against the callback mechanism (grader/protocol.py: serve_callback; grader/remote.py).

Each test states the invariant the grader keeps; each was an attack that worked when the callbacks first landed (a
hostile-student pass), and fails on that code.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch
from course import WORKER_PRELUDE, require_bwrap

from grader.remote import Worker
from helpers.checks.core import GradingError

PRELUDE = WORKER_PRELUDE  # the ``worker`` fixture (tests/conftest.py) runs the same


def _rss() -> int:
    """The grader's resident memory, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def test_endless_callbacks_in_an_answer_cell_stop_at_the_timeout():
    """An answer cell that calls a reference forever at its top level must cost one timeout, not hang the grader."""
    sandboxed = require_bwrap("the grading worker must be tested in its sandbox", skip=False)
    w = Worker(PRELUDE, sandboxed=sandboxed, timeout=2)
    w.start()
    done = {}

    def run():
        try:
            done["ex"] = w.exercise([("f", "while True:\n    ref(1)\ndef f(x):\n    return x\n")], {"ref": lambda n: n})
        except BaseException as error:  # noqa: BLE001 - the worker killed under it below
            done["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(15)  # 2 s of timeout, and plenty of slack
    hung = thread.is_alive()
    elapsed = time.monotonic() - started
    w.close()  # ends the endless exchange if it still runs
    thread.join(10)
    print(f"setup still running after {elapsed:.1f} s (timeout 2 s): {hung}")
    assert not hung, f"the grader still served the answer cell's callbacks after {elapsed:.0f} s (timeout 2 s)"


def test_small_callback_messages_cannot_make_the_grader_hold_gigabytes(worker):
    """A reference that broadcasts ((n,1) - (1,n)) allocates n*n floats in the grader per call of a few KB; tracked,
    the graph (abs saves its n*n input) stays in Exercise.graphs until the exercise ends."""

    def cycle(real, reconstructed, lambda_cycle=10.0):  # 05_cyclegan's _ref_cycle
        return lambda_cycle * (real - reconstructed).abs().mean()

    source = """
def f(n, k):
    a, b = torch.zeros(n, 1, requires_grad=True), torch.zeros(1, n)
    return [float(cycle(a, b)) for _ in range(k)]
"""
    ex = worker.exercise([("f", source)], {"cycle": cycle})
    before = _rss()
    with pytest.raises(GradingError, match="could not read|ended the grading process"):
        ex.call("f", (6000, 8), {})  # messages of ~100 KB; each run keeps 36 million numbers, more than MAX_SAVED
    grown = _rss() - before
    print(f"the grader's RSS grew by {grown / 2**20:.0f} MiB; graphs kept: {len(ex.graphs)}")
    ex.close()
    assert grown < 400 * 2**20
    small = worker.exercise([("f", source)], {"cycle": cycle})
    assert small.call("f", (300, 8), {}) == [0.0] * 8 and not small.graphs  # a lesson-sized use still works
    small.close()


def test_a_failing_reference_does_not_tell_the_student_its_hidden_shapes(worker):
    hidden = torch.randn(37, 11)  # a constant only the reference holds

    def project(x):
        return x @ hidden

    source = """
def f():
    try:
        project(torch.zeros(1, 1))
    except RuntimeError as error:
        return str(error)
"""
    ex = worker.exercise([("f", source)], {"project": project})
    seen = ex.call("f", (), {})
    ex.close()
    print("the student read:", seen)
    assert "37" not in seen and "11" not in seen


HIJACK = """
import os
import grader.protocol as P
chan = next(c.cell_contents for c in ref.__closure__ if isinstance(c.cell_contents, P.CallbackChannel))
# a callback whose arguments make decode() raise OverflowError (not BadReply): it escapes Worker.exercise, which
# neither closes the worker nor hands back an Exercise to close, so this child stays in the middle of its exchange
P.write_frame(chan.out, P.encode_message({"callback": 0, "args": {"t": "npscalar", "v": 10**400}, "kwargs": {}}))
fork = P.read_frame(chan.read_exact, P.MAX_FRAME)  # the NEXT exercise's FORK reaches this child
P.write_frame(chan.out, P.encode_message({"setup": {}, "defined": ["g"]}))
job = P.read_frame(chan.read_exact, P.MAX_FRAME)  # ... and its job (the next exercise's answer cells)
P.write_frame(chan.out, P.encode_message({"return": 42, "args": [P.encode_state(torch.ones(2))], "kwargs": {}}))
P.read_frame(chan.read_exact, P.MAX_FRAME)  # its call
P.write_frame(chan.out, P.encode_message({"noise": True}))
P.read_frame(chan.read_exact, P.MAX_FRAME)  # STOP
os._exit(0)
"""


def test_a_child_cannot_answer_for_the_next_exercise(worker):
    try:
        worker.exercise([("f", HIJACK)], {"ref": lambda n: n})
        escaped = None
    except Exception as error:  # noqa: BLE001
        escaped = error
    print("exercise A's setup raised in the grader:", type(escaped).__name__, escaped)
    nxt = worker.exercise([("g", "def g(x):\n    return x * 2\n")], {})  # exercise B, a fresh child (supposedly)
    got = nxt.call("g", (torch.ones(2),), {})
    nxt.close()
    print("exercise B: g(ones(2)) =", got)
    assert isinstance(got, torch.Tensor) and torch.equal(got, torch.full((2,), 2.0))


CYCLE_CHEAT = {  # each calls the other: a RecursionError in the student's own kernel
    "cycle_consistency_loss": "def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):\n"
    "    return identity_loss(real, reconstructed, lambda_identity=1.0, lambda_cycle=lambda_cycle)\n",
    "identity_loss": "def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):\n"
    "    return cycle_consistency_loss(real, same, lambda_cycle=lambda_identity * lambda_cycle)\n",
}


def test_answers_that_only_call_each_other_do_not_pass_both_tests(tmp_path):
    import copy

    import nbformat
    from course import solution_path

    from grader.preprocessors.grade_outside_kernel import GradeOutsideKernel
    from grader.preprocessors.hide_tests import HIDDEN_TESTS

    require_bwrap("the grading worker must be tested in its sandbox", skip=False)
    source = nbformat.read(solution_path("05_cyclegan"), as_version=4)
    nb = copy.deepcopy(source)
    keep = {"test_lsgan_loss", "test_cycle_consistency_loss", "test_identity_loss"}  # the first defines the refs
    tests = {}
    for i, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in CYCLE_CHEAT:
            cell.source = CYCLE_CHEAT[grade_id]
        elif grade_id in keep:
            tests[i], cell.source = cell.source, ""

    class Grade(GradeOutsideKernel):
        def source_notebook(self, resources):
            return source

    graded, _ = Grade(timeout=30).preprocess(nb, {HIDDEN_TESTS: tests, "metadata": {"path": str(tmp_path)}})
    verdicts = {
        graded.cells[i].metadata.nbgrader.grade_id: not any(o.output_type == "error" for o in graded.cells[i].outputs)
        for i in tests
    }
    print("passed:", verdicts)
    assert not (verdicts["test_cycle_consistency_loss"] and verdicts["test_identity_loss"])


def test_a_reference_asked_for_gigabytes_fails_in_the_grader_instead_of_taking_its_memory(worker):
    def make_targets(label, num_classes=10):  # 01_backquery's reference
        targets = torch.full((num_classes,), 0.01)
        targets[label] = 0.99
        return targets

    source = """
def f():
    try:
        make_targets(0, num_classes=5 * 10**9)  # 20 GB
    except RuntimeError as error:
        return str(error)
    return "allocated"
"""
    ex = worker.exercise([("f", source)], {"make_targets": make_targets})
    before = _rss()
    said = ex.call("f", (), {})
    assert "failed on the arguments it was given" in said and _rss() - before < 400 * 2**20
    assert ex.call("f", (), {}) == said  # the grader is fine and answers again
    ex.close()
