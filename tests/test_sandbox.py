"""The grading sandbox (grader/sandbox.py), tested with hostile submissions under real ``nbgrader autograde``.

A throw-away course with a one-exercise assignment of its own (``tiny``: ``double(x)`` and one test cell, so a kernel
start is most of the cost), graded with the repository's nbgrader_config.py plus the sandbox. Every hostile answer
also defines a correct ``double``, prints what its attack achieved, and must still score full marks (but the looper):

- ``a_reader``   reads solutions/, the gradebook, another student's submission, the repository, the grader's profile;
- ``b_writer``   appends to the gradebook, another student's submission and autograded notebook, solutions/, the
  virtual environment and helpers/, and swaps its notebook for a link to the gradebook (which nbgrader would then
  overwrite with the graded notebook); a file written in its working folder lands in a private copy of it;
- ``c_network``  connects to a TCP server and an abstract Unix socket that this test listens on, and resolves a name;
- ``d_detacher`` leaves three sleeping processes behind (a new session, a double fork, nohup);
- ``e_startup``  writes an IPython startup file into the grader's profile;
- ``f_looper``   loops forever (the cell timeout must interrupt it, and grading must go on; it scores 0: its answer
  cell never ends where the verdict is decided either);
- ``z_honest``   the solution: full marks (graded last, after every attack).

Needs Debian's bubblewrap (``apt-get install bubblewrap``): skipped without it, except under CI (.ci/run installs it).
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from course import ROOT, cell_text, fill, nbgrader, read, require_bwrap, scores, submit
from traitlets.config import Config

from grader import sandbox
from grader.preprocessors.sandboxed_execute import SandboxedExecute, sandboxed
from grader.sandbox import (
    MISSING,
    SandboxedKernelManager,
    SandboxUnavailable,
    bwrap_command,
    capped,
    sandbox_available,
)

ASSIGNMENT = "tiny"
SOLUTION = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
HONEST = "def double(x):\n    return 2 * x"
TEST = (
    "from helpers.profiles import get_profile\n\n"
    'assert get_profile().grading, "NBGRADER_EXECUTION did not reach the kernel"\n'
    "assert double(21) == 42"
)
CELL_TIMEOUT = 8  # s: the infinite loop costs this much
SANDBOX_CONFIG = f"""

# tests/test_sandbox.py: every grading kernel in the sandbox, and a short cell timeout for the infinite loop
from grader.preprocessors.sandboxed_execute import sandboxed  # noqa: E402

c.Autograde.autograde_preprocessors = sandboxed(c.Autograde.autograde_preprocessors)
c.Execute.timeout = {CELL_TIMEOUT}
c.GradeOutsideKernel.timeout = {CELL_TIMEOUT}
"""
PAYLOAD = 'payload = "PWN" + "ED"'  # the string the attacks write; it is nowhere in the sources


def tiny_notebook(answer: str = SOLUTION) -> nbformat.NotebookNode:
    """The instructor's source of the tiny assignment (with ``answer`` as the exercise cell)."""

    def meta(grade_id, *, solution, points=None):
        nb = {
            "grade": points is not None,
            "grade_id": grade_id,
            "locked": not solution,
            "schema_version": 3,
            "solution": solution,
            "task": False,
        }
        return {"nbgrader": nb if points is None else {**nb, "points": points}}

    cells = [
        nbformat.v4.new_markdown_cell("Write `double(x)`."),
        nbformat.v4.new_code_cell(answer, metadata=meta("answer", solution=True)),
        nbformat.v4.new_code_cell(TEST, metadata=meta("test_answer", solution=False, points=1)),
    ]
    kernelspec = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernelspec})


