"""The grading worker: runs a student's answer cells and calls their functions, in a process that decides nothing.

Started by :class:`grader.remote.Worker` (``python -m grader.worker``, in the bubblewrap sandbox). It imports torch once,
runs the lesson's own imports and definitions (the ``prelude``, sent first), then for each exercise forks a child that:

1. reads the exercise: the student's answer cells and the reference versions of the other exercises they may call;
2. answers calls ``(name, args, kwargs, grads)`` with plain data (:mod:`grader.wire`): the return value (a tensor's
   gradient of ``sum()`` with respect to every input tensor and parameter rides along, see :func:`encode_return`),
   the state of every argument afterwards (parameters, their ``.grad`` and ``requires_grad``, optimizer state, the
   plain attributes of other objects) and the new values of earlier results this call changed in place;
3. ends when the grader sends ``None``, or when the student's code ends it (``os._exit``, a crash): the fork server
   then kills whatever else runs in the sandbox and reports the exit.

Frames on stdin/stdout are an 8-byte big-endian length and the payload; the student's prints go to stderr.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import signal
import struct
import sys
import traceback

import cloudpickle
import torch
from torch import nn

from grader.wire import encode, encode_tensor

MAX_FRAME = 512 << 20


def read_frame(stream) -> bytes | None:
    head = _read_exact(stream, 8)
    if head is None:
        return None
    (size,) = struct.unpack(">Q", head)
    if size > MAX_FRAME:
        raise ValueError("frame too large")
    return _read_exact(stream, size)


def _read_exact(stream, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_frame(stream, payload: bytes) -> None:
    stream.write(struct.pack(">Q", len(payload)) + payload)
    stream.flush()


def send(stream, message: dict) -> None:
    write_frame(stream, json.dumps(message).encode())


def leaves_of(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """Every tensor in ``args``/``kwargs`` (one level into lists, tuples and dicts) and every parameter of every
    module among them, in a fixed order: the grader enumerates its own objects the same way."""
    out: list[torch.Tensor] = []

    def walk(value, depth):
        if isinstance(value, torch.Tensor):
            out.append(value)
        elif isinstance(value, nn.Module):
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


def _plain_attributes(obj) -> list:
    attrs = []
    for key, value in vars(obj).items():
        if key.startswith("_") or key == "training" or isinstance(value, (nn.Module, torch.optim.Optimizer)) or callable(value):
            continue
        node = encode(value)
        if not (isinstance(node, dict) and node.get("t") == "opaque"):
            attrs.append([key, node])
    return attrs


def state_of(value) -> dict:
    """What the grader needs to bring its own copy of an argument up to date after the call."""
    if isinstance(value, torch.Tensor):
        return {"t": "tensor_state", "v": encode_tensor(value)}
    if isinstance(value, nn.Module):
        return {"t": "module_state", "params": [encode_tensor(p) for p in value.parameters()],
                "buffers": [encode_tensor(b) for b in value.buffers()],
                "training": [m.training for m in value.modules()], "attrs": _plain_attributes(value)}
    if isinstance(value, torch.optim.Optimizer):
        return {"t": "optimizer_state", "v": encode(value.state_dict())}
    if hasattr(value, "__dict__") and not isinstance(value, type) and not callable(getattr(value, "__func__", None)):
        return {"t": "object_state", "attrs": _plain_attributes(value)}
    return {"t": "none"}


def _graph(value: torch.Tensor, leaves: list[torch.Tensor]):
    """d value.sum() / d leaf for every leaf (None where no gradient flows), or None when autograd cannot tell
    (the graph was already freed by the student's own backward, or was changed in place)."""
    if not (value.requires_grad and value.grad_fn is not None):
        return None
    wanted = [i for i, leaf in enumerate(leaves) if leaf.requires_grad]
    try:
        grads = torch.autograd.grad(value.sum(), [leaves[i] for i in wanted], allow_unused=True, retain_graph=True) \
            if wanted else []
    except Exception:  # noqa: BLE001 - any failure means "no graph to show"
        return None
    out: list = [None] * len(leaves)
    for i, grad in zip(wanted, grads):
        out[i] = None if grad is None else encode_tensor(grad, grad=False)
    return out


TRACKED = 1_000_000  # elements: a returned tensor up to this size is watched for later in-place changes


def encode_return(value, leaves: list[torch.Tensor], returned: list, depth: int = 0):
    """``value`` as plain data; each tensor that autograd tracks carries its ``graph`` (see :func:`_graph`). Returned
    tensors are remembered in ``returned`` (with a copy), so that a later call that changes one in place (a cached
    tensor handed out twice) can be reported (:func:`changed_results`)."""
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


WATCHED = 16  # the most recent results watched for in-place changes (a test that calls 3,000 times pays O(n), not O(n^2))


def changed_results(returned: list, before: int) -> list:
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


def describe(error: BaseException) -> dict:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith("<your answer")]
    where = f" (line {frames[-1].lineno} of your answer cell)" if frames else ""
    return {"error": type(error).__name__[:80], "message": f"{str(error)[:2000]}{where}",
            "builtin": isinstance(error, Exception) and getattr(builtins, type(error).__name__, None) is type(error)}


