"""The grading worker and its wire (grader/worker.py, grader/remote.py, grader/protocol.py), without nbgrader.

One real worker (in the bubblewrap sandbox where bwrap exists, else unsandboxed) runs "answer cells" given as source;
the tests call them through :class:`grader.remote.Exercise` as a test cell would, and check what the grader gets back:
exact tensors, gradients, synced arguments, the student's exceptions, a dead worker, a timeout (the messages
themselves, forged replies included, are tested in tests/test_protocol.py).
"""

from __future__ import annotations

import pytest
import torch
from course import WORKER_PRELUDE, require_bwrap
from torch import nn

from grader import sandbox
from grader.protocol import RemoteError
from grader.remote import Exercise, Worker
from helpers.checks.core import GradingError, compare, require_grad_flow

PRELUDE = WORKER_PRELUDE  # the ``worker`` fixture (tests/conftest.py) runs the same


def exercise(worker, **answers) -> Exercise:
    return worker.exercise(list(answers.items()), {})


def test_a_result_comes_back_as_an_exact_tensor_even_from_a_lying_subclass(worker):
    ex = exercise(
        worker,
        f="""
class Liar(torch.Tensor):
    def __eq__(self, other): return True
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return super().__torch_function__(func, types, args, kwargs or {})
def f(x):
    return (x * 0).as_subclass(Liar)
""",
    )
    got = ex.call("f", (torch.ones(3),), {})
    ex.close()
    assert type(got) is torch.Tensor
    with pytest.raises(GradingError, match="differs"):
        compare(got, torch.ones(3), name="f(x)")


def test_gradients_flow_back_to_the_graders_inputs(worker):
    ex = exercise(
        worker,
        f="def f(x, w):\n    return (x * w).sum() + x.pow(2).mean()",
        g="def g(x, w):\n    return (x * w).detach().sum()",
    )
    x, w = torch.randn(4, requires_grad=True), torch.randn(4, requires_grad=True)
    loss = ex.call("f", (x, w), {})
    require_grad_flow(loss, [x, w], name="f")
    loss.backward()
    assert torch.allclose(x.grad, w.detach() + 2 * x.detach() / 4) and torch.allclose(w.grad, x.detach())
    with pytest.raises(GradingError, match="does not depend on its inputs"):
        require_grad_flow(ex.call("g", (x, w), {}), [x, w], name="g")
    ex.close()


def test_a_step_changes_the_graders_module_optimizer_and_recorder(worker):
    ex = exercise(
        worker,
        step="""
def step(D, opt, real, loss_fn):
    opt.zero_grad()
    loss = loss_fn(D(real))
    loss.backward()
    opt.step()
    return loss
""",
    )

    class Recorder:
        def __init__(self):
            self.calls = []

        def __call__(self, out):
            self.calls.append(out.detach().clone())
            return out.pow(2).mean()

    torch.manual_seed(0)
    D = nn.Linear(3, 1)
    opt = torch.optim.Adam(D.parameters(), lr=0.1)
    for p in D.parameters():
        p.grad = torch.full_like(p, 5.0)  # stale junk: the student's zero_grad must clear it in the worker
    real, record = torch.randn(6, 3), Recorder()
    reference = nn.Linear(3, 1)
    reference.load_state_dict(D.state_dict())
    ref_opt = torch.optim.Adam(reference.parameters(), lr=0.1)
    ref_opt.zero_grad()
    ref_loss = reference(real).pow(2).mean()
    ref_loss.backward()
    ref_opt.step()
    loss = ex.call("step", (D, opt, real, record), {})
    ex.close()
    assert torch.allclose(D.weight, reference.weight) and torch.allclose(D.bias, reference.bias)
    assert torch.allclose(D.weight.grad, reference.weight.grad)
    assert int(opt.state_dict()["state"][0]["step"]) == 1
    assert len(record.calls) == 1 and record.calls[0].shape == (6, 1)
    assert float(loss) == pytest.approx(float(ref_loss))