def tiny_course(tmp: Path, *, sandboxed_config: bool = True) -> Path:
    """A course with the repository's config (plus the sandbox) and the tiny assignment, released."""
    course = tmp / "course"
    (course / "solutions" / ASSIGNMENT).mkdir(parents=True)
    config = (ROOT / "nbgrader_config.py").read_text()
    (course / "nbgrader_config.py").write_text(config + (SANDBOX_CONFIG if sandboxed_config else ""))
    nbformat.write(tiny_notebook(), str(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"))
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    return course


def submit_answer(course: Path, student: str, answer: str) -> None:
    released = read(course / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    submit(course, student, ASSIGNMENT, fill(released, {"answer": answer}))


def autograde(course: Path) -> float:
    """``nbgrader autograde tiny`` for every submission; returns the seconds it took."""
    start = time.perf_counter()
    nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force")
    return time.perf_counter() - start


@pytest.fixture(scope="module")
def grader_env():
    """nbgrader's processes import grader/ from this checkout (also before `pip install -e .` installs it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        patch.delenv(sandbox.SANDBOX_ENV, raising=False)
        yield patch


class Listener:
    """A TCP server on 127.0.0.1 and an abstract Unix socket server that count the connections they accept."""

    def __init__(self):
        self.accepted = 0
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.abstract = f"gan-sandbox-test-{uuid.uuid4().hex}"
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind("\0" + self.abstract)
        self.unix.listen()
        for server in (self.tcp, self.unix):
            threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self.tcp.close()
        self.unix.close()


def processes_with(token: str) -> list[int]:
    """pids of the live processes whose command line holds ``token``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def detacher(token: str) -> str:
    """An answer that leaves three sleepers behind (new session, double fork, nohup) and counts them alive."""
    return f"""import os, subprocess, sys, time

def double(x):
    return 2 * x

TOKEN = {token!r}
sleeper = [sys.executable, "-c", "import time; time.sleep(300)", TOKEN]
subprocess.Popen(sleeper, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
child = os.fork()
if child == 0:  # double fork in a new session: the grandchild is adopted by init
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, sleeper)
    os._exit(0)
os.waitpid(child, 0)
subprocess.run(["sh", "-c", f"nohup {{sys.executable}} -c 'import time; time.sleep(300)' {{TOKEN}} >/dev/null 2>&1 &"])
time.sleep(1)
alive = 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        alive += TOKEN.encode() in open(f"/proc/{{pid}}/cmdline", "rb").read()
    except OSError:
        pass
print("ALIVE", alive, "PID", os.getpid(), "UID", os.getuid())
"""


def attacks(course: Path, listener: Listener, instructor_ipython: Path, token: str) -> dict[str, str]:
    """student -> hostile answer (each also defines a correct ``double``)."""
    head = "import os\n\ndef double(x):\n    return 2 * x\n\n"
    honest = course / "submitted" / "z_honest" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    site_packages = Path(sysconfig.get_paths()["purelib"])
    reads = [
        "../../../solutions/tiny/tiny.ipynb",
        "../../../gradebook.db",
        f"{course}/solutions/tiny/tiny.ipynb",
        f"{course}/gradebook.db",
        f"{course}/nbgrader_config.py",
        str(honest),
        f"../../../submitted/z_honest/{ASSIGNMENT}/{ASSIGNMENT}.ipynb",
        f"{ROOT}/solutions/01_backquery/01_backquery.ipynb",
        f"{ROOT}/nbgrader_config.py",
        f"{instructor_ipython}/profile_default/ipython_config.py",
    ]
    listed = ["../../..", str(course), str(ROOT), str(Path.home()), "/"]
    writes = [
        "../../../gradebook.db",
        f"{course}/gradebook.db",
        str(honest),
        f"{course}/autograded/a_reader/{ASSIGNMENT}/{ASSIGNMENT}.ipynb",
        f"{course}/solutions/tiny/tiny.ipynb",
        f"{site_packages}/sandbox-probe-{token}.txt",
        f"{ROOT}/helpers/sandbox-probe-{token}.txt",
    ]
    startup = instructor_ipython / "profile_default" / "startup"
    return {
        "a_reader": head
        + f"""for path in {reads!r}:
    try:
        with open(path, "rb") as file:
            print("READ", path, len(file.read()))
    except OSError as error:
        print("NOREAD", path, type(error).__name__)
for folder in {listed!r}:
    try:
        print("LISTED", folder, sorted(os.listdir(folder)))
    except OSError as error:
        print("NOLIST", folder, type(error).__name__)
""",
        "b_writer": head
        + PAYLOAD
        + f"""
for path in {writes!r}:
    try:
        with open(path, "a") as file:
            file.write(payload)
        print("WROTE", os.path.abspath(path))
    except OSError as error:
        print("NOWRITE", path, type(error).__name__)
try:
    os.symlink({str(course / "gradebook.db")!r}, "link.tmp")
    os.replace("link.tmp", "{ASSIGNMENT}.ipynb")
    print("WROTE the link")
except OSError as error:
    print("NOWRITE the link", type(error).__name__)
with open("planted.txt", "w") as file:  # the working folder is a private copy: writable, and nothing reaches the course
    file.write(payload)
print("SCRATCH", open("planted.txt").read() == payload)
""",
        "c_network": head
        + f"""import socket
try:
    socket.create_connection(("127.0.0.1", {listener.port}), timeout=3).close()
    print("CONNECTED tcp")
except OSError as error:
    print("NOCONNECT tcp", type(error).__name__)
try:
    unix = socket.socket(socket.AF_UNIX)
    unix.settimeout(3)
    unix.connect("\\0" + {listener.abstract!r})
    print("CONNECTED unix")
except OSError as error:
    print("NOCONNECT unix", type(error).__name__)
try:
    socket.getaddrinfo("pypi.org", 443)
    print("CONNECTED dns")
except OSError as error:
    print("NOCONNECT dns", type(error).__name__)
print("INTERFACES", [name for _, name in socket.if_nameindex()])
""",
        "d_detacher": detacher(token),
        "e_startup": head
        + PAYLOAD
        + f"""
for folder in [{str(startup)!r}, get_ipython().profile_dir.startup_dir]:
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "00-startup.py"), "w") as file:
            file.write("import builtins; builtins." + payload + " = True")
        print("WROTE", folder)
    except OSError as error:
        print("NOWRITE", folder, type(error).__name__)
""",
        "f_looper": head.replace("import os", "import builtins")
        + """\
print("STARTUP RAN" if hasattr(builtins, "PWN" + "ED") else "CLEAN START")
while True:
    pass
""",
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory, grader_env):
    """The hostile class and the honest student, autograded once in the sandbox."""
    require_bwrap("the sandbox must be tested")
    tmp = tmp_path_factory.mktemp("sandbox")
    course = tiny_course(tmp)
    instructor_ipython = tmp / "instructor-ipython"
    (instructor_ipython / "profile_default" / "startup").mkdir(parents=True)
    (instructor_ipython / "profile_default" / "ipython_config.py").write_text("c = get_config()\n")
    grader_env.setenv("IPYTHONDIR", str(instructor_ipython))
    scratch = tmp / "tmp"  # where the kernels' scratch folders go
    scratch.mkdir()
    grader_env.setenv("TMPDIR", str(scratch))
    listener, token = Listener(), f"gan-sandbox-{uuid.uuid4().hex}"
    with socket.create_connection(("127.0.0.1", listener.port)):
        pass  # the listener works: one connection, from this test
    for student, answer in attacks(course, listener, instructor_ipython, token).items():
        submit_answer(course, student, answer)
    submit_answer(course, "z_honest", HONEST)
    honest = course / "submitted" / "z_honest" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    before = hashlib.sha256(honest.read_bytes()).hexdigest()
    probes = [
        Path(sysconfig.get_paths()["purelib"]) / f"sandbox-probe-{token}.txt",
        ROOT / "helpers" / f"sandbox-probe-{token}.txt",
    ]
    try:
        seconds = autograde(course)
        survivors = processes_with(token)
        written = [probe for probe in probes if probe.exists()]
    finally:  # never leave a broken sandbox's damage behind in the shared environment
        kill(processes_with(token))
        listener.close()
        for probe in probes:
            probe.unlink(missing_ok=True)
    time.sleep(0.2)  # the listener threads count the last connection
    after = hashlib.sha256(honest.read_bytes()).hexdigest()
    yield dict(
        course=course,
        seconds=seconds,
        survivors=survivors,
        accepted=listener.accepted,
        written=written,
        honest_sha=(before, after),
        instructor_ipython=instructor_ipython,
        scratch=scratch,
    )


def output(graded, student: str) -> str:
    return cell_text(read(graded["course"] / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), "answer")


@pytest.mark.slow
def test_every_submission_gets_full_marks_despite_the_attacks(graded):
    print(f"\nautograded 7 submissions in the sandbox in {graded['seconds']:.1f} s")
    for student in ("a_reader", "b_writer", "c_network", "d_detacher", "e_startup", "z_honest"):
        assert scores(graded["course"], ASSIGNMENT, student) == {"test_answer": (1.0, 1.0, False)}, student
    # the endless loop at the top of the answer cell also runs where the verdict's calls run (grader/worker.py):
    # the function is never defined there, so the exercise fails, with a message that says why
    assert scores(graded["course"], ASSIGNMENT, "f_looper") == {"test_answer": (0.0, 1.0, False)}
    graded_nb = read(graded["course"] / "autograded" / "f_looper" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    assert f"longer than {CELL_TIMEOUT} s" in cell_text(graded_nb, "test_answer")


@pytest.mark.slow
def test_nothing_of_the_course_can_be_read(graded):
    text = output(graded, "a_reader")
    print(text)
    assert "NOREAD" in text and "READ " not in text.replace("NOREAD ", "")
    for line in text.splitlines():
        if line.startswith("LISTED"):
            shown = ast.literal_eval(line.split(" ", 2)[2])
            assert not {"solutions", "gradebook.db", "submitted", "nbgrader_config.py", "README.md"} & set(shown), line


@pytest.mark.slow
def test_nothing_outside_the_kernel_can_be_written(graded):
    text = output(graded, "b_writer")
    print(text)
    assert "NOWRITE" in text and "WROTE" not in text
    assert "SCRATCH True" in text, "the kernel's working folder (a copy of the submission folder) must be writable"
    course = graded["course"]
    touched = [p for p in course.rglob("*") if p.is_file() and b"PWNED" in p.read_bytes()]
    assert not touched, f"the attack wrote into {touched}"
    assert graded["honest_sha"][0] == graded["honest_sha"][1], "the honest submission was changed"
    assert not (course / "autograded" / "b_writer" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_symlink()
    assert graded["written"] == [], "the attack wrote into the Python environment or helpers/"


@pytest.mark.slow
def test_no_network(graded):
    text = output(graded, "c_network")
    print(text)
    assert "CONNECTED" not in text and text.count("NOCONNECT") == 3
    assert "INTERFACES ['lo']" in text
    assert graded["accepted"] == 1, "only this test's own check may reach the listener"


@pytest.mark.slow
def test_no_process_survives_grading(graded):
    text = output(graded, "d_detacher")
    print(text)
    assert "ALIVE 3 PID 2 UID 65534" in text  # the three sleepers ran, in the kernel's own PID namespace
    assert graded["survivors"] == [], f"processes left by the submission: {graded['survivors']}"


@pytest.mark.slow
def test_the_graders_ipython_profile_is_out_of_reach(graded):
    text = output(graded, "e_startup")
    print(text)
    startup = graded["instructor_ipython"] / "profile_default" / "startup"
    assert f"NOWRITE {startup}" in text
    assert list(startup.iterdir()) == []
    assert "CLEAN START" in output(graded, "f_looper")  # the kernel's own startup file went with its kernel


@pytest.mark.slow
def test_an_infinite_loop_is_interrupted_and_grading_goes_on(graded):
    assert "KeyboardInterrupt" in output(graded, "f_looper")


@pytest.mark.slow
def test_scratch_folders_are_removed(graded):
    assert list(graded["scratch"].iterdir()) == []


@pytest.mark.slow
def test_no_process_outlives_its_kernel(tmp_path, monkeypatch):
    """The sleepers are gone the moment nbclient has shut the kernel down, not at the end of a grading run."""
    from nbclient import NotebookClient

    require_bwrap("the sandbox must be tested")
    monkeypatch.delenv(sandbox.SANDBOX_ENV, raising=False)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # as nbgrader does; the test cell checks it
    token = f"gan-sandbox-{uuid.uuid4().hex}"
    notebook = tiny_notebook(detacher(token))
    client = NotebookClient(
        notebook,
        kernel_manager_class=SandboxedKernelManager,
        shutdown_kernel="immediate",
        timeout=30,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()
        survivors = processes_with(token)
    finally:
        kill(processes_with(token))
    assert "ALIVE 3 PID 2" in "".join(o.get("text", "") for o in notebook.cells[1].outputs)
    assert survivors == []


# --- without bwrap, and the fallback -----------------------------------------------------------------------------


def test_missing_bwrap_says_what_to_do(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv(sandbox.SANDBOX_ENV, raising=False)
    assert sandbox_available() == MISSING
    assert "apt-get install bubblewrap" in MISSING and "GAN_GRADING_SANDBOX=off" in MISSING
    with pytest.raises(SandboxUnavailable, match="bubblewrap"):
        asyncio.run(SandboxedKernelManager(kernel_name="python3").start_kernel())


@pytest.mark.slow
def test_without_bwrap_nothing_is_graded_and_off_grades_unsandboxed(tmp_path, grader_env, monkeypatch):
    course = tiny_course(tmp_path)
    submit_answer(course, "honest", HONEST)
    monkeypatch.setenv("PATH", "/nonexistent")  # nbgrader's own bin folder stays first (tests/course.py)
    with pytest.raises(AssertionError) as failure:
        autograde(course)
    assert MISSING in str(failure.value)
    assert not (course / "autograded" / "honest" / ASSIGNMENT).exists()
    monkeypatch.setenv(sandbox.SANDBOX_ENV, "off")
    autograde(course)
    assert scores(course, ASSIGNMENT, "honest") == {"test_answer": (1.0, 1.0, False)}


# --- pieces ------------------------------------------------------------------------------------------------------


def test_execute_kernel_manager_class_config_is_ignored_by_nbgrader():
    """Why :class:`SandboxedExecute` exists: nbgrader's Execute overrides ``c.Execute.kernel_manager_class``."""
    from jupyter_client.manager import AsyncKernelManager
    from nbgrader.preprocessors import Execute

    config = Config()
    config.Execute.kernel_manager_class = "grader.sandbox.SandboxedKernelManager"
    assert Execute(config=config).kernel_manager_class is AsyncKernelManager
    assert SandboxedExecute().kernel_manager_class is SandboxedKernelManager
    assert sandboxed([int, Execute, str]) == [int, SandboxedExecute, str]


def bare_scratch(tmp_path: Path) -> Path:
    """The least a scratch folder for :func:`bwrap_command` holds: ``etc/passwd`` and ``etc/group``."""
    scratch = tmp_path / "scratch"
    (scratch / "etc").mkdir(parents=True)
    for name in ("passwd", "group"):
        (scratch / "etc" / name).write_text("")
    return scratch


def test_the_data_folder_is_writable_and_the_real_one_unchanged(tmp_path):
    require_bwrap("the sandbox must be tested")
    data, scratch = tmp_path / "data", bare_scratch(tmp_path)
    (data / "runs").mkdir(parents=True)
    (data / "runs" / "a.pt").write_text("original\n")
    mirror_ = scratch / "data"
    script = (
        f"cat {mirror_}/runs/a.pt; echo new > {mirror_}/runs/new.pt; echo fresh > {mirror_}/cache.pt; "
        f"echo replaced > {mirror_}/runs/.tmp && mv {mirror_}/runs/.tmp {mirror_}/runs/a.pt; "  # as save_atomic
        f"cat {mirror_}/runs/a.pt; echo appended >> {data}/runs/a.pt || echo READ-ONLY"
    )
    command = bwrap_command(["sh", "-c", script], scratch=scratch, cwd=None, read_only=[], data=data)
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["original", "replaced", "READ-ONLY"], result.stderr
    assert (data / "runs" / "a.pt").read_text() == "original\n"
    assert sorted(p.name for p in data.rglob("*")) == ["a.pt", "runs"]
    assert list((scratch / "data").iterdir()) == []  # the stand-in lived in the sandbox's memory


def test_a_read_only_folder_holding_the_submission_is_refused(tmp_path):
    submission = tmp_path / "autograded" / "alice" / ASSIGNMENT
    submission.mkdir(parents=True)
    with pytest.raises(SandboxUnavailable, match="refusing"):
        bwrap_command(["python"], scratch=tmp_path / "scratch", cwd=str(submission), read_only=[tmp_path])
    command = bwrap_command(
        ["python"],
        scratch=tmp_path / "scratch",
        cwd=str(submission),
        read_only=[Path(sys.prefix), Path(sys.prefix) / "lib"],
    )
    assert command.count(sys.prefix) == 2 and command[-2:] == ["--", "python"]  # bound once, inner path dropped


def test_a_capped_command_cannot_take_the_machines_memory_or_write_a_huge_file(tmp_path):
    """What a grading kernel gets (sandbox.capped): a MemoryError and EFBIG in its own process, at small caps here."""
    require_bwrap("the sandbox must be tested")
    scratch = bare_scratch(tmp_path)
    script = f"""
import errno
try:
    bytearray(3 << 30)
    print("ALLOCATED")
except MemoryError:
    print("MEMORY")
try:
    with open("{scratch}/big", "wb") as out:
        out.write(bytes(2 << 20))
    print("WRITTEN")
except OSError as error:
    print(errno.errorcode[error.errno])
"""
    command = capped([sys.executable, "-c", script], memory=2 << 30, file_size=1 << 20)
    command = bwrap_command(command, scratch=scratch, cwd=None, read_only=sandbox.python_roots(sys.executable))
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    expected = ["MEMORY", "EFBIG"] if not sandbox.gpu_devices() else ["ALLOCATED", "EFBIG"]
    assert result.stdout.split() == expected, result.stderr


# --- disk: the kernel's scratch folder is capped in all, not only per file ---------------------------------------

FILLER = """
import os, time
written = 0
while written < 400 << 20:  # 400 MiB, in files of 8 MiB: each under the per-file cap
    with open(os.path.join(os.environ["TMPDIR"], f"filler-{written >> 23}"), "wb") as out:
        out.write(bytes(8 << 20))
    written += 8 << 20
    time.sleep(0.05)
print("FINISHED", written >> 20, "MiB")
"""


def test_a_kernel_that_fills_its_folders_is_stopped_and_the_log_says_why(tmp_path, monkeypatch, caplog):
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    require_bwrap("the sandbox must be tested")
    monkeypatch.delenv(sandbox.SANDBOX_ENV, raising=False)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FILLER)])
    client = NotebookClient(
        notebook,
        kernel_manager_class=SandboxedKernelManager,
        config=Config({"SandboxedKernelManager": {"disk_limit": 64 << 20}}),
        shutdown_kernel="immediate",
        timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    with pytest.raises(DeadKernelError):
        client.execute()
    text = "".join(o.get("text", "") for o in notebook.cells[0].get("outputs", []))
    assert "FINISHED" not in text
    assert any("Grading kernel stopped: it wrote" in r.getMessage() and "disk_limit" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]  # fmt: skip


def test_the_disk_watch_names_each_limit_it_enforces(tmp_path):
    folder = tmp_path / "scratch"
    (folder / "tmp").mkdir(parents=True)
    (folder / "tmp" / "big").write_bytes(bytes(3 << 20))
    for k in range(6):
        (folder / f"small-{k}").write_text("x")

    def reason(**limits):
        watch = sandbox.DiskWatch(folder, stop=None, **{"limit": 1 << 30, "max_entries": 100, "floor": 0, **limits})
        return watch.check()

    assert reason() is None
    assert "wrote 3 MiB" in reason(limit=1 << 20)
    assert "more than 5 files" in reason(max_entries=5)
    assert "MiB free" in reason(floor=1 << 62)  # more than any disk holds: a deleted, still open file counts too


def test_a_kernel_cannot_write_dev_and_its_dev_shm_is_capped(tmp_path):
    require_bwrap("the sandbox must be tested")
    scratch = bare_scratch(tmp_path)
    script = (
        "touch /dev/planted 2>/dev/null && echo DEV-WRITTEN || echo DEV-READ-ONLY; "
        "echo x > /dev/shm/a && echo SHM-WRITTEN; "
        "df -B1 --output=size /dev/shm | tail -1"
    )
    command = bwrap_command(["sh", "-c", script], scratch=scratch, cwd=None, read_only=[])
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    lines = result.stdout.split()
    assert lines[:2] == ["DEV-READ-ONLY", "SHM-WRITTEN"], result.stderr
    assert int(lines[2]) == sandbox.SHM_SIZE


CLOSED_FOLDER = """
import sys
from pathlib import Path
from grader import sandbox
folder = Path(sys.argv[1])
used, entries = sandbox.folder_usage(folder, 100)
sandbox.remove_tree(folder)
print(used, entries, folder.exists())
"""


def test_a_folder_the_kernel_closed_to_its_owner_is_measured_and_removed(tmp_path):
    # outside the sandbox the kernel's files are the grader's: a grader without root's override (the documented
    # grader-gan-course account) could neither list nor delete a folder the kernel set to 0o300
    folder = tmp_path / "scratch"
    (folder / "tmp" / "hidden").mkdir(parents=True)
    (folder / "tmp" / "hidden" / "big").write_bytes(bytes(2 << 20))
    (folder / "tmp" / "hidden").chmod(0o300)
    (folder / "tmp" / "kept").mkdir()  # readable, but nothing in it can be deleted
    (folder / "tmp" / "kept" / "file").write_bytes(bytes(1 << 20))
    (folder / "tmp" / "kept").chmod(0o500)
    as_the_grader = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    result = subprocess.run(
        [*as_the_grader, sys.executable, "-c", CLOSED_FOLDER, str(folder)], capture_output=True, text=True, timeout=60
    )
    used, entries, exists = result.stdout.split()
    assert int(used) >= 3 << 20 and int(entries) == 5 and exists == "False", result.stderr


def test_the_disk_watch_never_follows_a_link_and_stops_what_nests_too_deep(tmp_path):
    outside = tmp_path / "grader's own"  # a folder of the grader's, closed, that a kernel's link names
    (outside / "inner").mkdir(parents=True)
    (outside / "inner" / "big").write_bytes(bytes(2 << 20))
    outside.chmod(0o300)
    folder = tmp_path / "scratch"
    folder.mkdir()
    (folder / "escape").symlink_to(outside, target_is_directory=True)
    try:
        used, entries = sandbox.folder_usage(folder, 100)
        assert (used < 1 << 20, entries) == (True, 1)
        assert outside.stat().st_mode & 0o777 == 0o300  # not reopened through the link
    finally:
        outside.chmod(0o700)
    deep = folder / "deep"
    deep.joinpath(*["d"] * (sandbox.WATCH_DEPTH + 5)).mkdir(parents=True)
    assert sandbox.folder_usage(folder, 10_000)[1] == 10_001  # too deep to measure: the kernel is stopped
    sandbox.remove_tree(folder)
    assert not folder.exists() and (outside / "inner" / "big").exists()
