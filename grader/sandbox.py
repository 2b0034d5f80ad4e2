"""Grade every submission in a sandbox: the kernels of ``nbgrader autograde`` run under bubblewrap (``bwrap``).

A grading kernel started by :class:`SandboxedKernelManager`

- reads, and cannot write: the system (``/usr``, the ``/bin`` and ``/lib*`` links, a few files of ``/etc``), the
  Python environment that runs nbgrader (the virtual environment and the interpreter it was made from), the packages
  installed in editable mode (``helpers/``), the course's data folder (``$GAN_COURSE_DATA``, else
  ``~/.cache/gan-course``);
- writes only to its own folders, which go with it: a scratch folder (its home with the IPython profile, matplotlib
  and other caches; its ``TMPDIR``; the Unix sockets nbgrader talks to it through; and its working directory, a copy
  of the folder of the one submission it grades, :func:`copy_submission`, in that folder's place), deleted when the
  kernel stops;
  its data folder ``$GAN_COURSE_DATA``, a tmpfs holding a link to each file of the real one (:func:`mirror`: a new or
  replaced file, such as a lesson's checkpoint, stays in the tmpfs); and ``/dev/shm``. Everything else, ``/tmp``
  included, is read-only;
- sees nothing else: not ``solutions/``, ``gradebook.db``, other students' ``submitted/`` or ``autograded/`` folders,
  the grader's home or IPython profile;
- has no network (a network namespace of its own, with only a loopback interface), a PID namespace of its own (when
  the kernel is stopped, every process it started dies, however it detached), and runs as uid and gid 65534 with no
  capabilities and no way to make further user namespaces. That uid lives in a user namespace: outside it, the
  kernel's files belong to the user who runs nbgrader, so it is the read-only mounts, not the uid, that keep the
  kernel from changing what it sees.

nbgrader reaches the kernel through Unix sockets (``transport="ipc"``), and interrupts it (``Execute.timeout``) with an
``interrupt_request`` message, which ipykernel turns into a SIGINT to itself: a SIGINT sent from outside would stop
``bwrap``, and the sandbox with it.

nbgrader starts its kernels through :class:`grader.preprocessors.sandboxed_execute.SandboxedExecute`, which
``nbgrader_config.py`` puts in place of Execute (:func:`grader.preprocessors.sandboxed_execute.sandboxed`); the
grading worker (:class:`grader.remote.Worker`) uses :func:`bwrap_command` itself. Without ``bwrap`` grading stops
with :data:`MISSING`; ``GAN_GRADING_SANDBOX=off`` grades without a sandbox (trusted submissions only).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Integer, List, Unicode

SANDBOX_ENV = "GAN_GRADING_SANDBOX"
DATA_ENV = "GAN_COURSE_DATA"  # helpers.data.mnist.DATA_ENV (helpers is not imported here: it imports torch)
MISSING = (
    "bubblewrap (bwrap) is not installed: `sudo apt-get install bubblewrap`, or set GAN_GRADING_SANDBOX=off "
    "to grade without a sandbox (NOT for untrusted submissions)"
)
UID = 65534
# What the grading worker's fork server keeps (never a kernel, never a child that runs student code): SYS_ADMIN to
# make each exercise's PID, mount and IPC namespaces and mount its /proc and folders, SETPCAP to empty its children's
# bounding sets.
WORKER_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETPCAP")
DATA_SIZE = 2 << 30  # bytes: the most a kernel may write into its data folder (a tmpfs: memory)
SHM_SIZE = 1 << 30  # bytes: the most a kernel may write into /dev/shm (a tmpfs: memory); /dev itself is read-only
FOLDER_LINKS, MAX_LINKS = 256, 2_000  # see mirror()
WORK_SIZE, WORK_FILES = 64 << 20, 2_000  # bytes and files: the most copy_submission() copies (see there)
# Every namespace (user, mount, PID, network, IPC, UTS, cgroup), no nested user namespace, no capabilities; the
# sandbox dies with bwrap, and the kernel gets a session of its own (no terminal to push keystrokes into).
NAMESPACES = (
    "--unshare-all",
    "--unshare-user",
    "--disable-userns",
    "--cap-drop",
    "ALL",
    "--die-with-parent",
    "--new-session",
)
SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
ETC = ("alternatives", "fonts", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf")
# The environment a kernel keeps: locale, thread counts, the device, and every NBGRADER_* and GAN_* variable
# (nbgrader sets NBGRADER_EXECUTION in its own environment while it grades; the course reads GAN_*).
PASS_ENV = (
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "PYTHONHASHSEED",
    "PYDEVD_DISABLE_FILE_VALIDATION",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
)
PASS_PREFIXES = ("NBGRADER_", "GAN_")


class SandboxUnavailable(RuntimeError):
    """bwrap is missing or cannot build a sandbox on this machine (the message says what to do)."""


def sandbox_disabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``GAN_GRADING_SANDBOX`` turns the sandbox off (``off``, ``0``, ``false`` or ``no``)."""
    value = (os.environ if env is None else env).get(SANDBOX_ENV, "")
    return value.strip().lower() in ("off", "0", "false", "no")


