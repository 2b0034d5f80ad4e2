"""The wire between the grader and its grading worker (grader/protocol.py), without a worker process.

Every kind of message, both ways, goes through real frames (:func:`write_frame` then :func:`read_frame`) and comes back
as what was sent. Every kind the grader reads from the worker (which runs the student's code, so may send anything) is
also sent cut short, too long, as bad JSON and with wrong types: each must raise :class:`BadReply`, the one error the
grader turns into "your code ended the grading process" instead of a crash or a forged verdict.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import math

import cloudpickle
import numpy as np
import pytest
import torch
from torch import nn

from grader.protocol import (
    FORK,
    HEADER,
    MAX_FRAME,
    MAX_REPLY,
    STOP,
    BadReply,
    CallbackRef,
    Opaque,
    RemoteError,
    apply_changes,
    apply_state,
    decode,
    decode_call,
    decode_error,
    decode_job,
    decode_message,
    decode_prelude,
    decode_ready,
    decode_setup,
    encode,
    encode_call,
    encode_changes,
    encode_error,
    encode_exit,
    encode_job,
    encode_message,
    encode_prelude,
    encode_ready,
    encode_result,
    encode_return,
    encode_setup,
    encode_state,
    encode_tensor,
    is_callback,
    is_exit,
    leaves_of,
    read_frame,
    rebuild_result,
    rebuild_return,
    serve_callback,
    stream_reader,
    write_frame,
)


def framed(payload: bytes) -> bytes:
    stream = io.BytesIO()
    write_frame(stream, payload)
    return stream.getvalue()


def unframed(data: bytes, limit: int) -> bytes | None:
    return read_frame(stream_reader(io.BytesIO(data)), limit)


def to_worker(payload: bytes) -> bytes:
    """``payload`` as the worker reads it from the grader's frame."""
    return unframed(framed(payload), MAX_FRAME)


def to_grader(message: dict) -> dict:
    """``message`` as the grader reads it from the worker's frame."""
    return decode_message(unframed(framed(encode_message(message)), MAX_REPLY))


def raised_in_an_answer_cell(source: str) -> BaseException:
    try:
        exec(compile(source, "<your answer cell for f>", "exec"), {})  # noqa: S102 - the test's own source
    except BaseException as error:  # noqa: BLE001 - the exception is the point
        return error
    raise AssertionError("the answer cell did not raise")


# --- frames ----------------------------------------------------------------------------------------------------------


def test_a_frame_is_an_8_byte_big_endian_length_then_the_payload():
    assert framed(b"hello") == b"\x00" * 7 + b"\x05hello"
    stream = io.BytesIO(framed(b"one") + framed(b"") + framed(b"three"))
    read = stream_reader(stream)
    assert [read_frame(read, MAX_FRAME) for _ in range(4)] == [b"one", b"", b"three", None]  # None: the stream ended


@pytest.mark.parametrize("cut", [3, HEADER.size + 2])
def test_a_frame_cut_short_is_refused(cut):
    with pytest.raises(BadReply, match="cut short"):
        unframed(framed(b"0123456789")[:cut], MAX_REPLY)


def test_a_frame_longer_than_the_limit_is_refused_before_its_payload_is_read():
    reads = []

    def read_exact(size):
        reads.append(size)
        return HEADER.pack(MAX_REPLY + 1) if len(reads) == 1 else b"x" * size

    with pytest.raises(BadReply, match="more than"):
        read_frame(read_exact, MAX_REPLY)
    assert reads == [HEADER.size]
    assert unframed(framed(b"x" * 100), 100) == b"x" * 100
    with pytest.raises(BadReply):
        unframed(framed(b"x" * 101), 100)


# --- grader -> worker ------------------------------------------------------------------------------------------------


def test_the_prelude_and_the_fork_command_round_trip():
    source = "import torch\nfrom torch import nn\nLABEL = 'é→ü'\n"
    assert decode_prelude(to_worker(encode_prelude(source))) == source
    assert to_worker(FORK) == FORK