def test_the_students_exceptions_keep_their_type_and_message(worker):
    ex = exercise(
        worker,
        f="def f(x):\n    raise ValueError('label out of range')",
        g="def g(x):\n    raise NotImplementedError()",
        h="def h(x):\n    assert False, 'pass me'",
    )
    with pytest.raises(ValueError, match="label out of range"):
        ex.call("f", (1,), {})
    with pytest.raises(NotImplementedError):
        ex.call("g", (1,), {})
    with pytest.raises(RemoteError) as raised:  # never a GradingError/AssertionError the test cell could mistake
        ex.call("h", (1,), {})
    assert not isinstance(raised.value, AssertionError)
    ex.close()


def test_an_exit_or_a_crash_costs_only_that_exercise(worker):
    ex = exercise(worker, f="import os\ndef f(x):\n    os._exit(0)")
    with pytest.raises(GradingError, match="ended the grading process"):
        ex.call("f", (1,), {})
    ex.close()
    ex = exercise(worker, f="def f(x):\n    raise SystemExit(3)")
    with pytest.raises(RemoteError, match="SystemExit|3"):
        ex.call("f", (1,), {})
    ex.close()
    ex = exercise(worker, f="import os, signal\ndef f(x):\n    os.kill(os.getppid(), signal.SIGKILL)")
    try:  # the fork server dies; the sandbox may or may not take this child with it before it answers
        assert ex.call("f", (1,), {}) is None
    except GradingError as error:
        assert "ended the grading process" in str(error)
    ex.close()
    after = exercise(worker, f="def f(x):\n    return x + 1")  # a new worker where the old one died
    assert after.call("f", (torch.tensor(1.0),), {}) == 2
    after.close()


def test_an_endless_call_times_out_and_the_next_exercise_runs():
    w = Worker(PRELUDE, sandboxed=sandbox.sandbox_available() is None, timeout=3)
    try:
        ex = exercise(w, f="def f(x):\n    while True:\n        pass")
        with pytest.raises(GradingError, match="longer than 3 s"):
            ex.call("f", (1,), {})
        ex.close()
        ex = exercise(w, f="while True:\n    pass\ndef f(x):\n    return x")
        with pytest.raises(GradingError, match="longer than 3 s in an answer cell"):
            ex.call("f", (1,), {})
        ex = exercise(w, f="def f(x):\n    return x * 2")
        assert ex.call("f", (torch.tensor(2.0),), {}) == 4
        ex.close()
    finally:
        w.close()


def test_a_cell_that_fails_after_its_def_still_defines_the_function(worker):
    ex = exercise(worker, f="def f(x):\n    return x\ndisplay(f)", g="undefined_name\ndef g(x):\n    return x")
    assert ex.call("f", (torch.tensor(1.0),), {}) == 1
    with pytest.raises(NameError, match="failed before defining it"):
        ex.call("g", (1,), {})
    with pytest.raises(GradingError, match="not defined"):
        ex.call("h", (1,), {})
    ex.close()


def test_the_worker_cannot_see_the_course():
    if sandbox.sandbox_available() is not None:
        pytest.skip("bwrap is missing: the unsandboxed worker sees what the grader sees")
    from course import ROOT

    w = Worker(PRELUDE, sandboxed=True, timeout=20)
    try:
        ex = exercise(
            w,
            f=f"""
import os
def f(x):
    return [
        os.path.exists(p) for p in ({str(ROOT / "solutions")!r}, {str(ROOT / "tests")!r}, {str(ROOT / "README.md")!r})
    ]
""",
        )
        assert ex.call("f", (0,), {}) == [False, False, False]
        ex.close()
    finally:
        w.close()


