"""The grading worker: runs a student's answer cells and calls their functions, in a process that decides nothing.

Started by :class:`grader.remote.Worker` (``python -m grader.worker``, in the bubblewrap sandbox). It imports torch
once, runs the lesson's own imports and definitions (the ``prelude``, sent first), then for each exercise forks a
child that:

1. reads the exercise: the student's answer cells, and the names of the other exercises they may call, bound to
   proxies that run the references in the grader (:func:`grader.protocol.callback_proxy`: no reference code or text
   reaches this process; a function among a call's arguments, such as a loss a test passes, is a proxy too);
2. answers calls ``(name, args, kwargs, grads)`` with plain data (:func:`grader.protocol.encode_result`): the return
   value (a tensor's gradient of ``sum()`` with respect to every input tensor and parameter rides along), the state
   of every argument afterwards (parameters, their ``.grad`` and ``requires_grad``, optimizer state, the plain
   attributes of other objects) and the new values of earlier results this call changed in place;
3. ends when the grader sends :data:`grader.protocol.STOP`, or when the student's code ends it (``os._exit``, a
   crash): the fork server then kills whatever else runs in the sandbox and reports the exit.

Every message, both ways, is framed and encoded by :mod:`grader.protocol`, on stdin/stdout; the student's prints go
to stderr.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import io
import os
import shutil
import signal
import sys

import cloudpickle
import torch
from torch import nn

from grader import protocol


def child(read_exact, out, base: dict) -> None:
    """One exercise: set up the namespace, then answer calls until the grader says stop."""
    job = protocol.read_frame(read_exact, protocol.MAX_FRAME)
    if job is None:
        return
    answers, references = protocol.decode_job(job)
    channel = protocol.CallbackChannel(read_exact, out)  # the grader's functions run in the grader, called from here

    def proxy(ref):
        return protocol.callback_proxy(ref, channel)

    ns = dict(base)
    ns.update(protocol.internalize(references, proxy))
    errors = {}
    for name, source in answers:
        try:
            exec(compile(source, f"<your answer cell for {name}>", "exec"), ns)  # noqa: S102 - the point of a worker
        except BaseException as error:  # noqa: BLE001 - report anything, SystemExit included
            errors[name] = error
    protocol.write_frame(
        out, protocol.encode_message(protocol.encode_setup(errors, [n for n, _ in answers if callable(ns.get(n))]))
    )
    returned: list = []
    modules: list = []  # the networks the student's functions built, run again by protocol.module_forward
    ns[protocol.MODULE_FORWARD] = lambda *args: protocol.module_forward(modules, *args)
    while True:
        frame = protocol.read_frame(read_exact, protocol.MAX_FRAME)
        if frame is None:
            return
        call = protocol.decode_call(frame)
        if call is None:
            return
        name, args, kwargs, grads = call
        args, kwargs = protocol.internalize(args, proxy), protocol.internalize(kwargs, proxy)
        leaves = protocol.leaves_of(args, kwargs)
        for leaf, grad in zip(leaves, grads):
            if grad is not None and leaf.is_leaf:
                leaf.grad = grad
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                result = ns[name](*args, **kwargs)
            reply = protocol.encode_result(result, args, kwargs, leaves, returned, modules)
        except BaseException as error:  # noqa: BLE001
            reply = protocol.encode_error(error)
        reply["stdout"] = printed.getvalue()[-2000:]
        protocol.write_frame(out, protocol.encode_message(reply))


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
        protocol.encode(optimizer.state_dict())
    cloudpickle.loads(cloudpickle.dumps((net, optimizer)))


def kill_strays() -> None:
    """Kill every process of the sandbox but bwrap (pid 1) and this one: what a child left running."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (1, me):
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)


def writable_roots() -> list[str]:
    """The folders a child can write to in the sandbox: ``/dev/shm`` and the scratch folder that holds its
    ``TMPDIR`` (the rest of the sandbox, its home included, is read-only)."""
    tmp = os.environ.get("TMPDIR", "")
    roots = ["/dev/shm", os.path.dirname(tmp.rstrip("/")) if tmp else ""]
    return [root for root in dict.fromkeys(roots) if root and os.path.isdir(root)]


def snapshot(roots: list[str]) -> set[str]:
    """Every path under ``roots`` now: what the fork server itself left there before the first exercise."""
    kept = set()
    for root in roots:
        for folder, dirs, files in os.walk(root):
            kept.update(os.path.join(folder, name) for name in dirs + files)
    return kept