def sandbox_available() -> str | None:
    """``None`` when bwrap can build the sandbox here, else the reason (what to install or set) as a sentence."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return MISSING
    probe = [
        bwrap,
        *NAMESPACES,
        "--uid",
        str(UID),
        "--gid",
        str(UID),
        *system_binds(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--",
        "true",
    ]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return (
            f"bwrap cannot run ({error}); set {SANDBOX_ENV}=off to grade without a sandbox "
            f"(NOT for untrusted submissions)"
        )
    if result.returncode != 0:
        return (
            f"bwrap cannot build a sandbox on this machine ({result.stderr.strip() or result.returncode}): user "
            f"namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1), or set {SANDBOX_ENV}=off "
            f"to grade without a sandbox (NOT for untrusted submissions)"
        )
    return None


def system_binds() -> list[str]:
    """bwrap arguments for the system: ``/usr`` read-only, and ``/bin``, ``/lib*``, ``/sbin`` as links or read-only."""
    args = []
    for name in SYSTEM:
        path = Path("/", name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


def python_roots(executable: str) -> list[Path]:
    """Where a kernel run as ``executable`` finds its interpreter and packages: this process's ``sys.prefix`` and
    ``sys.base_prefix`` (a virtual environment and the interpreter it was made from), and ``executable``'s own
    environment and installation when it is another one."""
    roots = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    exe = Path(executable)
    if exe.is_absolute():
        roots.add(exe.resolve().parent.parent)
        if (exe.parent.parent / "pyvenv.cfg").exists():
            roots.add(exe.parent.parent)
    return sorted(roots)


def editable_paths() -> list[Path]:
    """The folders (or modules) of packages installed in editable mode (``pip install -e .``), e.g. ``helpers/``.

    Read from the ``MAPPING`` of setuptools' ``__editable__`` import finders in ``sys.meta_path``: a kernel imports
    them from there, so only they are bound, not the repository around them.
    """
    paths = []
    for finder in sys.meta_path:
        module = sys.modules.get(getattr(finder, "__module__", None) or "")
        mapping = getattr(module, "MAPPING", None)
        if module is not None and module.__name__.startswith("__editable__") and isinstance(mapping, dict):
            paths += [Path(p) for p in mapping.values()]
    return paths


def data_root(env: Mapping[str, str]) -> Path:
    """The course's data folder, as :func:`helpers.data.mnist.data_root` finds it: ``$GAN_COURSE_DATA``, else
    ``~/.cache/gan-course`` (``~`` from ``env``'s ``HOME``)."""
    home = env.get("HOME") or str(Path.home())
    return Path(env.get(DATA_ENV) or Path(home, ".cache", "gan-course")).expanduser()


def mirror(source: Path, target: Path, size: int = DATA_SIZE) -> list[str]:
    """bwrap arguments that make ``target`` a writable stand-in for ``source``: a tmpfs of ``size`` bytes with the same
    folders and, for each file, a symbolic link to the original.

    A kernel reads the files through the links (``source`` is bound read-only); creating a file, or replacing one as
    ``helpers.checkpoint.save_atomic`` does, changes only the tmpfs, which goes with the sandbox; writing into a
    linked file fails. bwrap makes the tree in memory, in a few ms. bwrap takes at most 9,000 arguments, so a folder
    of more than :data:`FOLDER_LINKS` files (a dataset's images), or any beyond :data:`MAX_LINKS` links in all, is
    bound read-only as a whole instead: nothing can be added to it.
    """
    args, links = ["--size", str(size), "--tmpfs", str(target)], 0
    if not source.is_dir():
        return args
    for folder, dirs, files in os.walk(source):
        dirs.sort()
        here = target / Path(folder).relative_to(source)
        entries = sorted(files + [d for d in dirs if Path(folder, d).is_symlink()])
        if here != target and (len(entries) > FOLDER_LINKS or links + len(entries) > MAX_LINKS):
            args += ["--ro-bind", folder, str(here)]
            dirs.clear()
            continue
        if here != target:
            args += ["--dir", str(here)]
        args += [arg for name in entries for arg in ("--symlink", str(Path(folder, name)), str(here / name))]
        links += len(entries)
    return args


def copy_submission(source: Path | str | None, target: Path) -> bool:
    """Copy a submission folder into ``target`` (an empty folder), to be the writable working folder of one kernel or
    one exercise: what a student's code writes there (``open("scratch.txt", "w")``) stays in that copy.

    Only folders and regular files are copied, never followed through a link; links, devices and other special files
    are left out. A notebook becomes an empty file: the one being graded holds the hidden tests by now. False (and
    ``target`` left empty) when the folder holds more than :data:`WORK_SIZE` bytes or :data:`WORK_FILES` files.
    """
    if source is None or not Path(source).is_dir():
        return False
    source, plan, size = Path(source), [], 0
    for folder, dirs, files in os.walk(source):  # os.walk never follows a link to a folder
        dirs[:] = sorted(d for d in dirs if not Path(folder, d).is_symlink())
        for name in sorted(files):
            path = Path(folder, name)
            if not path.is_file() or path.is_symlink():
                continue
            empty = path.suffix == ".ipynb"
            size += 0 if empty else path.lstat().st_size
            plan.append((path, empty))
            if size > WORK_SIZE or len(plan) > WORK_FILES:
                return False
        for name in dirs:
            (target / Path(folder, name).relative_to(source)).mkdir(parents=True, exist_ok=True)
    for path, empty in plan:
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if empty:
            destination.touch()
        else:
            try:
                with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW)) as src:
                    with open(destination, "wb") as dst:
                        shutil.copyfileobj(src, dst)
            except OSError:
                continue  # changed under us: left out
    return True


