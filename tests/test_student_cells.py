"""What the grading worker replays of a student's notebook (grader/answer_cells.py), without nbgrader or a sandbox.

The student's own cells run before each answer as the kernel ran them, but no test cell, no hidden test and none of
the lesson's training runs; the exercises' names stay the answer cells' or the references'; the working folder is a
copy of the submission folder without links, special files or notebook contents. tests/test_honest.py grades real
layouts through nbgrader.
"""

from __future__ import annotations

import os
import time

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.answer_cells import (
    answers_of,
    bound_names,
    exercises_of,
    job_for,
    lesson_setup,
    names_used,
    runner_source,
    solution_calls_of,
    statements,
    student_cells,
    with_student_cells,
)
from grader.sandbox import copy_submission


def _graded(source: str, grade_id: str, *, solution: bool, grade: bool) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": not solution}
    return cell


def instructor() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell("# lesson"),
            new_code_cell("import torch\ndevice = torch.device('cpu')\nsettings = dict(epochs=3)\nSCALE = 2 * 3\n"),
            new_code_cell("data = torch.arange(settings['epochs'])\nunused = torch.zeros(1)\n"),
            _graded(
                "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n",
                "double",
                solution=True,
                grade=False,
            ),  # fmt: skip
            _graded(
                "assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(3) == 6\n### END HIDDEN TESTS\n",
                "test_double",
                solution=False,
                grade=True,
            ),  # fmt: skip
            new_code_cell("model = train_for_minutes()\n"),
            _graded("def triple(x):\n    return 3 * x\n", "triple", solution=True, grade=False),
            _graded("assert triple(2) == 6\n", "test_triple", solution=False, grade=True),
        ]
    )


def student() -> nbformat.NotebookNode:
    nb = instructor()
    nb.cells[3].source = "import os\n\nos._exit(0)\nHALF = 0.5\n\n\ndef double(x):\n    return _twice(x)\n"
    nb.cells[2:2] = [
        new_code_cell("%matplotlib inline\nimport math\n\n\n@staticmethod\ndef _twice(x):\n    return x + x\n")
    ]
    nb.cells.insert(
        4, new_code_cell("TABLE = {}\nfor k in range(3):\n    TABLE[k] = k\nprint(TABLE)\ndevice = 'cuda'\n")
    )
    nb.cells.insert(5, new_code_cell("def triple(x):\n    return 0\n"))  # an exercise's name in a cell of their own
    nb.cells[7].source += "\n### BEGIN HIDDEN TESTS\nsecret = 1\n"  # a test cell, restored with its hidden part
    return nb


def test_statements_keep_decorators_and_lines():
    (node, line, source), *_ = statements("\n@staticmethod\ndef f():\n    pass\n")
    assert line == 2 and source.startswith("@staticmethod") and node.name == "f"
    assert statements("def broken(:\n") == []


def test_bound_names_are_the_globals_a_statement_binds():
    assert bound_names(statements("for k in range(3):\n    TABLE[k] = k\n")[0][0]) == {"k", "TABLE"}
    assert bound_names(statements("def f(x):\n    local = 1\n")[0][0]) == {"f"}
    assert bound_names(statements("import torch.nn as nn, math\n")[0][0]) == {"nn", "math"}
    assert bound_names(statements("Generator.forward = None\n")[0][0]) == {"Generator"}
    assert bound_names(statements("print([y for y in range(2)])\n")[0][0]) == set()


def test_student_cells_replay_the_students_code_and_nothing_of_the_tests_or_the_lessons_runs():
    nb, source = student(), instructor()
    cells = dict(student_cells(nb, source, exercises_of(source)))
    replayed = "\n".join(src for kept in cells.values() for _, src in kept)
    assert "def _twice" in replayed and "@staticmethod" in replayed and "import math" in replayed
    assert "TABLE = {}" in replayed and "for k in range(3)" in replayed and "print(TABLE)" in replayed
    assert "assert" not in replayed and "secret" not in replayed, "a test cell was replayed"
    assert "train_for_minutes" not in replayed and "settings = " not in replayed, "a lesson statement was replayed"
    assert "'cuda'" not in replayed, "device is the grader's"
    assert "return 0" not in replayed, "an exercise's name was taken from a cell of the student's own"
    assert "return _twice(x)" not in replayed, "an answer's def is the answer cell's (or the reference)"
    assert "HALF = 0.5" in replayed and "import os" in replayed, "another answer cell's definitions are replayed"
    assert "_exit" not in replayed, "another answer cell's other code (a crash) must cost its own exercise only"