def test_a_result_changed_in_place_by_a_later_call_changes_in_the_grader_too(worker):
    """A cached tensor handed out twice: the first result changes when the second call fills the cache again."""
    ex = exercise(worker, f="_cache = torch.zeros(3)\ndef f(x):\n    _cache.fill_(x)\n    return _cache")
    first = ex.call("f", (1.0,), {})
    second = ex.call("f", (2.0,), {})
    ex.close()
    assert torch.equal(second, torch.full((3,), 2.0)) and torch.equal(first, second)


def test_a_backward_through_an_undetached_input_reaches_the_graders_graph(worker):
    """Fakes straight from a generator: a D step that forgets .detach() fills G's .grad in the grader too."""
    ex = exercise(
        worker,
        step="def step(D, fake):\n    D(fake).sum().backward()",
        detached="def detached(D, fake):\n    D(fake.detach()).sum().backward()",
    )
    torch.manual_seed(0)
    G, D = nn.Linear(2, 3), nn.Linear(3, 1)
    z = torch.randn(4, 2)
    ex.call("detached", (D, G(z)), {})
    assert all(p.grad is None for p in G.parameters())
    ex.call("step", (D, G(z)), {})
    ex.close()
    G_ref, D_ref = nn.Linear(2, 3), nn.Linear(3, 1)
    G_ref.load_state_dict(G.state_dict())
    D_ref.load_state_dict(D.state_dict())
    D_ref(G_ref(z)).sum().backward()
    assert torch.allclose(G.weight.grad, G_ref.weight.grad) and torch.allclose(G.bias.grad, G_ref.bias.grad)


# -- a network the student builds (lesson 3): it stays in the worker; the grader holds its parameters


NETWORK = """
class Generator(nn.Module):
    def __init__(self, latent_dim=100):
        super().__init__()
        self.hidden = nn.Linear(latent_dim, 8)
        self.out = nn.Linear(8, 5)

    def forward(self, z):
        return torch.tanh(self.out(nn.functional.leaky_relu(self.hidden(z), 0.01)))
"""


def test_a_network_comes_back_as_the_graders_parameters_and_runs_on_the_weights_the_grader_sets(worker):
    from grader.protocol import RemoteModule

    ex = exercise(worker, Generator=NETWORK)
    G = ex.call("Generator", (3,), {})
    assert isinstance(G, RemoteModule) and G.type_name == "Generator"
    assert [(n, tuple(p.shape)) for n, p in G.named_parameters()] == [
        ("hidden.weight", (8, 3)), ("hidden.bias", (8,)), ("out.weight", (5, 8)), ("out.bias", (5,))
    ]  # fmt: skip
    # the grader's own weights, set by name, are the ones the student's forward runs on
    reference = nn.Sequential(nn.Linear(3, 8), nn.LeakyReLU(0.01), nn.Linear(8, 5), nn.Tanh())
    G.load_state_dict(dict(zip([n for n, _ in G.named_parameters()], reference.state_dict().values())))
    z = torch.randn(4, 3, requires_grad=True)
    out = G(z)
    assert type(out) is torch.Tensor and torch.allclose(out, reference(z), atol=1e-6)
    # gradients reach the grader's parameters and inputs, as in one process
    out.sum().backward()
    expected = torch.autograd.grad(reference(z).sum(), [reference[0].weight, z])
    assert torch.allclose(G.get_parameter("p0").grad, expected[0], atol=1e-6)
    assert torch.allclose(z.grad, expected[1], atol=1e-6)
    # nothing of the student's code runs in the grader: a forward is a call into the worker
    ex.close()
    with pytest.raises(GradingError, match="could not be called"):
        G(z)