KERNEL_DISK = 2 << 30  # bytes: the most a grading kernel may write in all into its scratch folder (on disk)
KERNEL_DISK_ENTRIES = 20_000  # files and folders in its scratch folder (each costs the disk an inode)
DISK_FLOOR = 1 << 30  # bytes: a kernel is stopped when the disk holding its scratch folder has less than this free
WATCH_DEPTH, CLEANUP_DEPTH = 64, 400  # folder nesting the disk watch measures (deeper stops the kernel), cleanup opens


def _open_folder(name: str, parent: int | None, unlock: bool = False) -> int:
    """A file descriptor to list the folder ``name`` (relative to the folder descriptor ``parent``, else a path),
    never reached through a link; a folder the kernel closed to its owner (``chmod 0o300``) is opened to the owner
    again first (``unlock``: every folder, so that its entries can be deleted): outside the sandbox the grader owns
    every file the kernel made."""
    handle = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=parent)
    try:
        if unlock:
            os.chmod(f"/proc/self/fd/{handle}", 0o700)
        try:
            return os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=handle)
        except PermissionError:
            os.chmod(f"/proc/self/fd/{handle}", 0o700)  # the folder the handle holds, not whatever the name is now
            return os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=handle)
    finally:
        os.close(handle)


# a name that is no longer the folder it was when listed (removed, or replaced by a file or a link): skipped
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


