"""Project-level promises: install/test commands, environment files, no answers in helpers/."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import tomllib

import helpers
from course import LESSONS, ROOT, read, solution_path


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _names(requirements):
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower(): r.replace(" ", "") for r in requirements}


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    import yaml

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    installs_project = [r for r in pip_section if r.startswith("-e")]
    assert installs_project, "environment.yml must install the course itself (-e .[dev])"
    listed = _names(r for r in pip_section if not r.startswith("-e"))
    project = _pyproject()["project"]
    expected = _names(project["dependencies"] + project["optional-dependencies"]["dev"])
    assert listed == expected, f"environment.yml {listed} != pyproject.toml {expected}"


def test_ci_runs_the_install_and_test_commands_written_in_readme():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    install = 'pip install -e ".[dev]"'
    assert install in readme and install in ci, "README and .ci/run must install the same way"
    test_block = re.search(r"To run the whole test suite:\s*```bash\n(.+?)\n```", readme, re.S)
    assert test_block, "README must show the test command in a bash block after 'To run the whole test suite:'"
    command = test_block.group(1).strip()
    assert re.search(rf"^{re.escape(command)}$", ci, re.M), f".ci/run must call README's test command {command!r}"
    assert "python3 -m venv" in ci, ".ci/run must create its own environment"


def _helpers_modules():
    for info in pkgutil.iter_modules(helpers.__path__):
        yield importlib.import_module(f"helpers.{info.name}")


def _exercise_functions(lesson):
    names = set()
    for cell in read(solution_path(lesson)).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            tree = ast.parse(cell.source)
            names |= {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return names


def test_helpers_never_contains_an_exercise_answer():
    exercises = set().union(*(_exercise_functions(lesson) for lesson in LESSONS))
    assert {"make_targets", "backquery", "train_generator"} <= exercises
    for module in _helpers_modules():
        leaked = sorted(name for name in exercises if hasattr(module, name))
        assert not leaked, f"{module.__name__} defines exercise answers {leaked}"
    sources = "\n".join(p.read_text() for p in (ROOT / "helpers").glob("*.py"))
    for lesson in LESSONS:
        for cell in read(solution_path(lesson)).cells:
            if "### BEGIN SOLUTION" in cell.source and cell.cell_type == "code":
                answer = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
                for line in answer.splitlines():
                    line = line.strip()
                    if len(line) > 25 and not line.startswith(("return", "with torch.no_grad", "#")):
                        assert line not in sources, f"answer line {line!r} of {lesson} appears in helpers/"


def test_importing_helpers_has_no_side_effects():
    import subprocess
    import sys

    code = ("import torch; state = torch.random.get_rng_state().clone(); "
            "import helpers, helpers.device, helpers.profiles, helpers.data, helpers.nets, helpers.training, "
            "helpers.plotting, helpers.widgets, helpers.grading; "
            "assert torch.equal(state, torch.random.get_rng_state()), 'importing helpers changed the RNG'; "
            "assert torch.get_default_dtype() == torch.float32")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_every_lesson_starts_with_profile_device_and_seed():
    for lesson in LESSONS:
        setup = "\n".join(c.source for c in read(solution_path(lesson)).cells[:4] if c.cell_type == "code")
        for call in ("get_profile()", "set_seed("):
            assert call in setup, f"{lesson}: the setup cell must call {call}"
        text = "\n".join(c.source for c in read(solution_path(lesson)).cells if c.cell_type == "code")
        assert not re.search(r"""["']cuda["']|\.cuda\(\)""", text), f"{lesson} hard-wires CUDA: use get_device()"
        assert not re.search(r"def \w+\(.*device=device", text), f"{lesson}: a default argument evaluated at definition time"
        assert "def train(self" not in text, f"{lesson} overrides nn.Module.train()"


def test_checked_notebook_cells_have_a_reference_output():
    # nbval compares a '# NBVAL_CHECK_OUTPUT' cell only when the notebook stores its output and execution count;
    # without them the check would pass whatever the cell printed.
    for lesson in LESSONS:
        checked = [c for c in read(solution_path(lesson)).cells
                   if c.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in c.source]
        assert checked, f"{lesson} has no '# NBVAL_CHECK_OUTPUT' cell"
        for cell in checked:
            assert cell.execution_count and cell.outputs, f"{lesson}: checked cell without stored output:\n{cell.source[:80]}"