def test_a_training_mode_pass_moves_the_graders_batchnorm_statistics_and_eval_mode_uses_them(worker):
    # lesson 4's generator: its BatchNorm momentum is read from how its running statistics move
    ex = exercise(
        worker,
        Net="""
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4, momentum=0.2)
    def forward(self, x):
        return self.bn(self.fc(x))
""",
    )
    net = ex.call("Net", (), {})
    mine = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=0.2))
    net.load_state_dict(
        dict(zip([n for n, _ in net.named_parameters()], [p.detach() for p in mine.parameters()])), strict=False
    )
    x = torch.randn(16, 3)
    assert torch.allclose(net(x), mine(x), atol=1e-5)
    buffers = dict(net.named_buffers())
    assert torch.allclose(buffers["bn.running_mean"], mine[1].running_mean, atol=1e-6)
    assert torch.allclose(buffers["bn.running_var"], mine[1].running_var, atol=1e-5)
    assert int(buffers["bn.num_batches_tracked"]) == 1
    net.eval(), mine.eval()
    assert torch.allclose(net(x[:1]), mine(x[:1]), atol=1e-5)  # one sample: only running statistics can do it
    ex.close()


def test_a_forward_reply_whose_buffers_do_not_fit_is_a_bad_reply():
    from grader.protocol import BadReply, RemoteModule

    buffer = torch.zeros(4)
    for reply in (
        torch.ones(2),
        (torch.ones(2), [torch.zeros(5)]),
        (torch.ones(2), [torch.zeros(4, dtype=torch.int64)]),
        (torch.ones(2), []),
    ):
        net = RemoteModule(
            lambda *args, answer=reply: answer, 0, "Net", [], [("bn.running_mean", buffer.clone())], True
        )
        with pytest.raises(BadReply):
            net(torch.ones(2))
    assert torch.equal(dict(net.named_buffers())["bn.running_mean"], buffer)  # nothing of a bad reply is kept


def test_a_network_description_that_is_not_one_is_a_bad_reply():
    from grader.protocol import BadReply, rebuild_module

    def call(*args):
        raise AssertionError("never called")

    good = {"t": "module", "id": 0, "type": "G", "params": [], "buffers": [], "training": True}
    assert len(list(rebuild_module(good, call).parameters())) == 0
    for broken in (
        {**good, "id": -1},
        {**good, "id": "0"},
        {**good, "params": {"w": 1}},
        {**good, "params": [["w"]]},
        {**good, "params": [[1, {"t": "tensor"}]]},
        {**good, "params": [["x" * 500, {"t": "opaque", "type": "x"}]]},
        {**good, "params": [["w", {"t": "opaque", "type": "x"}]]},
    ):
        with pytest.raises(BadReply):
            rebuild_module(broken, call)
    with pytest.raises(BadReply, match="network where plain data"):
        rebuild_module(good, None)


def test_a_network_whose_names_repeat_is_refused():
    # weights are set by name in load_state_dict: a repeated name would leave some of the student's values in place
    from grader.protocol import BadReply, rebuild_module

    tensor = {"t": "tensor", "dtype": "float32", "shape": [1], "data": "AAAAAA=="}
    for params, buffers in (
        ([["w", tensor], ["w", tensor]], []),
        ([["w", tensor]], [["w", tensor]]),
    ):
        node = {"t": "module", "id": 0, "type": "G", "params": params, "buffers": buffers, "training": True}
        with pytest.raises(BadReply, match="distinct names"):
            rebuild_module(node, lambda *args: None)


FORGER = """
import json, struct, sys, time


def f(x):
    frame = sys._getframe()
    while frame is not None and "out" not in frame.f_locals:  # the child's own pipe, in grader.worker.child
        frame = frame.f_back
    payload = json.dumps({"exited": 0}).encode()
    frame.f_locals["out"].write(struct.pack(">Q", len(payload)) + payload)
    time.sleep(60)  # then stay alive, as if to answer for the next exercise
"""


def test_a_child_that_forges_its_exit_is_ended_and_the_next_exercise_is_graded(worker):
    ex = exercise(worker, f=FORGER)
    with pytest.raises(GradingError, match="ended the grading process"):
        ex.call("f", (torch.ones(1),), {})
    ex.close()
    nxt = exercise(worker, g="def g(x):\n    return x * 2")
    assert torch.equal(nxt.call("g", (torch.ones(2),), {}), torch.full((2,), 2.0))
    nxt.close()


