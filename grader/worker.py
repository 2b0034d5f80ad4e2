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
   crash); the fork server reports the exit.

In the sandbox each child is process 1 of its own PID namespace, with its own mount and IPC namespaces, fresh
size-capped folders, a memory cap and no capabilities (:class:`Namespaces`): when it ends, the kernel ends every
process it started and frees everything it wrote, so no exercise meets another's leftovers.

Every message, both ways, is framed and encoded by :mod:`grader.protocol`, on stdin/stdout; the student's prints go
to stderr.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import io
import os
import platform
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


# Linux constants (sched.h, prctl.h, mount.h, capability.h) for the exercise's own namespaces below.
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x08000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x1, 0x2, 0x4, 0x8, 0x4000, 0x40000
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
# seccomp (seccomp.h, filter.h, audit.h): a classic BPF program over struct seccomp_data {int nr; u32 arch; ...}
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
# machine -> (AUDIT_ARCH_*, add_key, request_key, keyctl and, on x86-64, their x32 numbers)
KEYRING_SYSCALLS = {
    "x86_64": (0xC000003E, (248, 249, 250, 0x40000000 | 248, 0x40000000 | 249, 0x40000000 | 250)),
    "aarch64": (0xC00000B7, (217, 218, 219)),
}


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


EXERCISE_STORAGE = 256 << 20  # bytes: the most one exercise may write into each of its folders (tmpfs: memory)
EXERCISE_MEMORY = 4 << 30  # bytes of address space one exercise may add to what the fork server holds (RLIMIT_AS)


