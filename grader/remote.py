"""Grader side of the grading worker: the student's functions as proxies that run in :mod:`grader.worker`.

A test cell runs in the grader's own process with each exercise's name bound to a :class:`RemoteFunction`. Calling
one sends the arguments (cloudpickle) to a worker child that holds the student's answer cells, and gets plain data
back (:mod:`grader.wire`): the grader rebuilds the result and brings its own arguments up to date (parameters,
gradients, optimizer state, what a recording loss saw), so the test cell judges real tensors of its own, with the
reference it computed itself. A result that autograd tracks comes back differentiable: its gradient with respect to
the inputs is the one the worker measured (exact for ``sum()``, ``mean()`` and scalar losses, see :class:`_Measured`).
"""

from __future__ import annotations

import builtins
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cloudpickle
import torch
from torch import nn

from grader import sandbox
from grader.wire import BadReply, decode
from grader.worker import leaves_of

START_TIMEOUT = 180.0  # s: bwrap, Python and torch on a busy machine
MAX_REPLY = 64 << 20  # bytes: a test's results are small; a bigger reply is refused before it is read


class WorkerDied(RuntimeError):
    """The worker (or the whole sandbox) stopped or stopped answering."""


class RemoteError(Exception):
    """An exception the student's code raised in the worker (its class is named after the original)."""


def remote_exception(name: str, message: str, builtin: bool) -> Exception:
    clean = "".join(ch for ch in name if ch.isalnum() or ch == "_")[:80] or "Exception"
    base = getattr(builtins, clean, None) if builtin else None
    if not (isinstance(base, type) and issubclass(base, Exception)) or issubclass(base, AssertionError):
        base = RemoteError
    return type(clean, (base,), {})(message)


class Worker:
    """One fork server, in the bubblewrap sandbox (or not, with ``sandboxed=False``), for one notebook.

    Args:
        prelude: the lesson's imports and definitions (from the instructor's notebook), run once before any fork.
        timeout: seconds one call may take before the sandbox is killed (the exercise then fails).
    """

    def __init__(self, prelude: str, *, sandboxed: bool = True, timeout: float = 60.0):
        self.prelude, self.sandboxed, self.timeout = prelude, sandboxed, timeout
        self.process: subprocess.Popen | None = None
        self.scratch: Path | None = None
        self._buffer = bytearray()

    # -- process ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        env = dict(os.environ)
        command = [sys.executable, "-I", "-m", "grader.worker"]  # -I: nothing from the working directory or env
        self.scratch = Path(tempfile.mkdtemp(prefix="gan-worker-"))
        if self.sandboxed:
            reason = sandbox.sandbox_available()
            if reason is not None:
                raise sandbox.SandboxUnavailable(reason)
            shutil.rmtree(self.scratch)
            self.scratch = sandbox.make_scratch(env, sandbox.UID)
            read_only = [*sandbox.python_roots(sys.executable), *sandbox.editable_paths()]
            command = sandbox.bwrap_command([*command, "--sandboxed"], scratch=self.scratch,
                                            cwd=str(self.scratch / "home"), read_only=read_only)
            env = sandbox.sandbox_env(env, self.scratch, sys.executable)
        else:
            env["PYTHONPATH"] = os.pathsep.join(str(p.parent) for p in sandbox.editable_paths() if p.name == "grader")
        env.setdefault("OMP_NUM_THREADS", "1")
        env["MPLBACKEND"] = "Agg"
        stderr = open(self.scratch / "worker-stderr.txt", "wb")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                        env=env, cwd=str(self.scratch), start_new_session=True)
        stderr.close()
        self._buffer = bytearray()
        self._write(self.prelude.encode())
        started = time.monotonic()
        ready = self._read(START_TIMEOUT)
        self.start_seconds = time.monotonic() - started
        if ready.get("ready") is not True:
            detail = ready.get("message") or self.stderr_tail()
            self.close()
            raise WorkerDied(f"the grading worker could not start: {detail}")

    def stderr_tail(self) -> str:
        try:
            return (self.scratch / "worker-stderr.txt").read_text(errors="replace")[-2000:]
        except (OSError, TypeError):
            return ""

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()  # bwrap: the PID namespace, and every process in it, goes with it
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self.process = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- frames -------------------------------------------------------------------------------------------------
    def _write(self, payload: bytes) -> None:
        try:
            self.process.stdin.write(struct.pack(">Q", len(payload)) + payload)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, AttributeError) as error:
            raise WorkerDied("the grading worker is gone") from error

    def _read_bytes(self, size: int, deadline: float) -> bytes:
        fd = self.process.stdout.fileno()
        while len(self._buffer) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, max(65536, size - len(self._buffer)))
                if not chunk:
                    raise WorkerDied("the grading worker closed its output")
                self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        (size,) = struct.unpack(">Q", self._read_bytes(8, deadline))
        if size > MAX_REPLY:
            raise BadReply(f"a reply of {size} bytes, more than {MAX_REPLY}: return small tensors")
        try:
            message = json.loads(self._read_bytes(size, deadline))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BadReply("a reply that is not JSON") from error
        if type(message) is not dict:
            raise BadReply("a reply that is not an object")
        return message

    # -- exercises ----------------------------------------------------------------------------------------------
    def exercise(self, answers: list[tuple[str, str]], references: dict[str, Any]) -> "Exercise":
        """Fork a child that runs ``answers`` (``(name, source)`` of the student's cells) with ``references`` bound."""
        if not self.alive():
            self.close()
            self.start()
        self._write(b"fork")
        self._write(cloudpickle.dumps({"answers": answers, "references": references}))
        try:
            setup = self._read(self.timeout)
        except TimeoutError:
            self.close()
            return Exercise(self, {"exited": None}, dead=f"by running longer than {self.timeout:g} s in an answer cell")
        except (WorkerDied, BadReply):
            self.close()
            return Exercise(self, {"exited": None})
        return Exercise(self, setup)


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