def test_a_job_round_trips_with_its_references():
    scale = 3

    def reference(x):
        return scale * x

    answers = [("f", "def f(x):\n    return g(x) + 1"), ("g", "def g(x):\n    return x")]
    callbacks: list = []
    payload = encode_job(answers, {"g": reference}, callbacks)
    got_answers, got_references = decode_job(to_worker(payload))
    assert got_answers == answers
    # the reference stays in the grader: the job names it, the grader keeps it by index
    assert list(got_references) == ["g"] and isinstance(got_references["g"], CallbackRef)
    assert callbacks[got_references["g"].index] is reference
    assert b"scale" not in payload and reference.__code__.co_code not in payload


def _serve(message, callbacks, graphs):
    """The grader's answer to a callback message, as the worker reads it."""
    return cloudpickle.loads(to_worker(serve_callback(to_grader(message), callbacks, graphs)))


def test_a_callback_round_trips_with_its_gradient_and_errors_come_back_as_messages():
    def reference(x, *, scale=1.0):
        return (scale * x**2).sum()

    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    message = {"callback": 0, "name": "g", "args": encode((x,)), "kwargs": encode({"scale": 2.0}), "track": True}
    graphs: list = []
    status, (token, value) = _serve(message, [reference], graphs)
    assert status == "ok" and token == 0 and torch.equal(value, torch.tensor(28.0)) and not value.requires_grad
    backward = {"callback_backward": token, "grads": [encode_tensor(torch.tensor(0.5), grad=False)]}
    status, (_, grads) = _serve(backward, [reference], graphs)
    assert status == "ok" and torch.allclose(grads[0], 0.5 * 2.0 * 2 * x.detach())  # d(2 x^2)/dx times 0.5
    # untracked: no graph kept; the grader's function failing on the student's arguments is the student's error
    untracked = {**message, "track": False}
    assert _serve(untracked, [reference], graphs)[1][0] is None and len(graphs) == 1
    status, text = _serve({**message, "args": encode(("not a tensor",))}, [reference], graphs)
    assert status == "error" and "TypeError" in text


@pytest.mark.parametrize(
    "message",
    [
        {"callback": 5, "args": encode(()), "kwargs": encode({})},
        {"callback": "0", "args": encode(()), "kwargs": encode({})},
        {"callback": 0, "args": encode([1]), "kwargs": encode({})},
        {"callback": 0, "args": encode(()), "kwargs": {"t": "dict", "v": [[1, 2]]}},
        {"callback": 0, "args": {"t": "tensor", "dtype": "evil"}, "kwargs": encode({})},
        {"callback_backward": 3, "grads": []},
        {"callback_backward": 0, "grads": "x"},
        {"callback_backward": 0, "grads": [encode_tensor(torch.ones(2), grad=False)]},
        {"callback_backward": 0, "grads": [encode_tensor(torch.ones(()), grad=False), None]},
    ],
)
def test_a_malformed_callback_is_a_bad_reply(message):
    x = torch.ones(3, requires_grad=True)
    graphs = [([x], (x.sum(),), 0)]
    assert is_callback(message)
    with pytest.raises(BadReply):
        serve_callback(message, [lambda *a, **k: a], graphs)


def test_a_call_round_trips_and_stop_ends_the_exercise():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    x = torch.randn(4, 3, requires_grad=True)
    grad = torch.ones(2, 3)
    name, args, kwargs, grads = decode_call(to_worker(encode_call("step", (net, x), {"lr": 0.1}, [None, grad, None])))
    assert name == "step" and kwargs == {"lr": 0.1}
    assert torch.equal(args[0].weight, net.weight) and torch.equal(args[1], x) and args[1].requires_grad
    assert grads[0] is None and torch.equal(grads[1], grad)
    # the worker enumerates its copies of the arguments in the grader's order
    assert [t.shape for t in leaves_of(args, kwargs)] == [t.shape for t in leaves_of((net, x), {"lr": 0.1})]
    assert decode_call(to_worker(STOP)) is None


