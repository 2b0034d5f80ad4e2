"""One submission never affects another or the run: real ``nbgrader collect`` on a real exchange folder, a plain
``nbgrader autograde <lesson>`` (the class command of docs/instructors.md) and ``scripts/grade_class.py``, on lesson
01_backquery (the fastest), with the repository's ``nbgrader_config.py``.

nbgrader copies a submission following links, so a link in it (put in ``submitted/`` directly, or in the exchange's
inbound folder, which every account may write) arrives as the file it points to; and one notebook whose nbgrader
metadata has a bad schema version ends a plain autograde for every student after it. Here every attack sits between
honest students (``a_honest`` first, ``z_honest`` last, names sort in grading order), and:

- each link, hard link, device, FIFO or socket refuses its submission before anything is copied, with a log line
  naming the student and the file; nothing of the solutions or the gradebook reaches ``submitted/`` or
  ``autograded/``;
- a notebook with a bad schema version is graded against the instructor's cells, or is that student's error (logged);
  the run goes on;
- a notebook whose test cells were reordered or deleted is graded with the instructor's tests in the instructor's
  order (and its correct answers keep their points);
- every honest student in the same run gets full marks.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from course import SCRIPTS, fill, grade_id, nbgrader_env, read, require_bwrap, solution_sources, submit, up_to_last_test

LESSON = "01_backquery"
COURSE_ID = "gan-course"  # nbgrader_config.py's
HONEST = ("a_honest", "z_honest")
pytestmark = pytest.mark.slow


def nbgrader_run(course: Path, *args: str) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` in ``course``; its exit status and log, whatever they are."""
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=1200,
    )


def graded_test_ids(notebook) -> list[str]:
    """The autograded test cells' grade ids, in the notebook's order."""
    return [
        grade_id(c)
        for c in notebook.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade") and not c.metadata.nbgrader.solution
    ]


def points_of_tests(course: Path) -> dict[str, float]:
    released = read(course / "notebooks" / LESSON / f"{LESSON}.ipynb")
    return {
        grade_id(c): float(c.metadata.nbgrader.points)
        for c in released.cells
        if grade_id(c) in graded_test_ids(released)
    }


def auto_scores(course: Path, student: str) -> dict[str, float | None]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(LESSON, LESSON, student)
        return {g.name: g.auto_score for g in notebook.grades}


def graded_students(course: Path) -> set[str]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {s.student.id for s in gradebook.find_assignment(LESSON).submissions}


def assert_full_marks(course: Path, student: str) -> None:
    wanted = points_of_tests(course)
    got = {gid: auto_scores(course, student).get(gid) for gid in wanted}
    assert got == wanted, f"{student} should have full marks: {got}"
    assert (course / "autograded" / student / LESSON / f"{LESSON}.ipynb").is_file()


def complete(released) -> nbformat.NotebookNode:
    return fill(up_to_last_test(released), solution_sources(LESSON))


def write_notebook(folder: Path, notebook) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(folder / f"{LESSON}.ipynb"))


def reordered(notebook) -> nbformat.NotebookNode:
    """The first two test cells swapped and the third deleted (nbgrader puts it back wherever it fits)."""
    notebook = nbformat.from_dict(notebook)
    tests = [i for i, c in enumerate(notebook.cells) if grade_id(c) in graded_test_ids(notebook)]
    assert len(tests) >= 3, tests
    first, second, third = tests[:3]
    cells = notebook.cells
    cells[first], cells[second] = cells[second], cells[first]
    del cells[third]
    return notebook


def bad_schema(notebook, own_cell: bool = False) -> nbformat.NotebookNode:
    """nbgrader metadata of a schema version this nbgrader does not know: on the first answer cell (graded against the
    instructor's cells), or on a cell of the student's own (``own_cell``: that student's error)."""
    notebook = nbformat.from_dict(notebook)
    if own_cell:
        cell = nbformat.v4.new_code_cell("print('my own cell')")
        cell.metadata["nbgrader"] = {"schema_version": 99, "grade": False, "solution": False, "locked": False}
        notebook.cells.insert(1, cell)
    else:
        next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")).metadata.nbgrader[
            "schema_version"
        ] = 99
    return notebook