class Namespaces:
    """Give every exercise its own PID, mount and IPC namespaces (the fork server holds ``CAP_SYS_ADMIN`` inside the
    sandbox for this alone; it runs no student code).

    The fork server forks each exercise's child with :meth:`fork`, in a new PID namespace whose process 1 reaps
    orphans; the child calls :meth:`enter` before it reads its exercise: a new mount namespace with empty size-capped
    tmpfs folders over ``/dev/shm`` and the scratch folder (its home, ``$TMPDIR``, its working folder copied in, its
    prints), every other process's ``/proc`` folder covered (:meth:`hide_other_processes`), a new IPC namespace (no
    System V memory outlives it), an address-space cap, and then no capability at all. When the
    child ends or is killed, the kernel kills every process left in its PID namespace and frees its folders: nothing
    an exercise started or wrote reaches the next one, by construction rather than by a scan of ``/proc``.
    """

    def __init__(self, scratch: str):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.scratch = scratch
        self.fontlists = {}  # matplotlib's font cache, kept for every exercise's new home (spares a font scan)
        fonts = os.path.join(scratch, "home", ".config", "matplotlib")
        for name in os.listdir(fonts) if os.path.isdir(fonts) else []:
            with open(os.path.join(fonts, name), "rb") as file:
                self.fontlists[name] = file.read()

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    def fork(self, keeper_closes: list[int]) -> tuple[int, int] | None:
        """Fork the child of one exercise in a new PID namespace: ``None`` in that child, else ``(keeper, init)``, the
        pids to wait for and to kill (as the fork server sees them).

        A keeper process in between makes the namespace (a process can make only one PID namespace for its children,
        and the fork server needs one per exercise), waits for its process 1 (:meth:`_init`, which forks the child
        and reaps orphans) and ends as the child ended; it closes ``keeper_closes``, so that the child alone holds the
        ends of its pipes. Killing process 1 kills every process in the namespace.
        """
        read_end, write_end = os.pipe()
        keeper = os.fork()
        if keeper != 0:
            os.close(write_end)
            with os.fdopen(read_end, "rb") as pipe:
                pid = int.from_bytes(pipe.read(4), "little")
            if not pid:
                os.waitpid(keeper, 0)
                raise OSError("the keeper could not make the exercise's PID namespace")
            return keeper, pid
        os.close(read_end)
        try:
            self._check(self.libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
            pid = os.fork()
        except BaseException:  # noqa: BLE001 - the fork server raises on the empty pid
            os._exit(70)
        if pid == 0:
            os.close(write_end)
            return self._init()
        for fd in keeper_closes:
            with contextlib.suppress(OSError):
                os.close(fd)
        os.write(write_end, pid.to_bytes(4, "little"))
        os.close(write_end)
        _, status = os.waitpid(pid, 0)  # returns once every process of the namespace is gone
        code = os.waitstatus_to_exitcode(status)
        if code > 128:  # the exercise was killed by a signal (see _init): end the same way, for the fork server
            signal.signal(code - 128, signal.SIG_DFL)
            os.kill(os.getpid(), code - 128)
        os._exit(code & 0xFF)

    def _init(self) -> None:
        """Process 1 of the exercise's PID namespace: fork the exercise's process (``None`` is returned there), then
        reap every process orphaned in the namespace (a student's subprocesses, once their parent is gone) until the
        exercise's process ends, and end as it ended (a signal as 128 + its number). It runs no student code."""
        exercise = os.fork()
        if exercise == 0:
            return None
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the exercise alone holds the ends of its pipes
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == exercise:
                code = os.waitstatus_to_exitcode(status)
                os._exit(128 - code if code < 0 else code & 0xFF)

    def _mount(self, kind: str, target: str, flags: int, options: str | None = None) -> None:
        data = options.encode() if options else None
        self._check(self.libc.mount(kind.encode(), target.encode(), kind.encode(), flags, data), f"mount {target}")

    def enter(self) -> None:
        """In the child, before any student code: own folders, own processes, a memory cap, no capability."""
        os.setsid()  # a process group of its own: kill(0, ...) reaches this exercise's processes, not the fork server
        self._check(self.libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare(CLONE_NEWNS | CLONE_NEWIPC)")
        self._check(self.libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        # the exercise's working folder, a copy of the submission the grader made in the scratch folder before the fork
        # (protocol.WORK_PREFIX), is copied again into the new scratch folder: every file the child writes is in
        # memory of its own, capped, gone with it
        works = {}
        for name in os.listdir(self.scratch):
            if name.startswith(protocol.WORK_PREFIX):
                works[name] = os.open(os.path.join(self.scratch, name), os.O_RDONLY | os.O_DIRECTORY)
        for folder in ("/dev/shm", self.scratch):
            self._mount("tmpfs", folder, MS_NOSUID | MS_NODEV, f"size={EXERCISE_STORAGE},mode=0700")
        for name, fd in works.items():
            shutil.copytree(f"/proc/self/fd/{fd}", os.path.join(self.scratch, name), symlinks=True)
            os.close(fd)
        for folder in ("home/.ipython", "home/.cache", "home/.config/matplotlib", "tmp"):
            os.makedirs(os.path.join(self.scratch, folder), exist_ok=True)
        for name, data in self.fontlists.items():
            with open(os.path.join(self.scratch, "home", ".config", "matplotlib", name), "wb") as file:
                file.write(data)
        os.chdir(os.path.join(self.scratch, "home"))
        # the student's prints go to a file in this exercise's own capped memory: the worker's stderr is a file of
        # the grader's on the host disk, uncapped, that every exercise of a grading run shares
        output = os.open(os.path.join(self.scratch, "output.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        self.hide_other_processes()
        if protocol.cap_address_space(EXERCISE_MEMORY) is None:
            raise OSError("cannot cap the exercise's address space (RLIMIT_AS)")
        self.drop_capabilities()
        self.refuse_keyrings()

    def hide_other_processes(self) -> None:
        """An empty read-only folder over ``/proc/<pid>`` of every process but this one.

        ``/proc`` is bwrap's, mounted for the sandbox's PID namespace: it lists bwrap's process 1, the fork server and
        the keepers, and a process of the same uid may open another's ``/proc/<pid>/mem`` for writing, which would let
        an exercise change a process that outlives it. A ``/proc`` of the exercise's own namespace cannot be mounted
        (bwrap's mounts over ``/proc/sys`` and the like are locked), so the others are covered instead. Processes the
        exercise starts itself appear, as they should; no other process starts in the sandbox while it runs.
        """
        own = os.readlink("/proc/self")  # this process's pid as /proc numbers it
        for name in os.listdir("/proc"):
            if name.isdigit() and name != own:
                with contextlib.suppress(FileNotFoundError):  # ended since the listing
                    self._mount(
                        "tmpfs", f"/proc/{name}", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555"
                    )

    def refuse_keyrings(self) -> None:
        """A seccomp filter: ``add_key``, ``request_key`` and ``keyctl`` fail with EPERM, and so does every system call
        of another architecture's ABI (a 32-bit call could reach them by other numbers).

        The kernel's keyrings belong to the user namespace, the whole sandbox's: a key one exercise stored in the user
        keyring could be read by a later exercise, a later student's included (the worker serves a whole grading
        run). No exercise needs a key. Needs ``no_new_privs`` (:meth:`drop_capabilities`)."""
        machine = platform.machine()
        if machine not in KEYRING_SYSCALLS:
            raise OSError(f"no seccomp filter for the keyring system calls on {machine}")
        arch, numbers = KEYRING_SYSCALLS[machine]
        deny = len(numbers) + 5  # the index of the last instruction, the EPERM return
        program = [
            (BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
            (BPF_JEQ_K, 1, 0, arch),
            (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | 1),  # another ABI: EPERM
            (BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
            *((BPF_JEQ_K, deny - (4 + k + 1), 0, number) for k, number in enumerate(numbers)),  # jumps count from next
            (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
            (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | 1),
        ]
        filters = (SockFilter * len(program))(*(SockFilter(*instruction) for instruction in program))
        prog = SockFprog(len(program), filters)
        self._check(self.libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")

    def drop_capabilities(self) -> None:
        """No capability left in any set (bounding, ambient, effective, permitted, inheritable), and no way back."""
        self._check(self.libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        self._check(self.libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities")
        for capability in range(64):
            if self.libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and ctypes.get_errno() != 22:  # EINVAL: none
                self._check(-1, f"drop capability {capability} from the bounding set")
        header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
        data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable} words, all zero
        self._check(self.libc.capset(header, data), "capset")
        with open("/proc/self/status") as status:
            held = [line for line in status if line.startswith("Cap") and int(line.split()[1], 16)]
        if held:
            raise OSError(f"capabilities left after dropping them: {held}")


def probe(namespaces: Namespaces) -> None:
    """Fork one child that enters its namespaces and ends: raise OSError, with the reason, where it cannot (a bwrap
    without ``--cap-add``, a kernel without unprivileged namespaces), before any student's exercise depends on it."""
    read_end, write_end = os.pipe()
    ids = namespaces.fork(keeper_closes=[read_end])
    if ids is None:
        try:
            os.close(read_end)
            namespaces.enter()
            os._exit(0)
        except BaseException as error:  # noqa: BLE001 - reported to the fork server
            os.write(write_end, str(error).encode()[:1000])
            os._exit(1)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reason:
        message = reason.read().decode(errors="replace")
    _, status = os.waitpid(ids[0], 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError(message or f"the probe ended with status {os.waitstatus_to_exitcode(status)}")


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
    read_exact = protocol.stream_reader(inp)
    warm_up()
    not_dumpable()
    # One worker grades the notebooks of one grading run, one after the other: PyTorch is imported and warmed up
    # once, here; each notebook gets a lesson server forked from this process, which runs that lesson's prelude and
    # forks its exercises' children, and ends at NEXT (or at anything else, which ends the worker too).
    while True:
        prelude = protocol.read_frame(read_exact, protocol.MAX_FRAME)
        if prelude is None:
            return
        server = os.fork()
        if server == 0:
            try:
                lesson_server(prelude, read_exact, inp, out, sandboxed)
            finally:
                os._exit(0)
        _, status = os.waitpid(server, 0)
        if os.waitstatus_to_exitcode(status) != NEXT_LESSON:
            return


NEXT_LESSON = 3  # the exit status of a lesson server that read NEXT: the worker waits for the next prelude


def lesson_server(prelude: bytes, read_exact, inp, out, sandboxed: bool) -> None:
    """Run one notebook's prelude and fork its exercises' children until the grader sends something else than FORK:
    :data:`grader.protocol.NEXT` (exit status :data:`NEXT_LESSON`) or the end of the worker."""
    base = {"__name__": "__main__", "__builtins__": builtins}
    try:
        source = protocol.decode_prelude(prelude)
        exec(compile(source, "<lesson>", "exec"), base)  # noqa: S102 - the lesson's own imports
    except Exception as error:  # noqa: BLE001
        protocol.write_frame(out, protocol.encode_message(protocol.encode_ready(error)))
        return
    namespaces = None
    if sandboxed:  # unsandboxed (the tests' plain worker), children share the grader's machine as they are
        try:
            namespaces = Namespaces(os.path.dirname(os.environ["TMPDIR"].rstrip("/")))
            probe(namespaces)
        except (OSError, KeyError) as error:
            reason = RuntimeError(f"the sandbox cannot give each exercise its own namespaces ({error})")
            protocol.write_frame(out, protocol.encode_message(protocol.encode_ready(reason)))
            return
    protocol.write_frame(out, protocol.encode_message(protocol.encode_ready()))
    while True:
        command = protocol.read_frame(read_exact, protocol.MAX_FRAME)
        if command == protocol.NEXT:
            os._exit(NEXT_LESSON)
        if command != protocol.FORK:
            return
        job_r, job_w = os.pipe()  # fork server -> child
        reply_r, reply_w = os.pipe()  # child -> fork server
        if namespaces is not None:
            ids = namespaces.fork(keeper_closes=[job_w, reply_r, job_r, reply_w, inp.fileno(), out.fileno()])
            keeper, pid = ids if ids is not None else (0, 0)
        else:
            keeper = pid = os.fork()
        if pid == 0:
            try:
                for fd in (job_w, reply_r, inp.fileno(), out.fileno()):
                    os.close(fd)  # the grader's pipes belong to the fork server alone
                if namespaces is not None:
                    namespaces.enter()
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
        _, status = os.waitpid(keeper, 0)  # the keeper ends once every process of the child's namespace is gone
        protocol.write_frame(out, protocol.encode_message(protocol.encode_exit(os.waitstatus_to_exitcode(status))))


if __name__ == "__main__":
    main()