def wipe(roots: list[str], kept: set[str]) -> None:
    """Remove everything under ``roots`` that is not in ``kept``: what one exercise wrote (a file in ``/dev/shm``,
    ``$TMPDIR`` or its home) is gone before the next exercise's child starts, so no exercise reads another's."""
    for root in roots:
        for folder, dirs, files in os.walk(root, topdown=False):
            for name in files + dirs:
                path = os.path.join(folder, name)
                if path in kept:
                    continue
                with contextlib.suppress(OSError):
                    if os.path.isdir(path) and not os.path.islink(path):
                        os.chmod(path, 0o700)  # a child may have made its folder unwritable
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        os.chmod(folder, 0o700)
                        os.unlink(path)


def not_dumpable() -> None:
    """Make the fork server non-dumpable (``PR_SET_DUMPABLE`` 0): a child running a student's code, same uid, can then
    neither ptrace it nor open its pipes through ``/proc/<pid>/fd``."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # 4 = PR_SET_DUMPABLE


def claims_exit(reply: bytes) -> bool:
    """Whether a child's frame reads as an exit message (or would, to the grader: an exit status of a wrong type)."""
    if len(reply) > protocol.MAX_REPLY:
        return False  # the grader refuses it by its size before reading it
    try:
        return protocol.is_exit(protocol.decode_message(reply))
    except protocol.BadReply as error:
        return "exit status" in str(error)


def relay(pid: int, read_exact, out, job_w: int, reply_r: int) -> None:
    """Carry one exercise's frames between the grader and the child ``pid``, one reply per frame the grader sends,
    until the child ends (or must: it is killed).

    Only the fork server speaks for the worker: a frame from the child that claims the child has exited (a forged
    :func:`grader.protocol.encode_exit`) ends the child instead of reaching the grader, and the fork server reports
    the exit itself once the child is gone. So a child cannot outlive its exercise and answer for a later one.
    """
    to_child = os.fdopen(job_w, "wb", buffering=0)
    from_child = os.fdopen(reply_r, "rb", buffering=0)
    read_reply = protocol.stream_reader(from_child)
    try:
        frame = protocol.read_frame(read_exact, protocol.MAX_FRAME)  # the job
        while frame is not None:
            protocol.write_frame(to_child, frame)
            reply = protocol.read_frame(read_reply, protocol.MAX_FRAME)
            if reply is None:
                return  # the child ended (after STOP, or its code ended it)
            if claims_exit(reply):
                raise protocol.BadReply("a child that claims to have exited")
            protocol.write_frame(out, reply)  # anything else the grader judges (size, JSON, contents) itself
            frame = protocol.read_frame(read_exact, protocol.MAX_FRAME)  # the next call, or STOP
        os.kill(pid, signal.SIGKILL)  # the grader is gone
    except (OSError, protocol.BadReply):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    finally:
        for stream in (to_child, from_child):
            with contextlib.suppress(OSError):
                stream.close()


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
    read_exact = protocol.stream_reader(inp)
    prelude = protocol.read_frame(read_exact, protocol.MAX_FRAME)
    if prelude is None:
        return
    try:
        source = protocol.decode_prelude(prelude)
        exec(compile(source, "<lesson>", "exec"), base)  # noqa: S102 - the lesson's own imports
    except Exception as error:  # noqa: BLE001
        protocol.write_frame(out, protocol.encode_message(protocol.encode_ready(error)))
        return
    warm_up()
    not_dumpable()
    roots = writable_roots() if sandboxed else []  # unsandboxed, HOME is the grader's own: never wiped
    kept = snapshot(roots)
    protocol.write_frame(out, protocol.encode_message(protocol.encode_ready()))
    while True:
        command = protocol.read_frame(read_exact, protocol.MAX_FRAME)
        if command != protocol.FORK:
            return
        job_r, job_w = os.pipe()  # fork server -> child
        reply_r, reply_w = os.pipe()  # child -> fork server
        pid = os.fork()
        if pid == 0:
            try:
                for fd in (job_w, reply_r, inp.fileno(), out.fileno()):
                    os.close(fd)  # the grader's pipes belong to the fork server alone
                child(
                    protocol.stream_reader(os.fdopen(job_r, "rb", buffering=0)),
                    os.fdopen(reply_w, "wb", buffering=0),
                    base,
                )
            finally:
                os._exit(0)
        os.close(job_r)
        os.close(reply_w)
        relay(pid, read_exact, out, job_w, reply_r)
        _, status = os.waitpid(pid, 0)
        if sandboxed:
            kill_strays()
            wipe(roots, kept)
        protocol.write_frame(out, protocol.encode_message(protocol.encode_exit(os.waitstatus_to_exitcode(status))))


if __name__ == "__main__":
    main()