@pytest.mark.parametrize(
    "decoder, payload",
    [
        (decode_job, encode_call("f", (), {}, [])),
        (decode_job, STOP),
        (decode_call, encode_job([], {})),
        (decode_call, encode_call("f", [1], {}, [])),
    ],
)
def test_a_grader_message_of_the_wrong_shape_is_refused(decoder, payload):
    with pytest.raises(BadReply):
        decoder(payload)


def test_a_grader_frame_cut_short_or_too_long_is_refused():
    with pytest.raises(BadReply):
        unframed(framed(encode_call("f", (torch.ones(3),), {}, []))[:-1], MAX_FRAME)
    with pytest.raises(BadReply):
        read_frame(lambda size: HEADER.pack(MAX_FRAME + 1), MAX_FRAME)


# --- worker -> grader: every kind round trips ------------------------------------------------------------------------


def test_ready_round_trips():
    assert decode_ready(to_grader(encode_ready())) is None
    why = decode_ready(to_grader(encode_ready(ModuleNotFoundError("No module named 'lesson'"))))
    assert "No module named 'lesson'" in why


def test_setup_round_trips_with_each_answer_cells_error():
    failed = raised_in_an_answer_cell("x = 1\nundefined_name\n")
    errors, defined = decode_setup(to_grader(encode_setup({"g": failed}, ["f"])))
    assert defined == {"f"} and list(errors) == ["g"]
    raised = decode_error(errors["g"], "your answer cell for g failed before defining it: ")
    assert isinstance(raised, NameError)
    assert str(raised).startswith("your answer cell for g failed before defining it: name 'undefined_name'")
    assert str(raised).endswith("(line 2 of your answer cell)")


def test_an_error_keeps_its_type_and_message_but_never_becomes_an_assertion():
    value_error = decode_error(to_grader(encode_error(raised_in_an_answer_cell("raise ValueError('bad label')"))))
    assert isinstance(value_error, ValueError) and str(value_error) == "bad label (line 1 of your answer cell)"
    assertion = decode_error(to_grader(encode_error(raised_in_an_answer_cell("assert False, 'pass me'"))))
    assert isinstance(assertion, RemoteError) and not isinstance(assertion, AssertionError)
    own = decode_error(
        to_grader(
            encode_error(raised_in_an_answer_cell("class ValueError(Exception):\n    pass\nraise ValueError('mine')"))
        )
    )
    assert type(own).__name__ == "ValueError" and isinstance(own, RemoteError) and not isinstance(own, ValueError)
    stop = decode_error(to_grader(encode_error(SystemExit(3))))
    assert isinstance(stop, RemoteError) and str(stop) == "3"


def test_an_exit_round_trips():
    for status in (0, -9, None):
        message = to_grader(encode_exit(status))
        assert is_exit(message) and decode_setup(message) is None
    assert not is_exit(to_grader(encode_ready()))


class _Liar(torch.Tensor):
    def __eq__(self, other):
        return True


VALUES = {
    "none": None,
    "bool": True,
    "str": "x é",
    "int": -3,
    "big int": 2**70,
    "float": 2.5,
    "tensor": torch.arange(6, dtype=torch.float64).reshape(2, 3),
    "0-d tensor": torch.tensor(7),
    "empty tensor": torch.zeros(0, 4),
    "list": [1, [2, "three"]],
    "tuple": (1, (2.5, None)),
    "dict": {"a": 1, 2: [3], None: "n", 1.5: True, False: 0},
    "ndarray": np.arange(6, dtype=np.float32).reshape(3, 2),
    "complex ndarray": np.array([1 + 2j, 3j]),
    "bool ndarray": np.array([True, False]),
}


@pytest.mark.parametrize("name", list(VALUES))
def test_plain_values_round_trip(name):
    value = VALUES[name]
    back = decode(to_grader({"v": encode(value)})["v"])
    assert type(back) is type(value)
    if isinstance(value, torch.Tensor):
        assert torch.equal(back, value) and back.dtype == value.dtype
    elif isinstance(value, np.ndarray):
        assert np.array_equal(back, value) and back.dtype == value.dtype
    else:
        assert back == value