def test_the_lesson_setup_is_what_the_students_code_names_with_what_it_depends_on():
    source = instructor()
    assert lesson_setup(source, {"nothing"}) == ""
    setup = lesson_setup(source, {"data"})
    assert "data = torch.arange" in setup and "settings = dict" in setup
    assert "unused" not in setup and "SCALE" not in setup and "device =" not in setup
    assert "train_for_minutes" not in lesson_setup(source, {"model"}), "only the cells above the first exercise"
    assert "TABLE" in names_used(student(), student_cells(student(), source, exercises_of(source)))


def test_a_job_replays_the_cells_above_the_test_in_notebook_order_then_the_answer():
    nb, source = student(), instructor()
    exercises = exercises_of(source)
    cells = student_cells(nb, source, exercises)
    test = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "test_double")
    nb.cells[test - 1].source = "def double(x):\n    return _twice(x)\n"  # (this test runs the job right here)
    job = with_student_cells([("double", nb.cells[test - 1].source)], nb, cells, test, "/work")
    names = [name for name, _ in job]
    assert (
        names[0].startswith("<the grader") and "chdir('/work')" in job[0][1] and "path.insert(0, '/work')" in job[0][1]
    )
    assert names.index("<your cell 3>") < names.index("<your cell 5>") < names.index("double")
    assert all(not name.startswith("<your cell") or int(name.split()[-1][:-1]) <= test for name in names)
    namespace = {}
    for name, source_code in job:
        if name.startswith("<the grader"):
            source_code = source_code.split("\n", 2)[2]  # not the chdir and sys.path
        exec(compile(source_code, name, "exec"), namespace)  # noqa: S102 - the test's own notebook
    assert namespace["double"](4) == 8 and namespace["TABLE"] == {0: 0, 1: 1, 2: 2}


def test_a_slow_cell_is_cut_after_its_time_and_a_failing_statement_is_skipped():
    namespace = {}
    exec(runner_source(None, seconds=0.5), namespace)  # noqa: S102
    start = time.monotonic()
    cell = [(1, "FIRST = 1"), (2, "1 / 0"), (3, "while True:\n    pass"), (5, "LATE = 2")]
    namespace["__gan_replay__"](cell, "<your cell 1>")
    assert time.monotonic() - start < 5
    assert namespace["FIRST"] == 1 and "LATE" not in namespace


def test_the_working_folder_is_a_copy_without_links_special_files_or_notebook_contents(tmp_path):
    source, target = tmp_path / "submission", tmp_path / "work"
    (source / "sub").mkdir(parents=True)
    target.mkdir()
    (source / "nb.ipynb").write_text("hidden tests")
    (source / "data.txt").write_text("mine")
    (source / "sub" / "more.txt").write_text("more")
    (tmp_path / "secret.txt").write_text("secret")
    (source / "link.txt").symlink_to(tmp_path / "secret.txt")
    (source / "linked").symlink_to(tmp_path)
    os.mkfifo(source / "fifo")
    assert copy_submission(source, target)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == [
        "data.txt",
        "nb.ipynb",
        "sub",
        "sub/more.txt",
    ]
    assert (target / "nb.ipynb").read_text() == "" and (target / "data.txt").read_text() == "mine"


def test_a_submission_folder_too_large_is_not_copied(tmp_path, monkeypatch):
    import grader.sandbox

    monkeypatch.setattr(grader.sandbox, "WORK_SIZE", 10)
    source, target = tmp_path / "submission", tmp_path / "work"
    source.mkdir()
    target.mkdir()
    (source / "big.bin").write_bytes(b"x" * 100)
    assert not copy_submission(source, target) and not list(target.iterdir())


def test_magics_run_as_the_kernel_ran_them(tmp_path):
    """A %%time on an answer cell or a cell of the student's own keeps what it defines; a line magic or a shell
    escape is no error; %%writefile writes its file in the working folder."""
    nb, source = student(), instructor()
    test = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "test_double")
    nb.cells[test - 1].source = "%%time\n%matplotlib inline\ndef double(x):\n    return x * TWO\n"
    nb.cells[test - 1 : test - 1] = [
        new_code_cell("%%time\nTWO = 2\n!echo no shell here\n"),
        new_code_cell("%%writefile notes.py\nNOTE = 'kept'\n"),
    ]
    test += 2
    exercises = exercises_of(source)
    answers = answers_of(nb, exercises)
    assert "%%time" not in answers["double"] and "def double" in answers["double"]
    job = with_student_cells(
        [("double", answers["double"])], nb, student_cells(nb, source, exercises), test, str(tmp_path)
    )
    namespace = {}
    cwd = os.getcwd()
    try:
        for name, code in job:
            exec(compile(code, name, "exec"), namespace)  # noqa: S102 - the test's own notebook
    finally:
        os.chdir(cwd)
    assert namespace["double"](4) == 8
    assert (tmp_path / "notes.py").read_text() == "NOTE = 'kept'\n"