# -- the grader's functions stay in the grader: references and the functions a test passes are called back


def test_a_reference_runs_in_the_grader_and_its_gradient_reaches_the_students_graph(worker):
    secret = 4.25  # a value only the reference holds

    def reference_loss(x):
        return secret * x.pow(2).sum()

    peek = """
def peek():
    parts = [reference_loss.__name__, repr(reference_loss.__code__.co_consts), repr(reference_loss.__defaults__)]
    for cell in reference_loss.__closure__ or ():
        try:
            parts.append(repr(vars(cell.cell_contents)))
        except TypeError:
            parts.append(repr(cell.cell_contents))
    return " ".join(parts)
"""
    ex = worker.exercise(
        [("f", "def f(x):\n    return reference_loss(x) + x.sum()\n"), ("peek", peek)],
        {"reference_loss": reference_loss},
    )
    x = torch.randn(5, requires_grad=True)
    loss = ex.call("f", (x,), {})
    assert torch.allclose(loss, secret * x.detach().pow(2).sum() + x.detach().sum())
    loss.backward()  # through the student's graph in the worker, and the reference's in the grader
    assert torch.allclose(x.grad, 2 * secret * x.detach() + 1)
    seen = ex.call("peek", (), {})
    assert "reference_loss" in seen and "4.25" not in seen and "pow" not in seen
    ex.close()


def test_a_function_the_test_passes_records_in_the_grader_and_cannot_be_forged(worker):
    calls = []

    def recording_loss(d_fake):
        calls.append(d_fake.detach().clone())
        return d_fake.mean()

    step = """
def step(x, loss_fn):
    loss_fn.calls = ["forged"]
    loss = loss_fn(x * 2)
    loss.backward()
    return loss
"""
    ex = exercise(worker, step=step)
    x = torch.ones(3, requires_grad=True)
    loss = ex.call("step", (x, recording_loss), {})
    assert len(calls) == 1 and torch.equal(calls[0], torch.full((3,), 2.0))
    assert not hasattr(recording_loss, "calls")  # what the worker set on its proxy stays there
    assert torch.allclose(loss, torch.tensor(2.0)) and torch.allclose(x.grad, torch.full((3,), 2 / 3))
    ex.close()


def test_what_one_exercise_writes_is_gone_before_the_next_one_starts():
    require_bwrap("the writable folders are the sandbox's", skip=False)
    w = Worker(PRELUDE, sandboxed=True, timeout=20)
    write = """
import os
def leave():
    written = []
    for folder in ("/dev/shm", os.environ["TMPDIR"], os.path.dirname(os.environ["TMPDIR"])):
        os.makedirs(folder + "/kept/deep", exist_ok=True)
        with open(folder + "/kept/deep/note.txt", "w") as f:
            f.write("for the next exercise")
        os.chmod(folder + "/kept", 0o500)  # and made hard to remove
        written.append(folder)
    return len(written)
"""
    read = """
import os
def find():
    folders = ("/dev/shm", os.environ["TMPDIR"], os.path.dirname(os.environ["TMPDIR"]))
    return sum(os.path.exists(folder + "/kept/deep/note.txt") for folder in folders)
"""
    try:
        first = w.exercise([("leave", write)], {})
        assert first.call("leave", (), {}) == 3
        first.close()
        second = w.exercise([("find", read)], {})
        assert second.call("find", (), {}) == 0
        second.close()
    finally:
        w.close()


# -- each exercise in namespaces of its own (grader.worker.Namespaces) ------------------------------------------------
HOPPER = '''
import os, subprocess, sys, time
HOP = """
import os, time
end = time.time() + 20  # where nothing kills it (a scan of /proc misses it), it stops by itself
while time.time() < end:  # a new process all the time, the old one gone: a single scan of /proc cannot catch it
    if os.fork():
        os._exit(0)
"""
def start():
    subprocess.Popen([sys.executable, "-c", HOP, "left-by-the-first-exercise"], start_new_session=True)
    time.sleep(0.3)
    return 1
'''