@pytest.mark.parametrize(
    "dtype",
    [
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.bool,
        torch.complex64,
        torch.complex128,
    ],
)
def test_a_tensor_of_every_accepted_dtype_round_trips(dtype):
    value = (torch.arange(12).reshape(3, 4) % 3).to(dtype)
    back = decode(to_grader({"v": encode_tensor(value)})["v"])
    assert back.dtype == dtype and torch.equal(back, value)


def test_special_values_round_trip():
    floats = decode(to_grader({"v": encode([math.nan, math.inf, -math.inf])})["v"])
    assert math.isnan(floats[0]) and floats[1:] == [math.inf, -math.inf]
    leaf = torch.randn(3, requires_grad=True)
    leaf.grad = torch.ones(3)
    back = decode(to_grader({"v": encode(leaf)})["v"])
    assert back.requires_grad and torch.equal(back, leaf.detach()) and torch.equal(back.grad, leaf.grad)
    meta = decode(to_grader({"v": encode(torch.empty(2, 3, device="meta"))})["v"])
    assert meta.device.type == "meta" and meta.shape == (2, 3)
    scalars = decode(to_grader({"v": encode([np.float32(1.5), np.int16(-2), np.bool_(True)])})["v"])
    assert scalars == [1.5, -2, True] and [type(s) for s in scalars] == [np.float64, np.int64, np.int64]
    liar = decode(to_grader({"v": encode(torch.zeros(3).as_subclass(_Liar))})["v"])
    assert type(liar) is torch.Tensor and not torch.equal(liar, torch.ones(3))
    opaque = decode(to_grader({"v": encode(object())})["v"])
    assert isinstance(opaque, Opaque) and type(opaque).__name__ == "object"
    nested = "deep"
    for _ in range(15):
        nested = [nested]
    back = decode(to_grader({"v": encode(nested)})["v"])
    while isinstance(back, list):
        back = back[0]
    assert isinstance(back, Opaque) and type(back).__name__ == "deeplynestedvalue"


class Recorder:
    """A loss function that remembers what it saw: an object whose plain attributes the worker changes."""

    def __init__(self):
        self.calls, self.weight = [], 1.0


def _stepped(D: nn.Module, opt: torch.optim.Optimizer, real: torch.Tensor, recorder: Recorder) -> torch.Tensor:
    """A training step, as the student's function runs it in the worker."""
    opt.zero_grad()
    loss = D(real).pow(2).mean()
    recorder.calls.append(loss.detach().clone())
    recorder.weight = 0.5
    loss.backward()
    opt.step()
    D.eval()
    real.mul_(2)
    return loss


def test_the_state_of_every_kind_of_argument_round_trips():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    D.note = "kept"
    opt = torch.optim.Adam(D.parameters(), lr=0.1)
    real, recorder = torch.randn(6, 3), Recorder()
    args = (D, opt, real, recorder, len)
    theirs = copy.deepcopy(args[:4])  # the worker's copies (cloudpickle in the real wire)
    theirs[0].note = "changed"
    _stepped(*theirs)
    for mine, state in zip(args, to_grader({"args": [encode_state(a) for a in (*theirs, len)]})["args"]):
        apply_state(mine, state)
    for p, q in zip([*D.parameters(), *D.buffers()], [*theirs[0].parameters(), *theirs[0].buffers()]):
        assert torch.equal(p, q)
    assert all(
        p.grad is not None and torch.equal(p.grad, q.grad) for p, q in zip(D.parameters(), theirs[0].parameters())
    )
    assert not D.training and not D[1].training and D.note == "changed"
    assert int(opt.state_dict()["state"][0]["step"]) == 1
    for mine, their in zip(opt.state_dict()["state"].values(), theirs[1].state_dict()["state"].values()):
        assert torch.equal(mine["exp_avg"], their["exp_avg"])
    assert torch.equal(real, theirs[2])
    assert recorder.weight == 0.5 and len(recorder.calls) == 1 and torch.equal(recorder.calls[0], theirs[3].calls[0])