def special_files(folder: Path) -> list[str]:
    """A FIFO, a socket and (as root) a device file in ``folder``; their names."""
    os.mkfifo(folder / "pipe")
    with tempfile.TemporaryDirectory(dir="/tmp") as short:  # a socket's path has at most 107 bytes: bind, then move
        server = socket.socket(socket.AF_UNIX)
        server.bind(os.path.join(short, "s"))
        server.close()
        os.rename(os.path.join(short, "s"), folder / "socket")
    names = ["pipe", "socket"]
    if os.geteuid() == 0:
        os.mknod(folder / "device", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's numbers: harmless to read
        names.append("device")
    return names


def inbound_record(inbound: Path, student: str, hour: int) -> Path:
    """A submission folder in the exchange's inbound folder, named as ``nbgrader submit`` names it."""
    stamp = f"2024-03-01 {hour:02d}:00:00.000000 UTC"
    return inbound / f"{student}+{LESSON}+{stamp}+{student[:1]}0"


def secrets_in(folder: Path) -> list[str]:
    """Files under ``folder`` that hold a gradebook (an SQLite database) or the solutions (their markers); not the
    graded notebooks of ``autograded/`` (they hold the tests, hidden ones too, until feedback clears them)."""
    found = []
    for path in folder.rglob("*"):
        graded_notebook = folder.name == "autograded" and path.name == f"{LESSON}.ipynb"
        if path.is_file() and not path.is_symlink() and not graded_notebook:
            data = path.read_bytes()
            if b"BEGIN SOLUTION" in data or b"BEGIN HIDDEN TESTS" in data or data.startswith(b"SQLite format 3"):
                found.append(str(path.relative_to(folder)))
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory, release):
    """Collect from an exchange full of attacks, plant more in ``submitted/``, then one plain ``nbgrader autograde``."""
    require_bwrap("the hostile submissions are graded in the sandbox")
    tmp = tmp_path_factory.mktemp("hostile_submissions")
    course = release(LESSON, tmp)
    released = read(course / "notebooks" / LESSON / f"{LESSON}.ipynb")
    full = complete(released)
    solutions = course / "solutions" / LESSON
    inbound = tmp / "exchange" / COURSE_ID / "inbound"
    inbound.mkdir(parents=True)

    def record(student: str, hour: int = 10) -> Path:
        folder = inbound_record(inbound, student, hour)
        write_notebook(folder, full)
        (folder / "timestamp.txt").write_text(folder.name.split("+")[2])
        return folder

    expected = {}  # student -> the file its refusal must name
    for student in HONEST:
        record(student)
    os.symlink(course / "gradebook.db", record("c_link") / "gradebook.db")
    os.symlink(solutions / f"{LESSON}.ipynb", record("c_link", 9) / "notes.ipynb")  # an older one, links too
    expected["c_link"] = "gradebook.db"
    os.symlink(solutions, inbound_record(inbound, "d_dirlink", 10))  # the record itself: the solutions folder
    expected["d_dirlink"] = "d_dirlink+"
    os.link(course / "gradebook.db", record("e_hardlink") / "backup.db")
    expected["e_hardlink"] = "backup.db"
    expected["f_special"] = special_files(record("f_special"))[0]
    if os.geteuid() == 0:  # a classmate's forgery: system accounts stand in for a hub's students
        forged, honest = record("daemon"), record("nobody")  # "daemon"'s folder made by another account
        os.chown(forged, NOBODY, NOBODY)
        for path in [honest, *honest.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
        expected["daemon"] = "not by 'daemon'"
    collect = nbgrader_run(course, "collect", LESSON, f"--Exchange.root={tmp / 'exchange'}")

    # attacks put in submitted/ directly
    submitted = course / "submitted"
    write_notebook(submitted / "g_link" / LESSON, full)
    os.symlink(solutions / f"{LESSON}.ipynb", submitted / "g_link" / LESSON / "stolen.txt")
    expected["g_link"] = "stolen.txt"
    (submitted / "h_nblink" / LESSON).mkdir(parents=True)
    os.symlink(solutions / f"{LESSON}.ipynb", submitted / "h_nblink" / LESSON / f"{LESSON}.ipynb")
    expected["h_nblink"] = f"{LESSON}.ipynb"
    write_notebook(submitted / "i_special" / LESSON, full)
    expected["i_special"] = special_files(submitted / "i_special" / LESSON)[0]
    os.symlink(submitted / "a_honest", submitted / "j_dirlink")  # another student's folder, as one's own
    expected["j_dirlink"] = "j_dirlink"
    submit(course, "k_reordered", LESSON, reordered(full))
    submit(course, "x_schema", LESSON, bad_schema(full, own_cell=True))
    submit(course, "y_schema", LESSON, bad_schema(full))
    autograde = nbgrader_run(course, "autograde", LESSON)
    return {
        "course": course,
        "collect": collect,
        "autograde": autograde,
        "expected": expected,
        "instructor_tests": graded_test_ids(read(solutions / f"{LESSON}.ipynb")),
    }


COLLECT_ATTACKS = ["c_link", "d_dirlink", "e_hardlink", "f_special"]
NOBODY = 65534  # the account "nobody" of Debian's base system; "daemon" is uid 1


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder of another account needs root")
def test_collect_refuses_a_submission_another_account_made_under_a_students_name(graded):
    """The inbound folder is writable by every account: a folder named for "daemon" but made by "nobody" is a
    forgery (nbgrader only warns); "nobody"'s own folder is collected."""
    course, log = graded["course"], graded["collect"].stderr + graded["collect"].stdout
    assert not (course / "submitted" / "daemon").exists(), log[-4000:]
    lines = [line for line in log.splitlines() if "daemon" in line and "not collected" in line]
    assert lines and graded["expected"]["daemon"] in lines[0], log[-4000:]
    assert (course / "submitted" / "nobody" / LESSON / f"{LESSON}.ipynb").is_file(), log[-4000:]


SUBMITTED_ATTACKS = ["g_link", "h_nblink", "i_special", "j_dirlink"]


@pytest.mark.parametrize("student", COLLECT_ATTACKS)
def test_collect_refuses_links_and_special_files_in_the_exchange(graded, student):
    course, log = graded["course"], graded["collect"].stderr + graded["collect"].stdout
    folder = course / "submitted" / student
    assert not folder.exists(), f"{student}: collected from the exchange: {sorted(map(str, folder.rglob('*')))}"
    lines = [line for line in log.splitlines() if student in line and "not collected" in line]
    assert lines, f"no log line says {student} was not collected:\n{log[-4000:]}"
    assert graded["expected"][student] in lines[0], lines[0]


def test_collect_collects_every_honest_student(graded):
    course, result = graded["course"], graded["collect"]
    for student in HONEST:
        assert (course / "submitted" / student / LESSON / f"{LESSON}.ipynb").is_file(), result.stderr[-4000:]
    assert secrets_in(course / "submitted") == []


@pytest.mark.parametrize("student", SUBMITTED_ATTACKS)
def test_autograde_refuses_links_and_special_files_in_a_submission(graded, student):
    course, log = graded["course"], graded["autograde"].stderr
    assert not (course / "autograded" / student).exists(), f"{student} was graded"
    assert student not in graded_students(course), f"{student} has a submission in the gradebook"
    lines = [line for line in log.splitlines() if student in line and "not graded" in line]
    assert lines, f"no log line says {student} was not graded:\n{log[-4000:]}"
    assert graded["expected"][student] in lines[0] and "regular files" in lines[0], lines[0]


def test_autograde_copies_nothing_of_the_solutions_or_the_gradebook(graded):
    assert secrets_in(graded["course"] / "autograded") == []


def test_a_bad_schema_version_is_graded_against_the_instructors_cells_and_the_run_goes_on(graded):
    """On one of the lesson's cells, the instructor's metadata replaces it: graded, full marks. On a cell of the
    student's own, nbgrader cannot read the notebook: that student's error; the students after it are graded."""
    course, result = graded["course"], graded["autograde"]
    assert result.returncode == 1, result.stderr[-4000:]  # nbgrader's status when a submission failed
    assert_full_marks(course, "y_schema")
    assert not (course / "autograded" / "x_schema").exists()
    assert "error processing assignment '01_backquery' for student 'x_schema'" in result.stderr, result.stderr[-4000:]
    assert_full_marks(course, "z_honest")  # graded after both


def test_reordered_and_deleted_tests_run_in_the_instructors_order(graded):
    course = graded["course"]
    assert_full_marks(course, "k_reordered")
    notebook = read(course / "autograded" / "k_reordered" / LESSON / f"{LESSON}.ipynb")
    assert graded_test_ids(notebook) == graded["instructor_tests"]


@pytest.mark.parametrize("student", HONEST)
def test_every_honest_student_in_the_same_run_gets_full_marks(graded, student):
    assert_full_marks(graded["course"], student)


def test_grade_class_refuses_links_and_keeps_grading_past_a_bad_schema(tmp_path, release, capsys):
    """scripts/grade_class.py: a link or a special file refuses its submission before any copy; a notebook with a bad
    schema version is graded, and the worker that grades it grades the students after it too (none again alone)."""
    import importlib.util

    require_bwrap("the hostile submissions are graded in the sandbox")
    course = release(LESSON, tmp_path)
    full = complete(read(course / "notebooks" / LESSON / f"{LESSON}.ipynb"))
    submit(course, "a_honest", LESSON, full)
    submit(course, "g_link", LESSON, full)
    os.symlink(course / "gradebook.db", course / "submitted" / "g_link" / LESSON / "gradebook.db")
    (course / "submitted" / "h_special" / LESSON).mkdir(parents=True)
    special_files(course / "submitted" / "h_special" / LESSON)
    submit(course, "y_schema", LESSON, bad_schema(full))
    submit(course, "z_honest", LESSON, full)

    spec = importlib.util.spec_from_file_location("grade_class_script", SCRIPTS / "grade_class.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    status = script.main([LESSON, "--course", str(course), "--jobs", "1"])
    out, err = capsys.readouterr()
    assert status == 1, out + err
    for student in HONEST:
        assert_full_marks(course, student)
    for student, name in (("g_link", "gradebook.db"), ("h_special", "pipe")):
        line = next((x for x in err.splitlines() if f"{student}: NOT GRADED" in x), "")
        assert name in line and "regular files" in line, err[-4000:]
        assert not (course / "autograded" / student).exists()
    assert_full_marks(course, "y_schema")
    assert "again, each alone" not in err, err[-4000:]  # no worker stopped
    assert secrets_in(course / "autograded") == []


def test_collect_says_when_a_folders_owner_cannot_tell_a_forgery(graded):
    """The honest students here have no account on the machine (one shared uid, as on a hub with a container per
    user): their folders are collected, and the log says that ownership could not vouch for them."""
    course, log = graded["course"], graded["collect"].stderr + graded["collect"].stdout
    assert all((course / "submitted" / student).exists() for student in HONEST), log[-4000:]
    lines = [line for line in log.splitlines() if "no account on this machine" in line]
    assert len(lines) == 1 and all(student in lines[0] for student in HONEST), log[-4000:]
