"""Grader side of the grading worker: the student's functions as proxies that run in :mod:`grader.worker`.

A test cell runs in the grader's own process with each exercise's name bound to a :class:`RemoteFunction`. Calling
one sends the arguments (cloudpickle) to a worker child that holds the student's answer cells, and gets plain data
back (:mod:`grader.protocol` holds both ends of every message): the grader rebuilds the result and brings its own
arguments up to date (parameters, gradients, optimizer state, what a recording loss saw), so the test cell judges
real tensors of its own, with the reference it computed itself. A result that autograd tracks comes back
differentiable: its gradient with respect to the inputs is the one the worker measured (exact for ``sum()``,
``mean()`` and scalar losses, see :func:`grader.protocol.rebuild_return`).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from grader import protocol, sandbox
from grader.protocol import BadReply

START_TIMEOUT = 180.0  # s: bwrap, Python and torch on a busy machine


class WorkerDied(RuntimeError):
    """The worker (or the whole sandbox) stopped or stopped answering."""


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
            command = sandbox.bwrap_command(
                [*command, "--sandboxed"],
                scratch=self.scratch,
                cwd=str(self.scratch / "home"),
                read_only=read_only,
                capabilities=sandbox.WORKER_CAPABILITIES,
            )
            env = sandbox.sandbox_env(env, self.scratch, sys.executable)
        else:
            env["PYTHONPATH"] = os.pathsep.join(str(p.parent) for p in sandbox.editable_paths() if p.name == "grader")
        env.setdefault("OMP_NUM_THREADS", "1")
        env["MPLBACKEND"] = "Agg"
        stderr = open(self.scratch / "worker-stderr.txt", "wb")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=str(self.scratch),
            start_new_session=True,
        )
        stderr.close()
        self._buffer = bytearray()
        self._write(protocol.encode_prelude(self.prelude))
        started = time.monotonic()
        self._await_ready(BadReply)
        self.start_seconds = time.monotonic() - started

    def next_lesson(self, prelude: str) -> None:
        """Grade another notebook with this worker: its warm process (PyTorch imported and warmed up once) forks a new
        lesson server for ``prelude`` (:func:`grader.worker.lesson_server`); a worker that is not running starts
        afresh when it is first needed."""
        self.prelude = prelude
        if not self.alive():
            return
        self._write(protocol.NEXT)
        self._write(protocol.encode_prelude(prelude))
        self._await_ready(BadReply, WorkerDied, TimeoutError)  # a warm worker that fails here is closed, not left

    def _await_ready(self, *failures: type[BaseException]) -> None:
        """Read the worker's ready reply to a prelude; on a failure it reports (or one of ``failures``), close the
        worker and raise WorkerDied with the reason, else the tail of its stderr."""
        try:
            failure = protocol.decode_ready(self._read(START_TIMEOUT))
        except failures as error:
            failure = str(error) or type(error).__name__
        if failure is not None:
            detail = failure or self.stderr_tail()
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
            sandbox.remove_tree(self.scratch)
            self.scratch = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- frames (grader.protocol) ------------------------------------------------------------------------------
    def _write(self, payload: bytes) -> None:
        try:
            protocol.write_frame(self.process.stdin, payload)
        except (BrokenPipeError, OSError, AttributeError) as error:
            raise WorkerDied("the grading worker is gone") from error

    def _read_bytes(self, size: int, deadline: float) -> bytes:
        """``size`` bytes of the worker's output, fewer once it closed it; TimeoutError after ``deadline``."""
        fd = self.process.stdout.fileno()
        while len(self._buffer) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, max(65536, size - len(self._buffer)))
                if not chunk:
                    break
                self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _read(self, timeout: float) -> dict:
        """The worker's next message (a JSON object, :func:`grader.protocol.decode_message`) within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        payload = protocol.read_frame(lambda size: self._read_bytes(size, deadline), protocol.MAX_REPLY)
        if payload is None:
            raise WorkerDied("the grading worker closed its output")
        return protocol.decode_message(payload)

    def _answer(self, callbacks: list, graphs: list) -> dict:
        """The worker's next message that is not a callback, within ``timeout`` s in all: each callback on the way
        (the student's code calling a reference or a function the test passed) is served in the grader
        (:func:`grader.protocol.serve_callback`), and counts against the same deadline."""
        deadline = time.monotonic() + self.timeout
        message = self._read(self.timeout)
        while protocol.is_callback(message):
            self._write(protocol.serve_callback(message, callbacks, graphs))
            message = self._read(deadline - time.monotonic())
        return message

    # -- exercises ----------------------------------------------------------------------------------------------
    def exercise(self, answers: list[tuple[str, str]], references: dict[str, Any]) -> Exercise:
        """Fork a child that runs ``answers`` (``(name, source)`` of the student's cells) with ``references`` bound."""
        if not self.alive():
            self.close()
            self.start()
        self._write(protocol.FORK)
        callbacks: list = []  # the grader's functions this exercise may call back (references, then test arguments)
        graphs: list = []
        self._write(protocol.encode_job(answers, references, callbacks))
        try:  # an answer cell may call a reference while it runs
            setup = protocol.decode_setup(self._answer(callbacks, graphs))
        except TimeoutError:
            self.close()
            return Exercise(self, dead=f"by running longer than {self.timeout:g} s in an answer cell")
        except Exception:  # noqa: BLE001 - WorkerDied, BadReply, or anything a crafted message made fail: the child goes
            self.close()
            return Exercise(self, dead="while running your answer cells")
        if setup is None:
            return Exercise(self, dead="while running your answer cells")
        errors, defined = setup
        return Exercise(self, errors, defined, callbacks=callbacks, graphs=graphs)


class Exercise:
    """The student's functions of one test cell, alive in one worker child.

    Args:
        errors: the encoded exception of each answer cell that raised, by exercise name
            (:func:`grader.protocol.decode_setup`).
        defined: the exercises whose functions the answer cells defined.
        dead: why the child is gone already (its answer cells ended it), or None.
    """

    def __init__(
        self,
        worker: Worker,
        errors: dict[str, dict] | None = None,
        defined: set[str] | None = None,
        dead: str | None = None,
        callbacks: list | None = None,
        graphs: list | None = None,
    ):
        self.worker, self.dead = worker, dead
        self.callbacks = [] if callbacks is None else callbacks  # the grader's functions the worker calls back
        self.graphs = [] if graphs is None else graphs  # their tracked runs, for a backward pass through them
        self.errors = errors or {}
        self.defined = defined or set()
        self.returned: list[torch.Tensor] = []  # the grader's copies of the worker's remembered results, in order

    def close(self) -> None:
        if self.dead is None and self.worker.alive():
            try:
                self.worker._write(protocol.STOP)
                while not protocol.is_exit(self.worker._read(10.0)):
                    pass
            except (WorkerDied, TimeoutError, BadReply, OSError):
                self.worker.close()
        self.dead = self.dead or "closed"

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        from helpers.checks.core import GradingError  # the grader's own copy, in the grader's process

        if self.dead is not None:
            raise GradingError(
                f"{name} could not be called: your code ended the grading process {self.dead} "
                f"(os._exit(), exit(), a crash, a kill or an endless loop). Remove that from your "
                f"answer cell."
            )
        if name not in self.defined and name != protocol.MODULE_FORWARD:
            # as in a notebook, a cell that fails after its `def` still defines the function; one that fails before
            # it does not
            if name in self.errors:
                error = self.errors[name]
                raise protocol.decode_error(
                    error, f"your answer cell for {name} failed before defining it: {error['error']}: "
                )
            raise GradingError(f"{name} is not defined by its answer cell: keep the line `def {name}(...)` there.")
        leaves = protocol.leaves_of(args, kwargs)
        try:
            grads = [t.grad if t.is_leaf else None for t in leaves]
            payload = protocol.encode_call(name, args, kwargs, grads, self.callbacks)
        except Exception as error:  # noqa: BLE001 - the test's own arguments: a bug in the test, not the student
            raise RuntimeError(f"the grader could not send the arguments of {name}: {error}") from error
        try:
            self.worker._write(payload)
            reply = self.worker._answer(self.callbacks, self.graphs)
            self.graphs.clear()  # a callback's graph serves the backward passes of the call that made it, no later
            exited = protocol.is_exit(reply)
        except TimeoutError:
            self.worker.close()
            self.dead = f"by running longer than {self.worker.timeout:g} s in one call"
            raise GradingError(
                f"{name} took longer than {self.worker.timeout:g} s: look for an endless loop, or work "
                f"that grows with the input"
            ) from None
        except (WorkerDied, BadReply) as error:
            self.worker.close()
            self.dead = "while it ran"
            raise GradingError(
                f"{name} ended the grading process (os._exit(), exit(), a crash or a kill): {error}"
            ) from None
        except Exception as error:  # noqa: BLE001 - a callback message the grader could not serve: the child goes
            self.worker.close()
            self.dead = "while it ran"
            raise GradingError(f"{name} sent the grader something it could not read ({type(error).__name__})") from None
        if exited:
            self.dead = "while it ran"
            raise GradingError(
                f"calling {name} ended the grading process (os._exit(), a crash or a kill), so it "
                f"returned nothing. Remove that call from your function."
            )
        try:
            return protocol.rebuild_result(reply, args, kwargs, leaves, self.returned, call=self.call)
        except BadReply as error:
            self.worker.close()
            self.dead = "by sending something that is not a result"
            raise GradingError(
                f"the result of {name} could not be read ({error}): return tensors, numbers or tuples of them"
            ) from None


class RemoteFunction:
    """A student's function as the grader's test cell sees it: calls run in the worker (see :class:`Exercise`)."""

    def __init__(self, name: str, exercise_for):
        self.__name__ = self.__qualname__ = name
        self._exercise_for = exercise_for

    def __call__(self, *args, **kwargs):
        return self._exercise_for().call(self.__name__, args, kwargs)

    def __repr__(self):
        return f"<your function {self.__name__}>"