def test_a_result_round_trips_differentiable_and_an_in_place_change_follows():
    torch.manual_seed(0)
    x = torch.randn(4, requires_grad=True)
    w = nn.Linear(4, 2)
    worker_x, worker_w = copy.deepcopy(x), copy.deepcopy(w)
    worker_leaves, returned_worker = leaves_of((worker_x, worker_w), {}), []
    cache = torch.zeros(3)
    out = (worker_w(worker_x) ** 2, cache, "done")
    reply = to_grader(encode_result(out, (worker_x, worker_w), {}, worker_leaves, returned_worker))

    mine, returned = leaves_of((x, w), {}), []
    value, cached, text = rebuild_result(reply, (x, w), {}, mine, returned)
    assert text == "done" and torch.equal(value, out[0].detach()) and torch.equal(cached, cache)
    value.sum().backward()
    expected = torch.autograd.grad(out[0].sum(), worker_leaves)
    assert all(torch.allclose(leaf.grad, g) for leaf, g in zip(mine, expected))

    cache.fill_(2.0)  # a later call refills the cache it handed out
    changes = to_grader({"changed": encode_changes(returned_worker, len(returned_worker))})["changed"]
    apply_changes(changes, returned)
    assert torch.equal(cached, torch.full((3,), 2.0))
    assert rebuild_return(to_grader({"r": encode_return([1, 2.5], [], [])})["r"], []) == [1, 2.5]


def test_a_result_that_is_the_students_exception_raises_it():
    reply = to_grader({**encode_error(raised_in_an_answer_cell("raise NotImplementedError()")), "stdout": ""})
    with pytest.raises(NotImplementedError):
        rebuild_result(reply, (), {}, [], [])


# --- worker -> grader: every kind, malformed -------------------------------------------------------------------------

ONE = encode_tensor(torch.ones(2))
WORKER_MESSAGES = {  # a valid message of each kind, and how the grader reads it
    "ready": (encode_ready(), decode_ready),
    "setup": (encode_setup({"g": ValueError("x")}, ["f"]), decode_setup),
    "result": (
        {"return": ONE, "args": [{"t": "none"}], "kwargs": {}, "changed": [], "stdout": ""},
        lambda message: rebuild_result(message, (3,), {}, [], []),
    ),
    "error": (encode_error(ValueError("x")), decode_error),
    "exit": (encode_exit(0), is_exit),
}


@pytest.mark.parametrize("kind", list(WORKER_MESSAGES))
def test_every_worker_message_is_refused_cut_short_too_long_or_not_json(kind):
    message, read = WORKER_MESSAGES[kind]
    read(to_grader(message))  # the valid message reads
    frame = framed(encode_message(message))
    for cut in (1, HEADER.size, len(frame) - 1):  # in the length, right after it, in the payload
        with pytest.raises(BadReply, match="cut short"):
            unframed(frame[:cut], MAX_REPLY)
    with pytest.raises(BadReply):
        unframed(HEADER.pack(MAX_REPLY + 1) + frame[HEADER.size :], MAX_REPLY)
    payload = encode_message(message)
    for bad in (payload[:-1], payload.replace(b"{", b"(", 1), b"\xff" + payload, b"[" * 100_000, b"[1, 2]", b'"x"'):
        with pytest.raises(BadReply):
            decode_message(bad)


def tensor(**change) -> dict:
    return {**ONE, **change}