class Exercise:
    """The student's functions of one test cell, alive in one worker child."""

    def __init__(self, worker: Worker, setup: dict, dead: str | None = None):
        self.worker, self.dead = worker, None
        if "exited" in setup:
            self.dead, setup = dead or "while running your answer cells", {}
        self.errors = setup.get("setup") if type(setup.get("setup")) is dict else {}
        self.defined = set(setup.get("defined") or [])
        self.returned: list[torch.Tensor] = []  # the grader's copies of the worker's remembered results, in order

    def close(self) -> None:
        if self.dead is None and self.worker.alive():
            try:
                self.worker._write(cloudpickle.dumps(None))
                while "exited" not in self.worker._read(10.0):
                    pass
            except (WorkerDied, TimeoutError, BadReply, OSError):
                self.worker.close()
        self.dead = self.dead or "closed"

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        from helpers.checks.core import GradingError  # the grader's own copy, in the grader's process

        if self.dead is not None:
            raise GradingError(f"{name} could not be called: your code ended the grading process {self.dead} "
                               f"(os._exit(), exit(), a crash, a kill or an endless loop). Remove that from your "
                               f"answer cell.")
        if name not in self.defined:
            # as in a notebook, a cell that fails after its `def` still defines the function; one that fails before
            # it does not
            if type(self.errors.get(name)) is dict:
                error = self.errors[name]
                raise remote_exception(str(error.get("error")), f"your answer cell for {name} failed before defining "
                                       f"it: {error.get('error')}: {error.get('message')}", bool(error.get("builtin")))
            raise GradingError(f"{name} is not defined by its answer cell: keep the line `def {name}(...)` there.")
        leaves = leaves_of(args, kwargs)
        try:
            payload = cloudpickle.dumps((name, args, kwargs, [t.grad if t.is_leaf else None for t in leaves]))
        except Exception as error:  # noqa: BLE001 - the test's own arguments: a bug in the test, not the student
            raise RuntimeError(f"the grader could not send the arguments of {name}: {error}") from error
        try:
            self.worker._write(payload)
            reply = self.worker._read(self.worker.timeout)
        except TimeoutError:
            self.worker.close()
            self.dead = f"by running longer than {self.worker.timeout:g} s in one call"
            raise GradingError(f"{name} took longer than {self.worker.timeout:g} s: look for an endless loop, or work "
                               f"that grows with the input") from None
        except (WorkerDied, BadReply) as error:
            self.worker.close()
            self.dead = "while it ran"
            raise GradingError(f"{name} ended the grading process (os._exit(), exit(), a crash or a kill): "
                               f"{error}") from None
        if "exited" in reply:
            self.dead = "while it ran"
            raise GradingError(f"calling {name} ended the grading process (os._exit(), a crash or a kill), so it "
                               f"returned nothing. Remove that call from your function.")
        try:
            return self._rebuild(name, reply, args, kwargs, leaves)
        except BadReply as error:
            self.worker.close()
            self.dead = "by sending something that is not a result"
            raise GradingError(f"the result of {name} could not be read ({error}): return tensors, numbers or "
                               f"tuples of them") from None

    def _rebuild(self, name: str, reply: dict, args: tuple, kwargs: dict, leaves: list[torch.Tensor]) -> Any:
        if "error" in reply:
            raise remote_exception(str(reply["error"]), str(reply.get("message", "")), bool(reply.get("builtin")))
        if "return" not in reply or type(reply.get("args")) is not list or len(reply["args"]) != len(args) or \
                type(reply.get("kwargs")) is not dict:
            raise BadReply("a reply without a result")
        for value, state in zip(args, reply["args"]):
            apply_state(value, state)
        for key, value in kwargs.items():
            if key in reply["kwargs"]:
                apply_state(value, reply["kwargs"][key])
        for pair in reply.get("changed") or []:  # an earlier result changed in place by this call
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not int or not 0 <= pair[0] < len(self.returned):
                raise BadReply("a change to an unknown result")
            _assign(self.returned[pair[0]], pair[1])
        return rebuild_return(reply["return"], leaves, self.returned)