def _walk(folder: Path, visit, max_depth: int, unlock: bool = False) -> bool:
    """Call ``visit(stat)`` for every entry under ``folder`` (depth first, through folder descriptors, never through
    a link) until it returns False. Returns False when the walk stopped early or went deeper than ``max_depth``.

    Raises:
        OSError: a folder that cannot be listed even after :func:`_open_folder` reopens it.
    """

    def walk_from(fd: int, depth: int) -> bool:
        try:
            subfolders = []
            with os.scandir(fd) as listing:
                for entry in listing:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if not visit(info):
                        return False
                    if stat.S_ISDIR(info.st_mode):
                        subfolders.append(entry.name)
            if subfolders and depth >= max_depth:
                return False
            for name in subfolders:
                try:
                    child = _open_folder(name, fd, unlock)
                except OSError as error:
                    if error.errno in _GONE:
                        continue
                    raise
                if not walk_from(child, depth + 1):
                    return False
            return True
        finally:
            os.close(fd)

    try:
        root = _open_folder(str(folder), None, unlock)
    except FileNotFoundError:
        return True
    return walk_from(root, 0)


def folder_usage(folder: Path, max_entries: int) -> tuple[int, int]:
    """``(bytes on disk, entries)`` under ``folder``, links not followed; the count stops past ``max_entries``. What
    cannot be measured (a folder that cannot be listed, nesting deeper than :data:`WATCH_DEPTH`) counts as
    ``max_entries + 1`` entries: it is not let grow."""
    used = entries = 0

    def visit(info: os.stat_result) -> bool:
        nonlocal used, entries
        entries += 1
        used += info.st_blocks * 512
        return entries <= max_entries

    try:
        complete = _walk(folder, visit, WATCH_DEPTH)
    except OSError:
        complete = False
    return used, entries if complete else max(entries, max_entries + 1)


def remove_tree(folder: Path) -> None:
    """Delete ``folder`` and all in it, links removed and never followed, every folder opened to its owner first
    (``shutil.rmtree`` alone leaves a folder the kernel made unreadable or read-only, and its contents, on the disk)."""
    with contextlib.suppress(OSError, RecursionError):
        _walk(folder, lambda info: True, CLEANUP_DEPTH, unlock=True)
    shutil.rmtree(folder, ignore_errors=True)


class DiskWatch(threading.Thread):
    """Stop a grading kernel (``stop(reason)``) that writes more than ``limit`` bytes or ``max_entries`` files into
    its scratch folder, or leaves less than ``floor`` bytes free on the disk that holds it; checked every
    ``interval`` seconds until :meth:`close`.

    ``prlimit`` caps each file (:data:`KERNEL_FILE_SIZE`), not their sum, and the scratch folder cannot be a
    size-capped tmpfs: nbgrader must see the kernel's sockets in it, so the kernel can write there. The free-space
    floor also catches what the folder does not show (a file deleted while still open keeps its blocks).
    """

    def __init__(self, folder: Path, stop, *, limit: int, max_entries: int, floor: int, interval: float = 0.5):
        super().__init__(name="grading-disk-watch", daemon=True)
        self.folder, self.stop, self.interval = folder, stop, interval
        self.limit, self.max_entries, self.floor = limit, max_entries, floor
        self.closed = threading.Event()

    def check(self) -> str | None:
        """Why the kernel must stop, or None."""
        used, entries = folder_usage(self.folder, self.max_entries)
        if used > self.limit:
            return (
                f"it wrote {used / 2**20:.0f} MiB into its folders, more than the {self.limit / 2**20:.0f} MiB a "
                f"grading kernel may (SandboxedKernelManager.disk_limit)"
            )
        if entries > self.max_entries:
            return (
                f"it made more than {self.max_entries:,} files and folders in its folders, or one the grader cannot "
                f"list"
            )
        free = shutil.disk_usage(self.folder).free
        if free < self.floor:
            return (
                f"the disk that holds its folders has {free / 2**20:.0f} MiB free, less than the "
                f"{self.floor / 2**20:.0f} MiB grading keeps (SandboxedKernelManager.disk_floor)"
            )
        return None

    def run(self) -> None:
        while not self.closed.wait(self.interval):
            try:
                reason = self.check()
            except OSError:  # the folder is gone: the kernel's resources were cleaned up
                return
            if reason is not None:
                self.stop(reason)
                return

    def close(self) -> None:
        self.closed.set()