WRONG_TYPES = {
    "ready": [{"ready": "yes"}, {"ready": 1}, {}],
    "setup": [
        {"setup": [], "defined": []},
        {"setup": {}, "defined": "f"},
        {"setup": {}, "defined": [1]},
        {"setup": {"g": "ValueError"}, "defined": []},
        {"setup": {}},
        {"setup": {"g": {"error": 1, "message": "m", "builtin": True}}, "defined": []},
    ],
    "result": [
        {"args": [{"t": "none"}], "kwargs": {}},  # no return value
        {"return": 1, "args": {"0": {"t": "none"}}, "kwargs": {}},
        {"return": 1, "args": [], "kwargs": {}},  # one argument was sent
        {"return": 1, "args": [{"t": "none"}], "kwargs": []},
        {"return": 1, "args": ["none"], "kwargs": {}},
        {"return": 1, "args": [{"t": "pickle"}], "kwargs": {}},
        {"return": 1, "args": [{"t": "none"}], "kwargs": {}, "changed": [[0, ONE]]},  # no earlier result
        {"return": 1, "args": [{"t": "none"}], "kwargs": {}, "changed": [["0", ONE]]},
        {"return": {"t": "pickle", "v": "gASV"}, "args": [{"t": "none"}], "kwargs": {}},
        {"return": tensor(ref=5), "args": [{"t": "none"}], "kwargs": {}},  # results out of order
    ],
    "error": [
        {"error": 5, "message": "m", "builtin": True},
        {"error": "ValueError", "message": ["m"], "builtin": True},
        {"error": "ValueError", "message": "m", "builtin": "yes"},
        {"error": "ValueError"},
    ],
    "exit": [{"exited": "0"}, {"exited": [0]}, {"exited": 0.5}],
}


@pytest.mark.parametrize("kind, index", [(kind, i) for kind, bad in WRONG_TYPES.items() for i in range(len(bad))])
def test_every_worker_message_with_wrong_types_is_refused(kind, index):
    _, read = WORKER_MESSAGES[kind]
    with pytest.raises(BadReply):
        read(to_grader(WRONG_TYPES[kind][index]))


FORGED_VALUES = [
    {"t": "pickle", "v": "gASV"},
    {"t": "tensor", "dtype": "object", "shape": [1], "data": ""},
    tensor(data=base64.b64encode(b"1234").decode()),  # 4 bytes for 2 float32
    tensor(data="not base64!"),
    tensor(data=12),
    tensor(shape=[-1]),
    tensor(shape="2"),
    tensor(shape=[2.0]),
    tensor(shape=[10**5, 10**5]),
    tensor(shape=[1] * 17),
    tensor(grad={"t": "tensor", "dtype": "float32"}),
    {"t": "dict", "v": [[{"t": "list", "v": []}, 1]]},
    {"t": "dict", "v": {"a": 1}},
    {"t": "dict", "v": [[1]]},
    ["not", "a", "node"],
    {"t": "list", "v": "abc"},
    {"t": 3},
    {"v": 1},
    {"t": "ndarray", "dtype": "|O", "shape": [1], "data": ""},
    {"t": "ndarray", "dtype": "garbage", "shape": [1]},
    {"t": "ndarray", "dtype": "<f4", "shape": [2], "data": "AAAA"},
    {"t": "ndarray", "dtype": "<f4", "shape": None},
    {"t": "float", "v": "1e999x"},
    {"t": "npscalar", "v": "1"},
    {"t": "npscalar", "v": [1]},
    {"t": "list", "v": [1] * 100_001},  # too many parts
]


@pytest.mark.parametrize("node", FORGED_VALUES, ids=range(len(FORGED_VALUES)))
def test_forged_values_are_refused(node):
    with pytest.raises(BadReply):
        decode(to_grader({"v": node})["v"])


def test_values_nested_too_deeply_are_refused():
    node = 1
    for _ in range(20):
        node = {"t": "list", "v": [node]}
    with pytest.raises(BadReply, match="nested too deeply"):
        decode(to_grader({"v": node})["v"])


def test_forged_states_and_results_are_refused():
    with pytest.raises(BadReply):
        apply_state(nn.Linear(2, 2), {"t": "module_state", "params": [], "buffers": []})
    with pytest.raises(BadReply):
        apply_state(nn.Linear(2, 2), {"t": "module_state", "params": [ONE, ONE], "buffers": [], "training": 1})
    with pytest.raises(BadReply):
        apply_state(nn.Linear(2, 2), {"t": "module_state", "params": ["w", "b"], "buffers": []})
    with pytest.raises(BadReply):
        apply_state(torch.zeros(2), {"t": "tensor_state", "v": 3})
    with pytest.raises(BadReply):
        apply_state(
            torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1),
            {"t": "optimizer_state", "v": encode({"state": {}, "param_groups": []})},
        )
    with pytest.raises(BadReply):
        apply_state(object(), "module_state")
    with pytest.raises(BadReply):
        rebuild_return(
            {
                "t": "tensor",
                "dtype": "float32",
                "shape": [2],
                "device": "cpu",
                "rg": True,
                "data": base64.b64encode(torch.ones(2).numpy().tobytes()).decode(),
                "graph": [encode(torch.ones(3))],
            },
            [torch.ones(2, requires_grad=True)],
        )
    with pytest.raises(BadReply):
        apply_changes([[0, {"t": "list", "v": []}]], [torch.zeros(2)])
    with pytest.raises(BadReply):
        apply_changes("[0, 1]", [torch.zeros(2)])