def child(inp, out, base: dict) -> None:
    """One exercise: set up the namespace, then answer calls until the grader says stop."""
    job = cloudpickle.loads(read_frame(inp))
    ns = dict(base)
    ns.update(job["references"])
    errors = {}
    for name, source in job["answers"]:
        try:
            exec(compile(source, f"<your answer cell for {name}>", "exec"), ns)  # noqa: S102 - the point of a worker
        except BaseException as error:  # noqa: BLE001 - report anything, SystemExit included
            errors[name] = describe(error)
    send(out, {"setup": errors, "defined": [n for n, _ in job["answers"] if callable(ns.get(n))]})
    returned: list = []
    while True:
        frame = read_frame(inp)
        if frame is None:
            return
        message = cloudpickle.loads(frame)
        if message is None:
            return
        name, args, kwargs, grads = message
        leaves = leaves_of(args, kwargs)
        for leaf, grad in zip(leaves, grads):
            if grad is not None and leaf.is_leaf:
                leaf.grad = grad
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                result = ns[name](*args, **kwargs)
            before = len(returned)
            reply = {"return": encode_return(result, leaves, returned), "args": [state_of(a) for a in args],
                     "kwargs": {k: state_of(v) for k, v in kwargs.items()}, "changed": changed_results(returned, before)}
        except BaseException as error:  # noqa: BLE001
            reply = describe(error)
        reply["stdout"] = printed.getvalue()[-2000:]
        send(out, reply)


def warm_up() -> None:
    """Pay PyTorch's one-off costs once, before any fork: the first optimizer step imports torch._dynamo (seconds),
    and a child would pay them again for every exercise."""
    net = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1), nn.Sigmoid())
    for optimizer in (torch.optim.SGD(net.parameters(), lr=0.1), torch.optim.Adam(net.parameters(), lr=0.1)):
        optimizer.zero_grad()
        out = net(torch.randn(4, 3, requires_grad=True))
        torch.autograd.grad(out.sum(), list(net.parameters()), retain_graph=True)
        nn.functional.binary_cross_entropy(out, torch.ones_like(out)).backward()
        optimizer.step()
        encode(optimizer.state_dict())
    cloudpickle.loads(cloudpickle.dumps((net, optimizer)))


def kill_strays() -> None:
    """Kill every process of the sandbox but bwrap (pid 1) and this one: what a child left running."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (1, me):
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)


def main() -> None:
    inp = os.fdopen(os.dup(0), "rb", buffering=0)
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # the student's prints (and a stray write to fd 1) go to stderr, not into the protocol
    sys.stdout = sys.stderr
    sandboxed = "--sandboxed" in sys.argv
    torch.set_num_threads(1)
    base = {"__name__": "__main__", "__builtins__": builtins}
    prelude = read_frame(inp)
    if prelude is None:
        return
    try:
        exec(compile(prelude.decode(), "<lesson>", "exec"), base)  # noqa: S102 - the lesson's own imports
    except Exception as error:  # noqa: BLE001
        send(out, {"ready": False, **describe(error)})
        return
    warm_up()
    send(out, {"ready": True})
    while True:
        command = read_frame(inp)
        if command != b"fork":
            return
        pid = os.fork()
        if pid == 0:
            try:
                child(inp, out, base)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        if sandboxed:
            kill_strays()
        send(out, {"exited": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    main()