KERNEL_MEMORY = 16 << 30  # bytes of address space a grading kernel may reserve (RLIMIT_AS; not with a GPU)
KERNEL_FILE_SIZE = 1 << 30  # bytes: the largest file a grading kernel may write (RLIMIT_FSIZE)


def capped(command: list[str], *, memory: int = KERNEL_MEMORY, file_size: int = KERNEL_FILE_SIZE) -> list[str]:
    """``command`` run by util-linux's ``prlimit`` with its address space and file size capped: a submission that
    allocates more fails with a MemoryError in its own notebook, one that writes a larger file gets ``EFBIG``, and
    neither takes the grading machine's memory or disk. With a GPU the address space is left uncapped (CUDA reserves
    far more address space than it uses)."""
    limits = [f"--fsize={file_size}"] + ([] if gpu_devices() else [f"--as={memory}"])
    return ["prlimit", *limits, "--", *command]


def gpu_devices() -> list[str]:
    """The NVIDIA device files (``/dev/nvidia*``), which CUDA needs inside the sandbox; none on a CPU machine."""
    return sorted(glob.glob("/dev/nvidia*"))


def make_scratch(env: Mapping[str, str], uid: int) -> Path:
    """A new scratch folder for one kernel: ``home/``, ``tmp/``, ``ipc/`` (sockets), ``data/`` (where :func:`mirror`
    mounts the data folder) and ``etc/`` (a ``passwd`` and ``group`` that name only ``uid``)."""
    scratch = Path(tempfile.mkdtemp(prefix="gan-sandbox-"))
    home = scratch / "home"
    for folder in ("ipc", "etc", "tmp", "data", "home/.ipython", "home/.config/matplotlib", "home/.cache"):
        (scratch / folder).mkdir(parents=True)
    (scratch / "etc" / "passwd").write_text(f"nobody:x:{uid}:{uid}:grading sandbox:{home}:/usr/sbin/nologin\n")
    (scratch / "etc" / "group").write_text(f"nogroup:x:{uid}:\n")
    for fontlist in matplotlib_cache(env).glob("fontlist-*.json"):  # spares each kernel a font scan
        shutil.copy(fontlist, home / ".config" / "matplotlib")
    return scratch


def matplotlib_cache(env: Mapping[str, str]) -> Path:
    """matplotlib's cache folder for ``env``: ``$MPLCONFIGDIR``, else ``$XDG_CACHE_HOME/matplotlib``, else
    ``~/.cache/matplotlib``."""
    if env.get("MPLCONFIGDIR"):
        return Path(env["MPLCONFIGDIR"])
    home = env.get("HOME") or str(Path.home())
    return Path(env.get("XDG_CACHE_HOME") or Path(home, ".cache"), "matplotlib")