COUNT = """
import os, time
def count():
    found = 0
    for _ in range(200):  # many scans: a hopping process is missed by most single scans of /proc
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    found += b"left-by-the-first-exercise" in f.read()
            except OSError:
                pass
        if found:
            break
        time.sleep(0.002)
    return found
"""


@pytest.fixture(scope="module")
def sandboxed_worker():
    require_bwrap("the exercises' namespaces are the sandbox's", skip=False)
    w = Worker(PRELUDE, sandboxed=True, timeout=20)
    yield w
    w.close()


def test_nothing_an_exercise_starts_survives_into_the_next(sandboxed_worker):
    first = sandboxed_worker.exercise([("start", HOPPER), ("count", COUNT)], {})
    try:
        assert first.call("start", (), {}) == 1
        assert first.call("count", (), {}) >= 1  # the hopper runs while the exercise lasts
    finally:
        first.close()
    later = exercise(sandboxed_worker, count=COUNT)
    try:
        assert later.call("count", (), {}) == 0
    finally:
        later.close()


@pytest.mark.parametrize("target", [0, -1], ids=["its process group", "every process it may signal"])
def test_an_exercise_that_kills_all_it_can_ends_itself_not_the_worker(sandboxed_worker, target):
    def run(source):
        ex = exercise(sandboxed_worker, f=source)
        try:
            return ex.call("f", (), {})
        finally:
            ex.close()

    assert run("def f():\n    return 1") == 1  # the fork server is up
    server = sandboxed_worker.process.pid
    ex = exercise(sandboxed_worker, f=f"import os, signal\ndef f():\n    os.kill({target}, signal.SIGKILL)")
    try:  # process 1 of the exercise's namespace ignores the kill, finds no one to kill, or ends: only it, if anything
        ex.call("f", (), {})
    except Exception as error:  # noqa: BLE001 - the student's ProcessLookupError comes back as the grader's copy
        assert "ended the grading process" in str(error) or "No such process" in str(error)
    finally:
        ex.close()
    assert sandboxed_worker.process.pid == server and sandboxed_worker.alive()
    assert run("def f():\n    return 2") == 2


SYSV = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
KEY, IPC_CREAT = 0x6A6E, 0o1000
def make():
    return libc.shmget(KEY, 4096, IPC_CREAT | 0o600) >= 0
def find():
    return libc.shmget(KEY, 4096, 0o600) >= 0
"""


def test_system_v_shared_memory_does_not_outlive_its_exercise(sandboxed_worker):
    first = exercise(sandboxed_worker, make=SYSV)
    assert first.call("make", (), {}) is True
    first.close()
    later = exercise(sandboxed_worker, find=SYSV)
    assert later.call("find", (), {}) is False
    later.close()


def test_an_exercise_that_asks_for_too_much_memory_fails_in_its_own_feedback(sandboxed_worker):
    ex = exercise(sandboxed_worker, f="import torch\ndef f():\n    return torch.empty(2**31).numel()")  # 8 GB
    with pytest.raises(Exception, match="(?i)cannot allocate memory|out of memory|MemoryError"):
        ex.call("f", (), {})
    ex.close()


def test_an_exercise_cannot_fill_the_disk(sandboxed_worker):
    fill = """
import os
def f():
    written = 0
    try:
        with open(os.path.join(os.environ["TMPDIR"], "big"), "wb") as out:
            while written < 600 << 20:
                out.write(bytes(1 << 20))
                written += 1 << 20
    except OSError as error:
        return error.errno, written
    return 0, written
"""
    ex = exercise(sandboxed_worker, f=fill)
    errno, written = ex.call("f", (), {})
    ex.close()
    assert errno == 28 and written <= 256 << 20  # ENOSPC at the exercise's cap


def test_student_code_runs_without_any_capability(sandboxed_worker):
    status = """