def test_forged_replies_are_refused():
    for node in (
        {"t": "pickle", "v": "gASV"},
        {"t": "tensor", "dtype": "object", "shape": [1], "data": ""},
        {"t": "tensor", "dtype": "float32", "shape": [4], "data": base64.b64encode(b"1234").decode()},
        {"t": "dict", "v": [[{"t": "list", "v": []}, 1]]},
        ["not", "a", "node"],
        {"t": "ndarray", "dtype": "|O", "shape": [1], "data": ""},
    ):
        with pytest.raises(BadReply):
            decode(node)
    with pytest.raises(BadReply):
        apply_state(nn.Linear(2, 2), {"t": "module_state", "params": [], "buffers": []})
    with pytest.raises(BadReply):
        rebuild_return(
            {
                "t": "tensor",
                "dtype": "float32",
                "shape": [2],
                "device": "cpu",
                "rg": True,
                "data": base64.b64encode(torch.ones(2).numpy().tobytes()).decode(),
                "graph": [encode(torch.ones(3))],
            },
            [torch.ones(2, requires_grad=True)],
        )


def test_plain_data_round_trips():
    value = (
        torch.arange(6, dtype=torch.float64).reshape(2, 3),
        3,
        2.5,
        float("nan"),
        "x",
        None,
        [True, {"a": 1}],
        torch.zeros(0),
        torch.tensor(7),
        torch.empty(2, 3, device="meta"),
    )
    back = decode(json.loads(json.dumps(encode(value))))
    assert torch.equal(back[0], value[0]) and back[1:3] == (3, 2.5) and back[3] != back[3]
    assert back[4:7] == ("x", None, [True, {"a": 1}]) and back[7].shape == (0,) and int(back[8]) == 7
    assert back[9].device.type == "meta" and back[9].shape == (2, 3)
    assert type(decode(encode(object()))).__name__ == "object"


def test_a_plain_json_reply_is_what_the_worker_sends():
    """The worker's messages are JSON text: nothing in them is code the grader could be made to run."""
    reply = encode_result((torch.ones(2), {"k": np.float32(1)}), (nn.Linear(2, 1),), {}, [], [])
    assert json.loads(encode_message(reply)) == reply


def test_an_argument_whose_shape_or_dtype_changed_in_the_worker_is_refused_and_the_graders_copy_kept():
    from grader.protocol import assign_tensor

    mine = torch.arange(6.0)
    for changed in (torch.arange(3.0), torch.arange(6, dtype=torch.float64), torch.zeros(2, 3)):
        with pytest.raises(BadReply, match=r"changed from \(6,\) float32 to"):
            assign_tensor(mine, to_grader({"v": encode_tensor(changed)})["v"])
    assert torch.equal(mine, torch.arange(6.0))
    assign_tensor(mine, to_grader({"v": encode_tensor(torch.ones(6))})["v"])  # the same shape: the new values
    assert torch.equal(mine, torch.ones(6))


@pytest.mark.parametrize(
    "payload",
    [b'{"exited": ' + b"9" * 5000 + b"}", b"[" * 100_000 + b"]" * 100_000, b'{"a": "\xff"}', b"\x00", b"NaN"],
    ids=["huge integer", "deep nesting", "bad utf-8", "binary", "not an object"],
)
def test_any_reply_the_json_decoder_cannot_read_is_a_bad_reply(payload):
    with pytest.raises(BadReply):
        decode_message(payload)