def sandbox_env(env: Mapping[str, str], scratch: Path, executable: str) -> dict[str, str]:
    """The kernel's whole environment: :data:`PASS_ENV` and ``NBGRADER_*``/``GAN_*`` from ``env``, ``PATH``, and a
    home, ``TMPDIR``, IPython, matplotlib, Jupyter runtime, cache and data folder in ``scratch``. Nothing else
    passes: no ``PYTHONPATH``, no ``JUPYTER_*`` or ``IPYTHONDIR`` of the grader."""
    home = scratch / "home"
    kept = {k: v for k, v in env.items() if k in PASS_ENV or k.startswith(PASS_PREFIXES)}
    kept.pop(SANDBOX_ENV, None)
    bin_dir = os.path.dirname(executable) if os.path.isabs(executable) else os.path.dirname(sys.executable)
    return {
        "LANG": "C.UTF-8",
        **kept,
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "USER": "nobody",
        "LOGNAME": "nobody",
        "TMPDIR": str(scratch / "tmp"),
        "IPYTHONDIR": str(home / ".ipython"),
        "MPLCONFIGDIR": str(home / ".config" / "matplotlib"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "JUPYTER_RUNTIME_DIR": str(home / ".local" / "share" / "jupyter" / "runtime"),
        DATA_ENV: str(scratch / "data"),
    }


def outermost(paths: Iterable[Path]) -> list[Path]:
    """``paths`` without duplicates and without those inside another one of them."""
    unique = sorted({Path(os.path.abspath(p)) for p in paths})
    return [p for p in unique if not any(q != p and p.is_relative_to(q) for q in unique)]


def bwrap_command(
    kernel_cmd: list[str],
    *,
    scratch: Path,
    cwd: str | None,
    read_only: Iterable[Path],
    data: Path | None = None,
    uid: int = UID,
    work: Path | None = None,
    capabilities: Iterable[str] = (),
) -> list[str]:
    """``kernel_cmd`` wrapped in bwrap: the namespaces, the read-only binds (system, ``/etc`` files, ``read_only``
    and ``data``), the GPU devices, ``scratch`` writable with ``data``'s :func:`mirror` in ``scratch/data``, ``cwd``
    as the working directory, the rest of ``/`` absent. ``cwd`` is read-only, or, with ``work`` (a copy of it in
    ``scratch``, :func:`copy_submission`), that copy, writable, in its place.

    ``capabilities`` are kept inside the sandbox's own user namespace (none by default): the grading worker's fork
    server keeps :data:`WORKER_CAPABILITIES` to give each exercise namespaces of its own, and drops them in every
    child before any student code runs (:class:`grader.worker.Namespaces`).

    Raises:
        SandboxUnavailable: a read-only path holds ``cwd`` (it would show other students' folders and the course).
    """
    read_only = [p for p in outermost([*read_only, *([data] if data else [])]) if p.exists()]
    if cwd is not None:
        exposing = [p for p in read_only if Path(cwd).resolve().is_relative_to(p.resolve())]
        if exposing:
            raise SandboxUnavailable(
                f"refusing to grade in a sandbox that shows {exposing[0]}: it holds the "
                f"submission folder {cwd}, hence the course and the other students"
            )
    args = [
        "bwrap",
        *NAMESPACES,
        *(arg for capability in capabilities for arg in ("--cap-add", capability)),
        "--uid",
        str(uid),
        "--gid",
        str(uid),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        # bwrap's /dev is a tmpfs the sandbox may write, uncapped (half the RAM): read-only (below), with a capped
        # tmpfs of its own for /dev/shm (PyTorch's shared tensors)
        "--size",
        str(SHM_SIZE),
        "--tmpfs",
        "/dev/shm",
        *system_binds(),
    ]
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += [
        "--ro-bind",
        str(scratch / "etc" / "passwd"),
        "/etc/passwd",
        "--ro-bind",
        str(scratch / "etc" / "group"),
        "/etc/group",
    ]
    for path in read_only:
        args += ["--ro-bind", str(path), str(path)]
    devices = gpu_devices()
    for device in devices:
        args += ["--dev-bind", device, device]
    if devices:
        args += ["--ro-bind", "/sys", "/sys"]
    args += ["--bind", str(scratch), str(scratch)]
    if data is not None:
        args += mirror(data, scratch / "data")
    if cwd is not None:
        args += ["--bind" if work else "--ro-bind", str(work or cwd), str(cwd), "--chdir", str(cwd)]
        # nbgrader has already written the notebook being graded here, with its test cells restored from the
        # gradebook (hidden tests included): the kernel sees every notebook of the folder as an empty file
        for notebook in sorted(Path(cwd).glob("**/*.ipynb"))[:MAX_LINKS]:
            if notebook.is_file() and not notebook.is_symlink():
                args += ["--ro-bind", "/dev/null", str(notebook)]
    args += ["--remount-ro", "/dev"]  # after the GPU's device binds; /dev/shm stays writable
    # jupyter_client's launcher puts its own pid in JPY_PARENT_PID, a pid that does not exist in the PID namespace:
    # ipykernel would exit at once ("Parent appears to have exited"). The kernel's parent there is bwrap's pid 1,
    # which ipykernel does not poll (--die-with-parent does that job).
    return [*args, "--remount-ro", "/", "--setenv", "JPY_PARENT_PID", "1", "--", *kernel_cmd]


class SandboxedKernelManager(AsyncKernelManager):
    """The AsyncKernelManager that nbclient (and so nbgrader) uses, with its kernel in a bubblewrap sandbox.

    What the kernel sees, and what not, is in this module's docstring. Each kernel gets a scratch folder
    (:func:`make_scratch`), deleted with the kernel's resources; a restart gets a new one.
    ``GAN_GRADING_SANDBOX=off`` makes it a plain AsyncKernelManager (with a warning).
    """

    read_only = List(Unicode(), help="More paths a grading kernel may read (bound read-only at the same place).").tag(
        config=True
    )
    uid = Integer(UID, help="The kernel's uid and gid inside the sandbox (a user namespace).").tag(config=True)
    disk_limit = Integer(KERNEL_DISK, help="Bytes a grading kernel may write in all into its scratch folder.").tag(
        config=True
    )
    disk_floor = Integer(DISK_FLOOR, help="Free bytes below which a grading kernel is stopped.").tag(config=True)

    _scratch: Path | None = None
    _disk_watch: DiskWatch | None = None

    @property
    def kernel_spec(self):
        """The kernel's spec, interrupted by message: a SIGINT would stop bwrap, and the sandbox with it."""
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    async def _async_pre_start_kernel(self, **kw):
        """Make the scratch folder and put the connection file and the kernel's sockets (ipc transport) in it."""
        if sandbox_disabled():
            self.log.warning(
                "%s=off: grading WITHOUT a sandbox; a submission can read and change the course "
                "(solutions, gradebook, other students) and leave processes behind",
                SANDBOX_ENV,
            )
        else:
            reason = sandbox_available()
            if reason is not None:
                raise SandboxUnavailable(reason)
            self._scratch = make_scratch(kw.get("env") or os.environ, self.uid)
            self.transport = "ipc"
            self.ip = str(self._scratch / "ipc" / "kernel")
            self.connection_file = str(self._scratch / "ipc" / "kernel.json")
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        """Launch ``kernel_cmd`` inside bwrap, with the environment of :func:`sandbox_env`."""
        if self._scratch is not None:
            env, executable = kw.get("env") or dict(os.environ), kernel_cmd[0]
            read_only = [*python_roots(executable), *editable_paths(), *map(Path, self.read_only)]
            # the submission folder, as a writable copy: a scratch file written there stays in the scratch folder
            work = self._scratch / "work"
            work.mkdir()
            if not copy_submission(kw.get("cwd"), work):
                self.log.warning("Submission folder too large to copy: the kernel's working folder is read-only")
                work = None
            try:
                kernel_cmd = bwrap_command(
                    capped(kernel_cmd),
                    scratch=self._scratch,
                    cwd=kw.get("cwd"),
                    read_only=read_only,
                    data=data_root(env),
                    uid=self.uid,
                    work=work,
                )
            except SandboxUnavailable:
                await self._async_cleanup_resources()
                raise
            kw["env"] = sandbox_env(env, self._scratch, executable)
            self.log.debug("Sandboxed kernel: %s", kernel_cmd)
        await super()._async_launch_kernel(kernel_cmd, **kw)
        if self._scratch is not None:
            self._disk_watch = DiskWatch(
                self._scratch,
                self._stop_for_disk,
                limit=self.disk_limit,
                max_entries=KERNEL_DISK_ENTRIES,
                floor=self.disk_floor,
            )
            self._disk_watch.start()

    def _stop_for_disk(self, reason: str) -> None:
        """From the disk watch's thread: kill bwrap, and with it every process of the sandbox (--die-with-parent)."""
        process = getattr(self.provisioner, "process", None)
        self.log.error("Grading kernel stopped: %s. The rest of its notebook is not run.", reason)
        if process is not None:
            with contextlib.suppress(OSError):
                process.kill()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        """jupyter_client's cleanup, then delete the scratch folder (links are removed, never followed)."""
        if self._disk_watch is not None:
            self._disk_watch.close()
            self._disk_watch = None
        await super()._async_cleanup_resources(restart=restart)
        if self._scratch is not None:
            remove_tree(self._scratch)
            self._scratch = None

    pre_start_kernel = _async_pre_start_kernel
    _launch_kernel = _async_launch_kernel
    cleanup_resources = _async_cleanup_resources
