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
        for call in ("get_profile(device=", "set_seed("):
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


def _imports_of(path):
    """helpers modules that ``path`` imports (relative or absolute), anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:
                found |= {alias.name for alias in node.names}
            elif node.module and node.module.startswith("helpers."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("helpers.")}
    return found


def test_helpers_have_no_import_circle():
    modules = {p.stem: p for p in (ROOT / "helpers").glob("*.py") if p.stem != "__init__"}
    graph = {name: _imports_of(path) & set(modules) for name, path in modules.items()}

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, (*seen, n))) for n in graph[start])

    circles = sorted(name for name in graph if reaches(name, name))
    assert not circles, f"helpers modules that import themselves back through others: {circles}"


AUTOMATION = {"CI", "NBVAL", "NBGRADER_EXECUTION", "GAN_COURSE_OFFLINE", "OFFLINE_ENV", "AUTOMATION_VARS"}


def _environment_reads(tree):
    """Names or strings passed to os.environ.get / os.getenv / os.environ[...] in a module."""
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute) and (
                node.func.attr == "getenv" or (node.func.attr == "get" and "environ" in ast.unparse(node.func.value))):
            target = node.args[0]
        elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
            target = node.slice
        if target is not None:
            yield target.value if isinstance(target, ast.Constant) else ast.unparse(target)


def test_only_the_profile_reads_the_automation_variables():
    """CI, NBVAL, NBGRADER_EXECUTION and GAN_COURSE_OFFLINE are read once, by helpers.profiles; lessons pass the
    profile's decisions (watched, offline) down explicitly."""
    readers = []
    for path in sorted((ROOT / "helpers").glob("*.py")):
        if path.stem == "profiles":
            continue
        tree = ast.parse(path.read_text())
        read_here = {str(name) for name in _environment_reads(tree)} & AUTOMATION
        called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        called |= {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
        if read_here or called & {"automated_by", "offline_reason", "get_profile"}:
            readers.append(f"{path.name}: {sorted(read_here | (called & {'automated_by', 'offline_reason', 'get_profile'}))}")
    assert not readers, f"only helpers/profiles.py may read the automation variables: {readers}"


def _method_calls(path):
    return {n.func.attr for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}


def test_trainers_share_one_engine_and_hold_no_step():
    from helpers.cycle_trainer import CycleGANTrainer
    from helpers.engine import Trainer
    from helpers.gan import GANTrainer

    for trainer in (GANTrainer, CycleGANTrainer):
        assert issubclass(trainer, Trainer)
        own = set(vars(trainer))
        assert not own & {"train", "flush_log", "save", "resume", "state"}, f"{trainer.__name__} repeats the engine"
    for module in ("gan", "cycle_trainer", "engine"):
        calls = _method_calls(ROOT / "helpers" / f"{module}.py")
        assert not calls & {"backward", "zero_grad"}, f"helpers/{module}.py holds a training step: {calls}"