def rebuild_return(node: Any, leaves: list[torch.Tensor], returned: list | None = None, depth: int = 0) -> Any:
    """The value of :func:`grader.worker.encode_return`, with tracked tensors differentiable w.r.t. ``leaves``;
    each remembered result is appended to ``returned``."""
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


def _assign(target: torch.Tensor, node: Any) -> None:
    new = decode(node)
    if not isinstance(new, torch.Tensor):
        raise BadReply("a parameter that is not a tensor")
    with torch.no_grad():
        if target.device.type == "meta" or new.device.type == "meta":
            pass  # shapes only, no data to bring back
        elif new.shape == target.shape and new.dtype == target.dtype:
            if not torch.equal(new, target.detach()):
                target.data.copy_(new)
        else:
            target.data = new.detach()
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
    """Bring the grader's argument ``value`` to the state the worker reported for its copy."""
    if type(state) is not dict:
        raise BadReply("an argument's state that is not an object")
    kind = state.get("t")
    if kind == "tensor_state" and isinstance(value, torch.Tensor):
        _assign(value, state.get("v"))
    elif kind == "module_state" and isinstance(value, nn.Module):
        params, buffers = list(value.parameters()), list(value.buffers())
        if len(state.get("params") or []) != len(params) or len(state.get("buffers") or []) != len(buffers):
            raise BadReply("a module with a different number of parameters")
        for p, node in zip(params, state["params"]):
            _assign(p, node)
        for b, node in zip(buffers, state["buffers"]):
            _assign(b, node)
        for module, training in zip(value.modules(), state.get("training") or []):
            module.training = bool(training)
        _set_attributes(value, state.get("attrs"))
    elif kind == "optimizer_state" and isinstance(value, torch.optim.Optimizer):
        saved = decode(state.get("v"))
        try:
            value.load_state_dict(saved)
        except Exception as error:  # noqa: BLE001 - a state the student's code reshaped
            raise BadReply(f"an optimizer state that does not fit the optimizer ({error})") from None
    elif kind == "object_state":
        _set_attributes(value, state.get("attrs"))
    elif kind != "none" and kind not in ("tensor_state", "module_state", "optimizer_state"):
        raise BadReply("an unknown argument state")


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


def _set_attributes(obj: Any, attrs: Any) -> None:
    """Plain attributes (lists of tensors, numbers, flags) the worker saw change; only ones ``obj`` already has, and
    never one that holds parameters (those are brought up to date through their modules)."""
    if type(attrs) is not list:
        return
    current = vars(obj) if hasattr(obj, "__dict__") else {}
    for pair in attrs:
        if type(pair) is list and len(pair) == 2 and type(pair[0]) is str and pair[0] in current \
                and not pair[0].startswith("_") and not isinstance(current[pair[0]], (nn.Module, torch.optim.Optimizer)) \
                and not callable(current[pair[0]]) and not _holds_parameters(current[pair[0]]):
            setattr(obj, pair[0], decode(pair[1]))


class RemoteFunction:
    """A student's function as the grader's test cell sees it: calls run in the worker (see :class:`Exercise`)."""

    def __init__(self, name: str, exercise_for):
        self.__name__ = self.__qualname__ = name
        self._exercise_for = exercise_for

    def __call__(self, *args, **kwargs):
        return self._exercise_for().call(self.__name__, args, kwargs)

    def __repr__(self):
        return f"<your function {self.__name__}>"