def test_a_lesson_assignment_the_students_code_reads_is_replayed_where_the_kernel_ran_it():
    """The setup holds the lesson's variables above the first exercise; one below it (``loss_scale``) that an answer's
    default argument reads is replayed where it stands, and so is the student's own copy of a lesson line. The
    lesson's runs are still not replayed where nothing of the student's reads what they bind."""
    source = instructor()
    source.cells.insert(5, new_code_cell("loss_scale = SCALE + 1\nhistory = train_for_minutes()\n"))
    nb = instructor()
    nb.cells.insert(5, new_code_cell("loss_scale = SCALE + 1\nhistory = train_for_minutes()\n"))
    nb.cells.insert(1, new_code_cell("model = train_for_minutes()\n"))  # a lesson line, copied above the exercises
    triple = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "triple")
    nb.cells[triple].source = "def triple(x, k=loss_scale):\n    return 3 * x + 0 * k * len(model)\n"
    replayed = [src for _, kept in student_cells(nb, source, exercises_of(source)) for _, src in kept]
    assert replayed.count("loss_scale = SCALE + 1") == 1 and replayed.count("model = train_for_minutes()") == 2
    assert not any("history" in src for src in replayed), "a lesson run that nothing of the student's reads"
    assert "SCALE = 2 * 3" in lesson_setup(source, names_used(nb, student_cells(nb, source, exercises_of(source))))


def test_an_exercise_written_below_its_stub_or_in_another_answer_cell_is_the_one_graded():
    source = instructor()
    nb = instructor()
    double = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "double")
    nb.cells[double].source = "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    nb.cells.insert(double + 1, new_code_cell("def double(x):  # my version, below the stub\n    return x + x\n"))
    triple = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "triple")
    nb.cells[triple].source = "# triple is with double's cell\n"
    nb.cells[double].source += "\n\ndef triple(x):\n    return 3 * x\n"
    answers = answers_of(nb, exercises_of(source))
    assert "x + x" in answers["double"] and "NotImplementedError" not in answers["double"]
    assert "return 3 * x" in answers["triple"]
    nb.cells.pop(double + 1)
    assert "NotImplementedError" in answers_of(nb, exercises_of(source))["double"], "a blank answer stays blank"


def test_a_job_gets_the_exercises_the_students_own_cells_call():
    """A helper of the student's own that calls an exercise (``def shorthand(x): return double(x)``) gets that
    exercise in the job: its reference where the tested exercise's solution relies on it, else the student's own
    definitions (never the rest of that answer cell: its os._exit() costs its own exercise alone)."""
    source = instructor()
    exercises = exercises_of(source)

    def reference(x):
        return 2 * x

    answers = {
        "double": "import os\n\nos._exit(0)\n\n\ndef double(x):\n    return x + x\n",
        "triple": "def triple(x):\n    return shorthand(x) + x\n",
    }
    chosen, refs = job_for(["triple"], answers, exercises, {"double": reference})
    assert [name for name, _ in chosen] == ["triple"] and refs == {}
    chosen, refs = job_for(["triple"], answers, exercises, {"double": reference}, also={"double", "print"})
    assert [name for name, _ in chosen] == ["triple"] and refs == {"double": reference}
    relies = {"triple": {"double"}, "double": set()}
    chosen, refs = job_for(["triple"], answers, exercises, {"double": reference}, {"double"}, relies)
    assert refs == {"double": reference}, "triple's solution calls double: its reference"
    chosen, refs = job_for(["triple"], answers, exercises, {"double": reference}, {"double"}, {"triple": set()})
    assert refs == {}, "triple's solution does not call double: no reference may stand in for it"
    (name, definitions), *_ = [entry for entry in chosen if entry[0] == "double"]
    assert "def double" in definitions and "import os" in definitions and "_exit" not in definitions


def test_no_reference_stands_in_for_an_exercise_its_solution_does_not_call():
    """Only the exercises a tested exercise's solution calls may be references: a student's cycle loss that calls the
    identity loss (which, with its weight at 1, computes the cycle loss) gets the student's own identity loss."""
    source = instructor()
    source.cells[3].source = "def double(x):\n    ### BEGIN SOLUTION\n    return triple(x) - x\n    ### END SOLUTION\n"
    assert solution_calls_of(source) == {"double": {"triple"}, "triple": set()}
    answers = {"double": "def double(x):\n    return 2 * x\n", "triple": "def triple(x):\n    return double(x) + x\n"}
    exercises = exercises_of(source)
    references = {"double": lambda x: 2 * x, "triple": lambda x: 3 * x}
    _, refs = job_for(["double"], answers, exercises, references, (), solution_calls_of(source))
    assert refs == {}, "the student's triple calls the tested double: its own triple, not the reference"
    chosen, refs = job_for(["triple"], answers, exercises, references, (), solution_calls_of(source))
    assert refs == {} and [name for name, _ in chosen] == ["triple", "double"]
