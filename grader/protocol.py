"""The wire between the grader and its grading worker: every message both ways, each encoder beside its decoder.

The worker (:mod:`grader.worker`) runs a student's answer cells in the bubblewrap sandbox; the grader
(:mod:`grader.remote`) decides the score. They talk over the worker's stdin and stdout in frames: an 8-byte
big-endian length, then the payload (:func:`write_frame`, :func:`read_frame`).

grader -> worker, trusted by the worker (cloudpickle: the test's own inputs, networks, optimizers, loss functions):

- the prelude, once: the lesson's imports and definitions, as UTF-8 source (:func:`encode_prelude`);
- :data:`FORK`, then one exercise's job: the student's answer cells and the references they may call
  (:func:`encode_job`);
- calls ``(name, args, kwargs, grads)`` (:func:`encode_call`), then :data:`STOP`;
- the answer to a callback: the result of one of the grader's own functions, or the gradients of an earlier one
  (:func:`serve_callback`). No function of the grader's (a reference, a loss a test passes) is ever sent: a
  :class:`CallbackRef` takes its place, and the worker calls back (:func:`callback_proxy`).

worker -> grader, never trusted (the student's code runs in the worker and can write anything into its pipe): JSON
objects of plain data, at most :data:`MAX_REPLY` bytes, checked field by field; anything else raises
:class:`BadReply`.

- ready: ``{"ready": true}``, or false with the error that stopped the prelude (:func:`encode_ready`);
- setup: the errors of the answer cells and the functions they defined (:func:`encode_setup`);
- result: the return value, the state of every argument afterwards and the earlier results this call changed in
  place (:func:`encode_result`), or the student's exception (:func:`encode_error`), with the printed text;
- exit: the exit status of a worker child that ended (:func:`encode_exit`);
- callback: run the grader's function ``index`` on these arguments, or its backward pass with these gradients
  (:func:`callback_proxy`'s messages, :func:`is_callback`), inside a call that is under way.

Values are numbers, strings, lists, dicts and tensors as raw bytes with a dtype and a shape (:func:`encode`). The
grader rebuilds every tensor itself, as an exact ``torch.Tensor`` (never a subclass the student made), so nothing a
student returns can run code in the grader or lie in a comparison.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import json
import math
import os
import struct
import traceback
from collections.abc import Callable
from typing import Any

import cloudpickle
import numpy as np
import torch
from torch import nn


class BadReply(ValueError):
    """A frame or message that is not in the expected form (the student's code wrote something else)."""


# -- frames ------------------------------------------------------------------------------------------------------------

HEADER = struct.Struct(">Q")  # the payload's length in bytes
MAX_FRAME = 512 << 20  # bytes: the most the worker reads in one frame (the grader's arguments)
MAX_REPLY = 64 << 20  # bytes: the most the grader reads in one frame (a test's results are small)
# The grader makes each exercise's working folder (a copy of the submission) in the worker's scratch folder under this
# prefix before it asks for the fork; the worker's child takes it into its own memory (grader.worker.Namespaces).
WORK_PREFIX = "work-"


def write_frame(stream, payload: bytes) -> None:
    """Write ``payload`` as one frame to ``stream`` (a binary file) and flush it."""
    stream.write(HEADER.pack(len(payload)) + payload)
    stream.flush()


def read_frame(read_exact: Callable[[int], bytes], limit: int) -> bytes | None:
    """The payload of the next frame, or None when the stream ended before it.

    Args:
        read_exact: ``read_exact(n)`` returns n bytes, or fewer only when the stream ended.
        limit: the largest payload accepted, in bytes; the length is checked before anything else is read.

    Raises:
        BadReply: a frame cut short, or longer than ``limit``.
    """
    head = read_exact(HEADER.size)
    if not head:
        return None
    if len(head) < HEADER.size:
        raise BadReply("a frame cut short in its length")
    (size,) = HEADER.unpack(head)
    if size > limit:
        raise BadReply(f"a reply of {size} bytes, more than {limit}: return small tensors")
    payload = read_exact(size)
    if len(payload) < size:
        raise BadReply(f"a frame cut short: {len(payload)} of its {size} bytes")
    return payload


def stream_reader(stream) -> Callable[[int], bytes]:
    """A ``read_exact`` for :func:`read_frame` over a blocking binary ``stream``."""

    def read_exact(size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = stream.read(left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    return read_exact


# -- grader -> worker (cloudpickle: the worker may trust the grader, not the reverse) --------------------------------

FORK = b"fork"  # the command that makes the worker fork a child for one exercise; any other frame ends the worker
NEXT = b"next"  # in place of FORK: this notebook is graded; a new prelude follows (the next notebook, same worker)


def encode_prelude(source: str) -> bytes:
    """The lesson's imports and definitions (Python source), run once in the worker before any fork."""
    return source.encode()


def decode_prelude(payload: bytes) -> str:
    return payload.decode()


def encode_job(answers: list[tuple[str, str]], references: dict[str, Any], callbacks: list | None = None) -> bytes:
    """One exercise: ``answers`` are ``(exercise name, source)`` of the student's cells, in the order they run;
    ``references`` are the instructor's functions bound by name before they run. No function of the grader's travels:
    each becomes a :class:`CallbackRef` (registered in ``callbacks``) that runs in the grader when called."""
    callbacks = [] if callbacks is None else callbacks
    return cloudpickle.dumps({"answers": answers, "references": externalize(references, callbacks)})


def decode_job(payload: bytes) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    job = cloudpickle.loads(payload)
    if type(job) is not dict or type(job.get("answers")) is not list or type(job.get("references")) is not dict:
        raise BadReply("a job that is not {'answers': [...], 'references': {...}}")
    return job["answers"], job["references"]


def encode_call(name: str, args: tuple, kwargs: dict, grads: list, callbacks: list | None = None) -> bytes:
    """A call of the student's function ``name``; ``grads`` are the ``.grad`` of :func:`leaves_of` ``(args, kwargs)``
    (None for a leaf without one), which cloudpickle does not carry with the tensors. A function among the arguments
    (a loss the test passes) stays in the grader: a :class:`CallbackRef` registered in ``callbacks`` travels instead."""
    callbacks = [] if callbacks is None else callbacks
    return cloudpickle.dumps((name, externalize(args, callbacks), externalize(kwargs, callbacks), grads))


STOP = cloudpickle.dumps(None)  # in place of a call: the exercise is over, the worker child exits


def decode_call(payload: bytes) -> tuple[str, tuple, dict, list] | None:
    """``(name, args, kwargs, grads)`` of :func:`encode_call`, or None for :data:`STOP`."""
    call = cloudpickle.loads(payload)
    if call is None:
        return None
    if (
        type(call) is not tuple
        or len(call) != 4
        or type(call[0]) is not str
        or type(call[1]) is not tuple
        or type(call[2]) is not dict
        or type(call[3]) is not list
    ):
        raise BadReply("a call that is not (name, args, kwargs, grads)")
    return call


# -- worker -> grader: JSON objects ----------------------------------------------------------------------------------


def encode_message(message: dict) -> bytes:
    return json.dumps(message).encode()


def decode_message(payload: bytes) -> dict:
    """The JSON object in a frame from the worker. Raises :class:`BadReply` for anything else."""
    try:
        message = json.loads(payload)
    except (ValueError, RecursionError, MemoryError) as error:  # bad JSON, bad UTF-8, a 5,000-digit integer, nesting
        raise BadReply("a reply that is not JSON") from error
    if type(message) is not dict:
        raise BadReply("a reply that is not an object")
    return message


def encode_error(error: BaseException) -> dict:
    """The student's exception as plain data: its class name, message (with the line of the answer cell it came
    from) and whether it is a built-in exception class."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith("<your answer")]
    where = f" (line {frames[-1].lineno} of your answer cell)" if frames else ""
    if frames and isinstance(error, NotImplementedError):  # a stub: which one, where an exercise calls another
        where = f" (line {frames[-1].lineno} of {frames[-1].filename.strip('<>')})"
    return {
        "error": type(error).__name__[:80],
        "message": f"{str(error)[:2000]}{where}",
        "builtin": isinstance(error, Exception) and getattr(builtins, type(error).__name__, None) is type(error),
    }


class RemoteError(Exception):
    """An exception the student's code raised in the worker (its class is named after the original)."""


def _check_error(node: Any) -> None:
    if (
        type(node) is not dict
        or type(node.get("error")) is not str
        or type(node.get("message")) is not str
        or type(node.get("builtin")) is not bool
    ):
        raise BadReply("an error that is not {'error': str, 'message': str, 'builtin': bool}")


def decode_error(node: Any, prefix: str = "") -> Exception:
    """The exception :func:`encode_error` described, for the grader to raise, its message after ``prefix``: a
    subclass of the built-in class of that name when the student's was one (``ValueError``, ``NotImplementedError``),
    else of :class:`RemoteError`, and never an ``AssertionError`` (a test cell would take it for its own check)."""
    _check_error(node)
    clean = "".join(ch for ch in node["error"] if ch.isalnum() or ch == "_")[:80] or "Exception"
    base = getattr(builtins, clean, None) if node["builtin"] else None
    if not (isinstance(base, type) and issubclass(base, Exception)) or issubclass(base, AssertionError):
        base = RemoteError
    return type(clean, (base,), {})(prefix + node["message"])


def encode_ready(error: BaseException | None = None) -> dict:
    """The worker ran the prelude and waits for jobs; or ``error`` stopped the prelude."""
    return {"ready": True} if error is None else {"ready": False, **encode_error(error)}


def decode_ready(message: dict) -> str | None:
    """None when the worker is ready; else why it is not (the error's message, empty when it sent none)."""
    if message.get("ready") is True:
        return None
    if message.get("ready") is not False:
        raise BadReply("a first message that is not {'ready': true or false}")
    return str(message.get("message") or "")


def encode_setup(errors: dict[str, BaseException], defined: list[str]) -> dict:
    """The answer cells have run: the exception of each one that raised (by exercise name), and which exercises'
    functions they defined (a cell that fails after its ``def`` still defines the function, as in a notebook)."""
    return {"setup": {name: encode_error(error) for name, error in errors.items()}, "defined": defined}


def decode_setup(message: dict) -> tuple[dict[str, dict], set[str]] | None:
    """``(errors, defined)`` of :func:`encode_setup` (each error still encoded: :func:`decode_error` raises it), or
    None when the child ended instead (an :func:`encode_exit` message: the answer cells killed it)."""
    if is_exit(message):
        return None
    errors, defined = message.get("setup"), message.get("defined")
    if type(errors) is not dict:
        raise BadReply("a setup message without the answer cells' errors")
    for error in errors.values():
        _check_error(error)
    if type(defined) is not list or not all(type(name) is str for name in defined):
        raise BadReply("a setup message without the names the answer cells defined")
    return errors, set(defined)


def encode_exit(status: int | None) -> dict:
    """A worker child ended with exit ``status`` (None: the grader stopped waiting for it)."""
    return {"exited": status}


def is_exit(message: dict) -> bool:
    """Whether ``message`` is :func:`encode_exit`'s: the worker child is gone."""
    if "exited" not in message:
        return False
    if message["exited"] is not None and type(message["exited"]) is not int:
        raise BadReply("an exit status that is not a number")
    return True


# -- values ----------------------------------------------------------------------------------------------------------

# The dtypes a tensor may come back in (by name): anything else is refused.
DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (
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
    )
}
MAX_DEPTH = 12
MAX_ITEMS = 100_000
MAX_ELEMENTS = 50_000_000  # of one tensor or array that comes back


def _raw_bytes(data: Any) -> bytes:
    """The bytes of a tensor or array (base64 text, as :func:`encode` writes them)."""
    if type(data) is not str:
        raise BadReply("tensor or array bytes that are not base64 text")
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        raise BadReply("tensor or array bytes that are not base64 text") from None


def _tensor_bytes(t: torch.Tensor) -> tuple[str, list[int], str]:
    plain = torch.Tensor.as_subclass(t.detach(), torch.Tensor)
    dtype = str(plain.dtype).removeprefix("torch.")
    if plain.device.type == "meta":
        return dtype, list(plain.shape), ""
    data = plain.cpu().contiguous()
    raw = data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b""
    return dtype, list(data.shape), base64.b64encode(raw).decode()


def encode_tensor(t: torch.Tensor, *, grad: bool = True) -> dict:
    """``t`` as plain data: dtype, shape, device type, requires_grad, bytes, and its ``.grad`` (also encoded)."""
    dtype, shape, data = _tensor_bytes(t)
    node = {
        "t": "tensor",
        "dtype": dtype,
        "shape": shape,
        "device": t.device.type,
        "rg": bool(t.requires_grad),
        "data": data,
        "sub": None if type(t) in (torch.Tensor, torch.nn.Parameter) else type(t).__name__,
    }
    if grad and t.is_leaf and t.grad is not None:
        node["grad"] = encode_tensor(t.grad, grad=False)
    return node


def _decode_tensor(node: dict) -> torch.Tensor:
    """A new, exact ``torch.Tensor`` (on the CPU, or the meta device) from :func:`encode_tensor`'s node, without its
    ``.grad`` (:func:`decode` adds it). Raises :class:`BadReply` for an unknown dtype, a bad or huge shape, or bytes
    that do not fit the shape."""
    dtype = DTYPES.get(node.get("dtype"))
    shape = node.get("shape")
    if dtype is None or not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
        raise BadReply("a tensor with an unknown dtype or shape")
    if len(shape) > 16 or math.prod(shape) > MAX_ELEMENTS:
        raise BadReply("a tensor that is too large")
    if node.get("device") == "meta":
        t = torch.empty(shape, dtype=dtype, device="meta")
    else:
        raw = _raw_bytes(node.get("data") or "")
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise BadReply("a tensor whose bytes do not match its shape")
        t = (
            torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape).clone()
            if raw
            else torch.empty(shape, dtype=dtype)
        )
    if node.get("rg") is True and (dtype.is_floating_point or dtype.is_complex):
        t.requires_grad_(True)
    return t


def encode(value: Any, depth: int = 0) -> Any:
    """A student's value as plain data (worker side). Objects that are not data become an ``opaque`` marker that keeps
    only their type name, so that a message can say "returned a <type>"."""
    if depth > MAX_DEPTH:
        return {"t": "opaque", "type": "deeply nested value"}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and type(value) in (int, float):
        return value if not isinstance(value, float) or math.isfinite(value) else {"t": "float", "v": repr(value)}
    if isinstance(value, torch.Tensor):
        return encode_tensor(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return {
            "t": "ndarray",
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "data": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode(),
        }
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return {"t": "npscalar", "v": encode(value.item(), depth + 1), "type": type(value).__name__}
    if type(value) in (list, tuple):
        return {"t": type(value).__name__, "v": [encode(v, depth + 1) for v in value]}
    if type(value) is dict:
        return {
            "t": "dict",
            "v": [
                [encode(k, depth + 1), encode(v, depth + 1)]
                for k, v in value.items()
                if k is None or type(k) in (str, int, float, bool)
            ],
        }
    return {"t": "opaque", "type": type(value).__name__[:80]}


class Opaque:
    """Stands for an object the student's function returned that is not data; ``type(x).__name__`` is its type."""

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _opaque(name: Any) -> Opaque:
    name = "".join(ch for ch in str(name) if ch.isalnum() or ch == "_")[:80] or "object"
    return type(name, (Opaque,), {})()


def decode_tensor(node: dict) -> torch.Tensor:
    """A new, exact ``torch.Tensor`` from :func:`encode_tensor`'s node (:func:`_decode_tensor`); whatever goes wrong
    on the way (an overflowing shape, a dtype NumPy or torch refuses) is a :class:`BadReply`."""
    return _untrusted(_decode_tensor, node)


def decode(node: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """The plain value :func:`encode` made (grader side), rebuilt by :func:`_decode`. Any failure on the way (an
    integer too large for a float, a shape that overflows, a dtype NumPy cannot parse) is a :class:`BadReply`: a
    reply is never trusted to fail only in the ways the decoder expects."""
    return _untrusted(_decode, node, depth, budget)


def _untrusted(function, *args):
    try:
        return function(*args)
    except BadReply:
        raise
    except Exception as error:  # noqa: BLE001 - anything a crafted value makes the decoder raise
        raise BadReply(f"a value that cannot be read ({type(error).__name__})") from None


def _decode(node: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """The plain value :func:`encode` made (grader side). Tensors come back as new, exact ``torch.Tensor`` objects,
    with their ``.grad`` (``node["grad"]``) where one was sent. Raises :class:`BadReply` for anything else."""
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if depth > MAX_DEPTH + 2 or budget[0] < 0:
        raise BadReply("a value nested too deeply or with too many parts")
    if node is None or type(node) in (bool, str, int, float):
        return node
    if type(node) is not dict or type(node.get("t")) is not str:
        raise BadReply(f"a {type(node).__name__} where plain data was expected")
    kind = node["t"]
    if kind == "tensor":
        t = _decode_tensor(node)
        if isinstance(node.get("grad"), dict):
            grad = _decode_tensor(node["grad"])
            if grad.shape == t.shape and grad.dtype == t.dtype and t.is_leaf:
                t.grad = grad
        return t
    if kind == "float":
        if node.get("v") not in ("nan", "inf", "-inf"):
            raise BadReply("a float that is not a number")
        return float(node["v"])
    if kind == "ndarray":
        try:
            dtype = np.dtype(str(node.get("dtype")))
        except TypeError:
            raise BadReply("a NumPy array with an unknown dtype") from None
        if dtype.kind not in "biufc":
            raise BadReply("a NumPy array of objects")
        shape = node.get("shape")
        if (
            not isinstance(shape, list)
            or not all(type(s) is int and s >= 0 for s in shape)
            or math.prod(shape) > MAX_ELEMENTS
        ):
            raise BadReply("a NumPy array with a bad shape")
        raw = _raw_bytes(node.get("data") or "")
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise BadReply("a NumPy array whose bytes do not match its shape")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if kind == "npscalar":
        value = _decode(node.get("v"), depth + 1, budget)
        if type(value) not in (bool, int, float):
            raise BadReply("a NumPy scalar that is not a number")
        return np.float64(value) if isinstance(value, float) else np.int64(value)
    if kind in ("list", "tuple"):
        items = node.get("v")
        if type(items) is not list:
            raise BadReply("a list that is not a list")
        values = [_decode(v, depth + 1, budget) for v in items]
        return values if kind == "list" else tuple(values)
    if kind == "dict":
        pairs = node.get("v")
        if type(pairs) is not list or not all(type(p) is list and len(p) == 2 for p in pairs):
            raise BadReply("a dict that is not a list of pairs")
        out = {}
        for k, v in pairs:
            key = _decode(k, depth + 1, budget)
            if not (key is None or type(key) in (str, int, float, bool)):
                raise BadReply("a dict key that is not a number or a string")
            out[key] = _decode(v, depth + 1, budget)
        return out
    if kind == "opaque":
        return _opaque(node.get("type"))
    raise BadReply(f"an unknown kind of value {kind[:40]!r}")


def leaves_of(args: tuple, kwargs: dict, *, modules: bool = True) -> list[torch.Tensor]:
    """Every tensor in ``args``/``kwargs`` (one level into lists, tuples and dicts) and every parameter of every
    module among them (unless ``modules`` is false), in a fixed order: both ends enumerate their own copies of the
    arguments this way."""
    out: list[torch.Tensor] = []

    def walk(value, depth):
        if isinstance(value, torch.Tensor):
            out.append(value)
        elif isinstance(value, nn.Module) and modules:
            out.extend(value.parameters())
        elif type(value) in (list, tuple) and depth < 2:
            for item in value:
                walk(item, depth + 1)
        elif type(value) is dict and depth < 2:
            for key in value:
                walk(value[key], depth + 1)

    for arg in args:
        walk(arg, 0)
    for key in sorted(kwargs):
        walk(kwargs[key], 0)
    return out


# -- callbacks: the grader's own functions, called from the worker, run in the grader ---------------------------------
#
# A reference the student's answer calls (another exercise's function, ``_GRADING_REFERENCES``) or a function a test
# passes (a loss that records what it is given) never enters the worker: the worker gets a proxy. Calling it sends
# ``{"callback": index, "args", "kwargs", "track"}``; the grader runs its function on the decoded arguments and answers
# ``("ok", (token, result))`` (cloudpickle, plain tensors and numbers) or ``("error", message)``. When the arguments
# need gradients, the proxy is an autograd function: its backward sends ``{"callback_backward": token, "grads"}`` and
# the grader answers with the gradients of its own graph for each argument tensor. Both frames ride inside the call
# that is under way: the fork server relays them as it relays any reply, one frame from the grader per frame sent.


MAX_GRAPHS = 256  # differentiable callbacks one call may make (each keeps its graph until the call ends)
CALLBACK_MEMORY = 2 << 30  # bytes of address space one run of a grader's function may add (RLIMIT_AS, Linux)
MAX_SAVED = 25_000_000  # numbers those graphs may keep in all (100 MB of float32); the lessons' stay under 100,000


class CallbackRef:
    """In a job or a call, the place of one of the grader's functions (:func:`externalize`): the worker binds a proxy
    to it (:func:`callback_proxy`)."""

    def __init__(self, index: int, name: str):
        self.index, self.name = index, name


def runs_in_worker(value: Any) -> bool:
    """Whether a callable may travel into the worker by value: a network, an optimizer, a class, or PyTorch's own
    functions (nothing of a test's or a reference's code)."""
    if isinstance(value, (nn.Module, torch.optim.Optimizer, type)):
        return True
    module = getattr(value, "__module__", None)
    return isinstance(module, str) and module.split(".")[0] == "torch" and not hasattr(value, "__wrapped__")


def stays_in_grader(value: Any) -> bool:
    """One of the grader's functions, which :func:`externalize` keeps in the grader: what the worker reports of its
    proxy's state is never taken (:func:`rebuild_result`; a loss that records what it is given records it here)."""
    return callable(value) and not runs_in_worker(value)


def externalize(value: Any, callbacks: list, depth: int = 0) -> Any:
    """``value`` with each of the grader's functions in it (one level into lists, tuples and dicts) replaced by a
    :class:`CallbackRef` whose index is its place in ``callbacks`` (appended)."""
    if stays_in_grader(value):
        callbacks.append(value)
        return CallbackRef(len(callbacks) - 1, str(getattr(value, "__name__", type(value).__name__))[:80])
    if type(value) in (list, tuple) and depth < 2:
        return type(value)(externalize(v, callbacks, depth + 1) for v in value)
    if type(value) is dict and depth < 2:
        return {k: externalize(v, callbacks, depth + 1) for k, v in value.items()}
    return value


def internalize(value: Any, make: Callable[[CallbackRef], Any], depth: int = 0) -> Any:
    """The worker's side of :func:`externalize`: each :class:`CallbackRef` replaced by ``make(ref)``."""
    if isinstance(value, CallbackRef):
        return make(value)
    if type(value) in (list, tuple) and depth < 2:
        return type(value)(internalize(v, make, depth + 1) for v in value)
    if type(value) is dict and depth < 2:
        return {k: internalize(v, make, depth + 1) for k, v in value.items()}
    return value


class CallbackChannel:
    """The worker child's end: send a callback message, wait for the grader's answer."""

    def __init__(self, read_exact: Callable[[int], bytes], out):
        self.read_exact, self.out = read_exact, out

    def request(self, message: dict) -> Any:
        write_frame(self.out, encode_message(message))
        frame = read_frame(self.read_exact, MAX_FRAME)
        if frame is None:
            raise SystemExit("the grader is gone")
        answer = cloudpickle.loads(frame)
        if type(answer) is not tuple or len(answer) != 2 or answer[0] not in ("ok", "error"):
            raise RuntimeError("the grader did not answer the call of its function")
        if answer[0] == "error":
            raise RuntimeError(answer[1])
        return answer[1]


class _Callback(torch.autograd.Function):
    """A call into the grader as one differentiable operation of the worker's graph."""

    @staticmethod
    def forward(ctx, channel, message, *tensors):
        token, result = channel.request(message)
        ctx.channel, ctx.token = channel, token
        outputs = result if isinstance(result, tuple) else (result,)
        if not all(isinstance(out, torch.Tensor) for out in outputs):
            raise TypeError(f"{message.get('name')} returned something other than tensors where gradients are needed")
        return result

    @staticmethod
    def backward(ctx, *grads):
        message = {
            "callback_backward": ctx.token,
            "grads": [None if g is None else encode_tensor(g, grad=False) for g in grads],
        }
        _, input_grads = ctx.channel.request(message)
        return (None, None, *input_grads)


def callback_proxy(ref: CallbackRef, channel: CallbackChannel) -> Callable:
    """The worker's stand-in for the grader's function ``ref``: a call runs it in the grader, on plain data."""

    def proxy(*args, **kwargs):
        tensors = leaves_of(args, kwargs, modules=False)
        track = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
        message = {
            "callback": ref.index,
            "name": ref.name,
            "args": encode(tuple(args)),
            "kwargs": encode(dict(kwargs)),
            "track": track,
        }
        if not track:
            return channel.request(message)[1]
        return _Callback.apply(channel, message, *tensors)

    proxy.__name__ = proxy.__qualname__ = ref.name
    return proxy


def cap_address_space(extra: int) -> tuple[int, int] | None:
    """Cap this process's address space (``RLIMIT_AS``) at its present size plus ``extra`` bytes; return the limits
    it had, or None where ``RLIMIT_AS`` does not exist (nothing is capped then). Used by :func:`memory_capped` here and
    by the worker's children (:class:`grader.worker.Namespaces`)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):
        return None
    limit = size + extra if hard == resource.RLIM_INFINITY else min(hard, size + extra)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return soft, hard


@contextlib.contextmanager
def memory_capped(extra: int = CALLBACK_MEMORY):
    """Run the block with the grader's address space capped at its present size plus ``extra`` bytes: a grader's
    function that the student's arguments make allocate more (``make_targets(0, num_classes=5 * 10**9)``, a
    broadcast of two long vectors) fails with a MemoryError or RuntimeError instead of taking the grading machine's
    memory. Where ``RLIMIT_AS`` does not exist, the block runs uncapped."""
    previous = cap_address_space(extra)
    try:
        yield
    finally:
        if previous is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, previous)


def is_callback(message: dict) -> bool:
    """Whether a message from the worker asks the grader to run one of its functions (or that function's backward)."""
    return "callback" in message or "callback_backward" in message


def serve_callback(message: dict, callbacks: list, graphs: list) -> bytes:
    """The grader's answer to a :func:`callback_proxy` message: its function run on the decoded arguments (or the
    gradients of an earlier such run, ``graphs`` keeps them). The arguments are plain data the grader rebuilt; a
    malformed message raises :class:`BadReply`."""
    if "callback_backward" in message:
        token, grads = message.get("callback_backward"), message.get("grads")
        if type(token) is not int or not 0 <= token < len(graphs) or type(grads) is not list:
            raise BadReply("a backward call of an unknown function call")
        inputs, outputs, _ = graphs[token]
        if len(grads) != len(outputs):
            raise BadReply("gradients that do not match the function's outputs")
        pairs = []
        for out, node in zip(outputs, grads):
            if node is None:
                continue
            grad = decode(node)
            if not isinstance(grad, torch.Tensor) or grad.shape != out.shape or grad.dtype != out.dtype:
                raise BadReply("a gradient of the wrong shape or dtype")
            if out.requires_grad:
                pairs.append((out, grad.detach()))
        wanted = [t for t in inputs if t.requires_grad]
        try:
            with memory_capped():
                found = (
                    torch.autograd.grad(
                        [o for o, _ in pairs], wanted, [g for _, g in pairs], allow_unused=True, retain_graph=True
                    )
                    if pairs and wanted
                    else [None] * len(wanted)
                )
        except (RuntimeError, MemoryError) as error:
            return cloudpickle.dumps(
                ("error", f"the backward pass through the grader's function failed ({type(error).__name__})")
            )
        by_input = iter(found)
        return cloudpickle.dumps(("ok", (token, [next(by_input) if t.requires_grad else None for t in inputs])))
    index = message.get("callback")
    if type(index) is not int or not 0 <= index < len(callbacks):
        raise BadReply("a call of a function the grader does not have")
    args, kwargs = decode(message.get("args")), decode(message.get("kwargs"))
    if type(args) is not tuple or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
        raise BadReply("a call whose arguments are not (args, kwargs)")
    track = message.get("track") is True
    saved = [0]

    def pack(tensor):  # what the graph of a tracked run keeps, counted
        saved[0] += tensor.numel()
        return tensor

    def unpack(tensor):
        return tensor

    try:
        with (
            memory_capped(),
            torch.enable_grad() if track else torch.no_grad(),
            torch.autograd.graph.saved_tensors_hooks(pack, unpack),
        ):
            result = callbacks[index](*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the student's arguments made the grader's function fail: say so there
        # only the exception's type: its text may hold what the function knows (a hidden weight's shape, a constant)
        name = str(message.get("name") or "the function")[:80]
        return cloudpickle.dumps(("error", f"{name} failed on the arguments it was given ({type(error).__name__})"))
    token = None
    if track:
        outputs = result if isinstance(result, tuple) else (result,)
        if not all(isinstance(out, torch.Tensor) for out in outputs):
            return cloudpickle.dumps(("error", "the function returned something other than tensors"))
        kept = saved[0] + sum(entry[2] for entry in graphs)
        if len(graphs) >= MAX_GRAPHS or kept > MAX_SAVED:
            raise BadReply(
                f"differentiable calls of the grader's functions that keep more than {MAX_GRAPHS} graphs or "
                f"{MAX_SAVED:,} numbers in one call"
            )
        token = len(graphs)
        graphs.append((leaves_of(args, kwargs, modules=False), outputs, saved[0]))
    try:
        plain = _plain(result)
    except TypeError as error:
        return cloudpickle.dumps(("error", str(error)))
    return cloudpickle.dumps(("ok", (token, plain)))


def _plain(value: Any, depth: int = 0) -> Any:
    """A result of the grader's function as data for the worker: tensors detached, containers rebuilt, nothing else."""
    if isinstance(value, torch.Tensor):
        return torch.Tensor.as_subclass(value.detach(), torch.Tensor).clone()
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) in (list, tuple) and depth < 3:
        return type(value)(_plain(v, depth + 1) for v in value)
    if type(value) is dict and depth < 3:
        return {k: _plain(v, depth + 1) for k, v in value.items() if type(k) in (str, int)}
    raise TypeError(f"the grader's function returned a {type(value).__name__}, which stays in the grader")


# -- an argument's state after a call ----------------------------------------------------------------------------------


def encode_attributes(obj: Any) -> list:
    """``[[name, value]]`` of ``obj``'s plain attributes (numbers, flags, lists of tensors): not private, not
    ``training``, not a module, optimizer or callable, nor anything :func:`encode` cannot carry."""
    attrs = []
    for key, value in vars(obj).items():
        if (
            key.startswith("_")
            or key == "training"
            or isinstance(value, (nn.Module, torch.optim.Optimizer))
            or callable(value)
        ):
            continue
        node = encode(value)
        if not (isinstance(node, dict) and node.get("t") == "opaque"):
            attrs.append([key, node])
    return attrs


def _holds_parameters(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is or holds (in lists, tuples, dicts) a tensor that requires grad: a hand-made optimizer's
    ``params``, whose identity with the networks' parameters must stay."""
    if isinstance(value, torch.Tensor):
        return value.requires_grad
    if depth < 4 and isinstance(value, (list, tuple)):
        return any(_holds_parameters(v, depth + 1) for v in value)
    if depth < 4 and isinstance(value, dict):
        return any(_holds_parameters(v, depth + 1) for v in value.values())
    return False


def apply_attributes(obj: Any, attrs: Any) -> None:
    """Set the plain attributes :func:`encode_attributes` sent; only ones ``obj`` already has, and never one that
    holds parameters (those are brought up to date through their modules)."""
    if type(attrs) is not list:
        return
    current = vars(obj) if hasattr(obj, "__dict__") else {}
    for pair in attrs:
        if (
            type(pair) is list
            and len(pair) == 2
            and type(pair[0]) is str
            and pair[0] in current
            and not pair[0].startswith("_")
            and not isinstance(current[pair[0]], (nn.Module, torch.optim.Optimizer))
            and not callable(current[pair[0]])
            and not _holds_parameters(current[pair[0]])
        ):
            setattr(obj, pair[0], decode(pair[1]))


def encode_state(value: Any) -> dict:
    """What the grader needs to bring its own copy of an argument up to date after the call (:func:`apply_state`):
    a tensor; a module's parameters, buffers, training flags and plain attributes; an optimizer's state dict; the
    plain attributes of another object."""
    if isinstance(value, torch.Tensor):
        return {"t": "tensor_state", "v": encode_tensor(value)}
    if isinstance(value, nn.Module):
        return {
            "t": "module_state",
            "params": [encode_tensor(p) for p in value.parameters()],
            "buffers": [encode_tensor(b) for b in value.buffers()],
            "training": [m.training for m in value.modules()],
            "attrs": encode_attributes(value),
        }
    if isinstance(value, torch.optim.Optimizer):
        return {"t": "optimizer_state", "v": encode(value.state_dict())}
    if hasattr(value, "__dict__") and not isinstance(value, type) and not callable(getattr(value, "__func__", None)):
        return {"t": "object_state", "attrs": encode_attributes(value)}
    return {"t": "none"}


def assign_tensor(target: torch.Tensor, node: Any) -> None:
    """Make the grader's tensor ``target`` what the worker's copy became (:func:`encode_tensor`'s ``node``): data,
    ``requires_grad`` and ``.grad``; a gradient that reached a non-leaf goes on back through the grader's graph."""
    new = decode(node)
    if not isinstance(new, torch.Tensor):
        raise BadReply("a parameter that is not a tensor")
    with torch.no_grad():
        if target.device.type == "meta" or new.device.type == "meta":
            pass  # shapes only, no data to bring back
        elif new.shape == target.shape and new.dtype == target.dtype:
            if not torch.equal(new, target.detach()):
                target.data.copy_(new)
        else:  # the grader's own inputs keep their shapes and dtypes whatever the student's code did to its copies
            raise BadReply(
                f"an argument that changed from {tuple(target.shape)} {str(target.dtype).removeprefix('torch.')} to "
                f"{tuple(new.shape)} {str(new.dtype).removeprefix('torch.')} in place: leave the arguments' shapes and "
                f"dtypes as they are"
            )
    if target.is_leaf:
        if bool(node.get("rg")) != target.requires_grad and (target.is_floating_point() or target.is_complex()):
            target.requires_grad_(bool(node.get("rg")))
        target.grad = new.grad if new.grad is not None and new.grad.shape == target.shape else None
    elif target.requires_grad and new.grad is not None and new.grad.shape == target.shape:
        # The test passed a tensor with a graph behind it (fakes straight from a generator); in the worker it was a
        # leaf, and the student's backward() reached it: carry that gradient on through the test's own graph, as
        # one process would have (this is how "the fakes were not detached" shows in the generators' .grad).
        torch.autograd.backward([target], [new.grad.to(target.dtype)], retain_graph=True)


def apply_state(value: Any, state: Any) -> None:
    """Bring the grader's argument ``value`` to the state the worker reported for its copy (:func:`encode_state`)."""
    if type(state) is not dict:
        raise BadReply("an argument's state that is not an object")
    kind = state.get("t")
    if kind == "tensor_state" and isinstance(value, torch.Tensor):
        assign_tensor(value, state.get("v"))
    elif kind == "module_state" and isinstance(value, nn.Module):
        params, buffers = list(value.parameters()), list(value.buffers())
        if len(state.get("params") or []) != len(params) or len(state.get("buffers") or []) != len(buffers):
            raise BadReply("a module with a different number of parameters")
        for p, node in zip(params, state["params"]):
            assign_tensor(p, node)
        for b, node in zip(buffers, state["buffers"]):
            assign_tensor(b, node)
        training_flags = state.get("training") or []
        if type(training_flags) is not list:
            raise BadReply("a module's training flags that are not a list")
        for module, training in zip(value.modules(), training_flags):
            module.training = bool(training)
        apply_attributes(value, state.get("attrs"))
    elif kind == "optimizer_state" and isinstance(value, torch.optim.Optimizer):
        saved = decode(state.get("v"))
        try:
            value.load_state_dict(saved)
        except Exception as error:  # noqa: BLE001 - a state the student's code reshaped
            raise BadReply(f"an optimizer state that does not fit the optimizer ({error})") from None
    elif kind == "object_state":
        apply_attributes(value, state.get("attrs"))
    elif kind != "none" and kind not in ("tensor_state", "module_state", "optimizer_state"):
        raise BadReply("an unknown argument state")


# -- a call's result -----------------------------------------------------------------------------------------------

TRACKED = 1_000_000  # elements: a returned tensor up to this size is watched for later in-place changes
# the most recent results watched for in-place changes (a test that calls 3,000 times pays O(n), not O(n^2))
WATCHED = 16


def _graph(value: torch.Tensor, leaves: list[torch.Tensor]):
    """d value.sum() / d leaf for every leaf (None where no gradient flows), or None when autograd cannot tell
    (the graph was already freed by the student's own backward, or was changed in place)."""
    if not (value.requires_grad and value.grad_fn is not None):
        return None
    wanted = [i for i, leaf in enumerate(leaves) if leaf.requires_grad]
    try:
        grads = (
            torch.autograd.grad(value.sum(), [leaves[i] for i in wanted], allow_unused=True, retain_graph=True)
            if wanted
            else []
        )
    except Exception:  # noqa: BLE001 - any failure means "no graph to show"
        return None
    out: list = [None] * len(leaves)
    for i, grad in zip(wanted, grads):
        out[i] = None if grad is None else encode_tensor(grad, grad=False)
    return out


def encode_return(value, leaves: list[torch.Tensor], returned: list, depth: int = 0, modules: list | None = None):
    """``value`` as plain data; each tensor that autograd tracks carries its ``graph`` (see :func:`_graph`). Returned
    tensors are remembered in ``returned`` (with a copy), so that a later call that changes one in place (a cached
    tensor handed out twice) can be reported (:func:`encode_changes`). A returned ``nn.Module`` (a network the
    student built) stays in the worker, in ``modules``; the grader gets :func:`encode_module`."""
    if isinstance(value, nn.Module) and modules is not None and depth == 0:
        modules.append(value)
        return encode_module(value, len(modules) - 1)
    if isinstance(value, torch.Tensor):
        node = encode_tensor(value)
        node.pop("grad", None)
        node["graph"] = _graph(value, leaves)
        if value.device.type != "meta" and value.numel() <= TRACKED:
            node["ref"] = len(returned)
            returned.append((value, value.detach().clone()))
        return node
    if type(value) in (list, tuple) and depth < 2:
        return {"t": type(value).__name__, "v": [encode_return(v, leaves, returned, depth + 1) for v in value]}
    return encode(value)


# -- a network the student built: it stays in the worker, the grader holds its parameters -----------------------------

MODULE_FORWARD = "__module_forward__"  # the worker's built-in: run a kept network on parameters the grader sends
MAX_NAME = 200  # characters of a parameter's name


def encode_module(module: nn.Module, handle: int) -> dict:
    """A network the student's function returned (worker side): its handle in the worker, its type name, and its
    parameters and buffers by name, in ``named_parameters()`` / ``named_buffers()`` order."""
    return {
        "t": "module",
        "id": handle,
        "type": type(module).__name__[:80],
        "params": [[name, encode_tensor(p.detach(), grad=False)] for name, p in module.named_parameters()],
        "buffers": [[name, encode_tensor(b.detach(), grad=False)] for name, b in module.named_buffers()],
        "training": bool(module.training),
    }


def module_forward(modules: list, handle: int, params: list, buffers: list, training: bool, *inputs):
    """The worker's side of :meth:`RemoteModule.forward`: the kept network ``modules[handle]`` run on ``inputs``
    with the grader's parameters and buffers in place of its own (``torch.func.functional_call``), so the result's
    gradient reaches the grader's tensors. Returns ``(output, buffers)``: the buffers as the pass left them (BatchNorm
    updates its running statistics in place in training mode), which :meth:`RemoteModule.forward` checks and copies
    into the grader's own."""
    module = modules[handle]
    names = [name for name, _ in module.named_parameters()]
    buffer_names = [name for name, _ in module.named_buffers()]
    if len(params) != len(names) or len(buffers) != len(buffer_names):
        raise ValueError("the network's parameters changed after it was built")
    module.train(bool(training))
    state = dict(zip(names, params)) | dict(zip(buffer_names, buffers))
    output = torch.func.functional_call(module, state, tuple(inputs))
    return output, [state[name].detach() for name in buffer_names]


class RemoteModule(nn.Module):
    """A network built by the student's code, as the grader sees it: the parameters and buffers are the grader's own
    tensors (named as in the student's network), and a forward pass runs the student's network in the worker with
    these tensors put in (:func:`module_forward`). What the check reads (parameter shapes, outputs, gradients, the
    buffers a training-mode forward updates, such as BatchNorm's running statistics) is data the grader chose or
    rebuilt; no student code runs in the grader.

    ``named_parameters()``, ``state_dict()`` and ``load_state_dict()`` use the student's names; ``type_name`` is the
    class name of the student's network.
    """

    def __init__(self, call, handle: int, type_name: str, params: list, buffers: list, training: bool):
        super().__init__()
        object.__setattr__(self, "_remote_call", call)
        self._handle, self.type_name = handle, type_name
        self._param_names = [name for name, _ in params]
        self._buffer_names = [name for name, _ in buffers]
        for i, (_, tensor) in enumerate(params):
            self.register_parameter(f"p{i}", nn.Parameter(tensor.float() if not tensor.is_floating_point() else tensor))
        for i, (_, tensor) in enumerate(buffers):
            self.register_buffer(f"b{i}", tensor)
        self.training = training

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from zip(self._param_names, self._parameters.values())

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from zip(self._buffer_names, self._buffers.values())

    def state_dict(self, *args, **kwargs):
        from collections import OrderedDict

        return OrderedDict(
            [(n, p.detach()) for n, p in self.named_parameters()] + [(n, b) for n, b in self.named_buffers()]
        )

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        own = dict(self.named_parameters()) | dict(self.named_buffers())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise RuntimeError(f"Error(s) in loading state_dict: missing keys {missing}, unexpected keys {unexpected}")
        with torch.no_grad():
            for key, value in state_dict.items():
                if key in own:
                    if tuple(own[key].shape) != tuple(value.shape):
                        raise RuntimeError(
                            f"size mismatch for {key}: copying a param with shape {tuple(value.shape)}, the "
                            f"parameter in the current model is {tuple(own[key].shape)}"
                        )
                    own[key].copy_(value)
        return nn.modules.module._IncompatibleKeys(missing, unexpected)

    def forward(self, *inputs):
        params, buffers = list(self._parameters.values()), list(self._buffers.values())
        reply = self._remote_call(MODULE_FORWARD, (self._handle, params, buffers, self.training, *inputs), {})
        if type(reply) is not tuple or len(reply) != 2 or type(reply[1]) is not list or len(reply[1]) != len(buffers):
            raise BadReply("a network's forward pass that did not come back as (output, buffers)")
        output, updated = reply
        for own, new in zip(buffers, updated):
            if not isinstance(new, torch.Tensor) or new.shape != own.shape or new.dtype != own.dtype:
                raise BadReply("a network's buffer that changed its shape or type in a forward pass")
        with torch.no_grad():  # as a real module: a training-mode pass moves BatchNorm's running statistics
            for own, new in zip(buffers, updated):
                own.copy_(new)
        return output

    def extra_repr(self) -> str:
        return f"your {self.type_name}, {len(self._param_names)} parameter tensors"


def rebuild_module(node: dict, call) -> RemoteModule:
    """The grader's side of :func:`encode_module`: a :class:`RemoteModule` whose forward goes through ``call``."""
    if call is None:
        raise BadReply("a network where plain data was expected")
    handle, params, buffers = node.get("id"), node.get("params"), node.get("buffers")
    if type(handle) is not int or handle < 0 or type(params) is not list or type(buffers) is not list:
        raise BadReply("a network that is not described by its parameters")
    named = []
    for group in (params, buffers):
        pairs = []
        for pair in group:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str or len(pair[0]) > MAX_NAME:
                raise BadReply("a network parameter without a name")
            tensor = decode(pair[1])
            if not isinstance(tensor, torch.Tensor):
                raise BadReply("a network parameter that is not a tensor")
            pairs.append((pair[0], tensor.detach()))
        named.append(pairs)
    if len(named[0]) + len(named[1]) > MAX_ITEMS:
        raise BadReply("a network with too many parameters")
    names = [name for group in named for name, _ in group]
    if len(set(names)) != len(names):
        # weights are set by name: a repeated name would leave some of the student's own values in place
        raise BadReply("a network whose parameters and buffers do not have distinct names")
    return RemoteModule(
        call, handle, _opaque(node.get("type")).__class__.__name__, named[0], named[1], bool(node.get("training"))
    )


class _Measured(torch.autograd.Function):
    """A result computed in the worker, made differentiable again in the grader.

    ``sums[i]`` is d result.sum() / d inputs[i], measured in the worker. Backward with a uniform upstream gradient c
    (``result.sum()``, ``.mean()``, a scalar's ``backward()``) gives c * sums[i]: exact. Any other upstream gradient
    cannot be answered from these numbers and raises.
    """

    @staticmethod
    def forward(ctx, value, sums, *inputs):
        ctx.sums = sums
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        c = grad.reshape(-1)[0] if grad.numel() else grad.sum()
        if grad.numel() and not bool(torch.all(grad == c)):
            raise RuntimeError("the grader can only backpropagate the sum (or mean) of a student's result")
        return (None, None, *[None if s is None else c * s for s in ctx.sums])


def _rebuild_tensor(node: dict, leaves: list[torch.Tensor]) -> torch.Tensor:
    """One result tensor: differentiable w.r.t. ``leaves`` through :class:`_Measured` when the worker measured its
    gradients."""
    graph = node.get("graph")
    value = decode({k: v for k, v in node.items() if k not in ("graph", "grad", "ref")})
    if type(graph) is list and len(graph) == len(leaves) and value.requires_grad:
        sums, inputs = [], []
        for leaf, g in zip(leaves, graph):
            if g is None or not leaf.requires_grad:
                continue
            g = decode(g)
            if not isinstance(g, torch.Tensor) or g.shape != leaf.shape:
                raise BadReply("a gradient of the wrong shape")
            sums.append(g.to(leaf.dtype))
            inputs.append(leaf)
        return _Measured.apply(value.detach(), tuple(sums), *inputs) if inputs else value.detach()
    return value


def rebuild_return(
    node: Any, leaves: list[torch.Tensor], returned: list | None = None, depth: int = 0, call=None
) -> Any:
    """The value of :func:`encode_return`, with tracked tensors differentiable w.r.t. ``leaves``; each remembered
    result is appended to ``returned``; a network becomes a :class:`RemoteModule` that runs through ``call``."""
    if type(node) is dict and node.get("t") == "module" and depth == 0:
        return rebuild_module(node, call)
    if type(node) is dict and node.get("t") == "tensor":
        value = _rebuild_tensor(node, leaves)
        if "ref" in node and returned is not None:
            if node["ref"] != len(returned):
                raise BadReply("results out of order")
            returned.append(value)
        return value
    if type(node) is dict and node.get("t") in ("list", "tuple") and depth < 2 and type(node.get("v")) is list:
        items = [rebuild_return(v, leaves, returned, depth + 1) for v in node["v"]]
        return items if node["t"] == "list" else tuple(items)
    return decode(node)


def encode_changes(returned: list, before: int) -> list:
    """``[index, tensor]`` for each of the last :data:`WATCHED` results before ``before`` that changed since it was
    returned; older ones are let go."""
    changed = []
    for i in range(max(0, before - 2 * WATCHED), max(0, before - WATCHED)):  # calls return a few tensors at most
        returned[i] = None
    for i in range(max(0, before - WATCHED), before):
        if returned[i] is None:
            continue
        tensor, copy = returned[i]
        now = tensor.detach()
        if now.shape != copy.shape or now.dtype != copy.dtype or not torch.equal(now, copy):
            changed.append([i, encode_tensor(now, grad=False)])
            returned[i] = (tensor, now.clone())
    return changed


def apply_changes(changed: Any, returned: list[torch.Tensor]) -> None:
    """Change the grader's copies of earlier results (``returned``, in order) as :func:`encode_changes` reported."""
    for pair in changed or []:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not int or not 0 <= pair[0] < len(returned):
            raise BadReply("a change to an unknown result")
        assign_tensor(returned[pair[0]], pair[1])


def encode_result(
    result: Any, args: tuple, kwargs: dict, leaves: list[torch.Tensor], returned: list, modules: list | None = None
) -> dict:
    """A call's reply (worker side): its return value (:func:`encode_return`), the state of every argument afterwards
    (:func:`encode_state`) and the earlier results it changed in place (:func:`encode_changes`)."""
    before = len(returned)
    return {
        "return": encode_return(result, leaves, returned, modules=modules),
        "args": [encode_state(a) for a in args],
        "kwargs": {k: encode_state(v) for k, v in kwargs.items()},
        "changed": encode_changes(returned, before),
    }


def rebuild_result(
    reply: dict, args: tuple, kwargs: dict, leaves: list[torch.Tensor], returned: list, call=None
) -> Any:
    """The grader's side of :func:`encode_result`: brings ``args``, ``kwargs`` and the earlier results
    (``returned``) up to date, and returns the rebuilt return value. When the student's function raised, raises its
    exception (:func:`decode_error`). Raises :class:`BadReply` for any other reply."""
    if "error" in reply:
        raise decode_error(reply)
    if (
        "return" not in reply
        or type(reply.get("args")) is not list
        or len(reply["args"]) != len(args)
        or type(reply.get("kwargs")) is not dict
    ):
        raise BadReply("a reply without a result")
    for value, state in zip(args, reply["args"]):
        if not stays_in_grader(value):
            apply_state(value, state)
    for key, value in kwargs.items():
        if key in reply["kwargs"] and not stays_in_grader(value):
            apply_state(value, reply["kwargs"][key])
    apply_changes(reply.get("changed"), returned)
    return rebuild_return(reply["return"], leaves, returned, call=call)