import ctypes
def f():
    with open("/proc/self/status") as s:
        caps = {line.split(":")[0]: int(line.split()[1], 16) for line in s if line.startswith("Cap")}
    unshared = ctypes.CDLL(None, use_errno=True).unshare(0x00020000)  # a mount namespace of its own
    return caps, unshared
"""
    ex = exercise(sandboxed_worker, f=status)
    caps, unshared = ex.call("f", (), {})
    ex.close()
    assert set(caps) >= {"CapEff", "CapPrm", "CapBnd", "CapAmb"} and not any(caps.values())
    assert unshared == -1


def test_an_exercise_can_neither_read_nor_write_another_process_of_the_sandbox(sandboxed_worker):
    # /proc is the sandbox's: it numbers bwrap's process 1 and the fork server too. Writing a process's memory through
    # /proc/<pid>/mem would leave the exercise's code running in a process that outlives it.
    probe = """
import os
def f():
    own, reached = os.readlink("/proc/self"), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for name, mode in (("cmdline", "rb"), ("environ", "rb"), ("mem", "r+b")):
            try:
                with open(f"/proc/{pid}/{name}", mode):
                    reached.append(f"{pid}/{name}")
            except OSError:
                pass
    return own, reached
"""
    ex = exercise(sandboxed_worker, f=probe)
    own, reached = ex.call("f", (), {})
    ex.close()
    assert sorted(reached) == sorted(f"{own}/{name}" for name in ("cmdline", "environ", "mem")), reached


def test_an_exercise_s_prints_stay_in_its_own_memory_not_in_the_graders_files(sandboxed_worker):
    # the worker's stderr is a file of the grader's on the host disk, shared by every exercise of a grading run
    shout = """
import os, sys
def f():
    print("x" * 1000)
    for fd in (1, 2):
        for _ in range(32):
            os.write(fd, bytes(1 << 20))  # 64 MiB in all
    return 1
"""
    ex = exercise(sandboxed_worker, f=shout)  # starts the worker where no test has
    log = sandboxed_worker.scratch / "worker-stderr.txt"
    before = log.stat().st_size
    assert ex.call("f", (), {}) == 1
    ex.close()
    assert log.stat().st_size - before < 1 << 20


def test_dev_is_read_only_and_nothing_passes_between_exercises_through_it(sandboxed_worker):
    plant = """
import os
def f():
    results = []
    for path in ("/dev/planted", "/dev/shm/planted"):
        try:
            with open(path, "w") as out:
                out.write("answers: 42")
            results.append("written")
        except OSError as error:
            results.append(error.strerror)
    return results
"""
    find = "import os\ndef f():\n    return sorted(os.listdir('/dev/shm')), os.path.exists('/dev/planted')"
    first = exercise(sandboxed_worker, f=plant)
    assert first.call("f", (), {}) == ["Read-only file system", "written"]
    first.close()
    later = exercise(sandboxed_worker, f=find)
    assert later.call("f", (), {}) == ([], False)
    later.close()


def test_no_key_passes_between_exercises_through_the_kernel_s_keyrings(sandboxed_worker):
    # keyrings belong to the user namespace, the whole sandbox's, and one worker serves a whole grading run
    keys = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
KEY_SPEC_USER_KEYRING = -4
ADD_KEY = {"x86_64": 248, "aarch64": 217}[os.uname().machine]
def f():
    payload = b"student A's outputs: 0.7311"
    key = libc.syscall(ADD_KEY, b"user", b"left-behind", payload, len(payload), KEY_SPEC_USER_KEYRING)
    return key, ctypes.get_errno()
"""
    ex = exercise(sandboxed_worker, f=keys)
    key, error = ex.call("f", (), {})
    ex.close()
    assert (key, error) == (-1, 1)  # EPERM
    ex = exercise(sandboxed_worker, f="def f():\n    return sum(range(10))")
    assert ex.call("f", (), {}) == 45  # everything else still runs
    ex.close()
