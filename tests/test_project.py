"""Project-level promises: install/test commands, docs that link and name what exists, environment files, no answers in
helpers/."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re

import tomllib
from course import LESSONS, ROOT, read, solution_path

import helpers
from grader.answer_cells import split_regions


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


DOCS = ["README.md", "docs/students.md", "docs/instructors.md", "docs/developers.md", "bench/README.md"]


def _anchors(markdown):
    """GitHub's anchors for the headings of a Markdown text: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", markdown, flags=re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_docs_link_paths_and_name_modules_that_exist():
    """A reader follows the docs' links and looks up the files and modules they name: all must be there."""
    problems = []
    for doc in DOCS:
        path = ROOT / doc
        text = path.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                problems.append(f"{doc}: link to {target}: no file {linked}")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked.read_text()):
                problems.append(f"{doc}: link to {target}: {linked.name} has no heading #{anchor}")
        named = r"`((?:helpers|grader|scripts|bench|tests|classroom|docs|solutions|notebooks)/[\w./-]*)`"
        problems += [
            f"{doc}: names {p}, which does not exist" for p in re.findall(named, text) if not (ROOT / p).exists()
        ]
        for dotted in set(re.findall(r"`(helpers(?:\.\w+)+)", text)):
            found = helpers
            for part in dotted.split(".")[1:]:
                if hasattr(found, "__path__") and not hasattr(found, part):  # a package: import its sub-module
                    try:
                        importlib.import_module(f"{found.__name__}.{part}")
                    except ModuleNotFoundError:
                        pass
                found = getattr(found, part, None)
                if found is None:
                    break
            if found is None:
                problems.append(f"{doc}: names {dotted}, which does not exist")
    assert not problems, "\n".join(problems)


def _helpers_modules():
    for info in pkgutil.walk_packages(helpers.__path__, prefix="helpers."):
        yield importlib.import_module(info.name)


def _exercise_functions(lesson):
    names = set()
    for cell in read(solution_path(lesson)).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            tree = ast.parse(cell.source)
            names |= {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    return names


def test_helpers_never_contains_an_exercise_answer():
    exercises = set().union(*(_exercise_functions(lesson) for lesson in LESSONS))
    assert {"make_targets", "backquery", "train_generator", "ResnetBlock", "NLayerDiscriminator"} <= exercises
    for module in _helpers_modules():
        leaked = sorted(name for name in exercises if hasattr(module, name))
        assert not leaked, f"{module.__name__} defines exercise answers {leaked}"
    sources = "\n".join(p.read_text() for p in (ROOT / "helpers").rglob("*.py"))
    for lesson in LESSONS:
        notebook = read(solution_path(lesson))
        # what the student version shows anyway (hints, tables, visible tests) is no leak
        public = "\n".join("\n".join(split_regions(c.source)[1]) for c in notebook.cells)
        for cell in notebook.cells:
            if "### BEGIN SOLUTION" in cell.source and cell.cell_type == "code":
                for line in split_regions(cell.source)[0]:
                    line = line.strip()
                    if (
                        len(line) > 25
                        and not line.startswith(("return", "with torch.no_grad", "#"))
                        and line not in public
                    ):
                        assert line not in sources, f"answer line {line!r} of {lesson} appears in helpers/"


def test_importing_helpers_has_no_side_effects():
    import subprocess
    import sys

    code = (
        "import torch; state = torch.random.get_rng_state().clone(); "
        "import helpers, helpers.device, helpers.profiles, helpers.data.mnist, helpers.models, helpers.training.loop, "
        "helpers.display.plotting, helpers.display.widgets, helpers.checks.core; "
        "assert torch.equal(state, torch.random.get_rng_state()), 'importing helpers changed the RNG'; "
        "assert torch.get_default_dtype() == torch.float32"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_every_lesson_starts_with_profile_device_and_seed():
    for lesson in LESSONS:
        setup = "\n".join(c.source for c in read(solution_path(lesson)).cells[:4] if c.cell_type == "code")
        for call in ("get_profile(device=", "set_seed("):
            assert call in setup, f"{lesson}: the setup cell must call {call}"
        text = "\n".join(c.source for c in read(solution_path(lesson)).cells if c.cell_type == "code")
        assert not re.search(r"""["']cuda["']|\.cuda\(\)""", text), f"{lesson} hard-wires CUDA: use get_device()"
        assert not re.search(r"def \w+\(.*device=device", text), (
            f"{lesson}: a default argument evaluated at definition time"
        )
        assert "def train(self" not in text, f"{lesson} overrides nn.Module.train()"


def test_checked_notebook_cells_have_a_reference_output():
    # nbval compares a '# NBVAL_CHECK_OUTPUT' cell only when the notebook stores its output and execution count;
    # without them the check would pass whatever the cell printed.
    for lesson in LESSONS:
        checked = [
            c for c in read(solution_path(lesson)).cells if c.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in c.source
        ]
        assert checked, f"{lesson} has no '# NBVAL_CHECK_OUTPUT' cell"
        for cell in checked:
            assert cell.execution_count and cell.outputs, (
                f"{lesson}: checked cell without stored output:\n{cell.source[:80]}"
            )


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(path):
    """The helpers modules that ``path`` imports, by full dotted name, anywhere in the file (lazy imports included).
    ``from helpers.data import mnist`` counts as ``helpers.data.mnist``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("helpers"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("helpers")}
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}: relative import; helpers imports by full path (from helpers.x.y import ...)")
    return found


def _helpers_graph():
    modules = {_module_name(p): p for p in (ROOT / "helpers").rglob("*.py")}
    return {name: (_imports_of(path) & set(modules)) - {name} for name, path in modules.items()}


def test_helpers_have_no_import_circle():
    graph = _helpers_graph()

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, (*seen, n))) for n in graph[start])

    circles = sorted(name for name in graph if reaches(name, name))
    assert not circles, f"helpers modules that import themselves back through others: {circles}"


# The rooms of helpers/, lowest layer first; a module may import only from its own layer or below (helpers/__init__).
LAYERS = [
    {"helpers", "helpers.device", "helpers.profiles", "helpers.checkpoint", "helpers.contracts"},
    {"helpers.checks", "helpers.data", "helpers.models"},
    {"helpers.training"},
    {"helpers.evaluation"},
    {"helpers.display"},
]


def _room(module):
    return module if module.count(".") < 1 else ".".join(module.split(".")[:2])


def _layer(module):
    room = _room(module)
    return next(i for i, rooms in enumerate(LAYERS) if room in rooms)


def test_helpers_rooms_import_only_downwards():
    """checks/ never imports training/, display/ or data/ (a check builds its own inputs); no room imports a room
    above its layer, nor a room beside it (data, models and checks are independent)."""
    graph = _helpers_graph()
    assert {_room(m) for m in graph} == set().union(*LAYERS), "a helpers room is missing from LAYERS"
    upwards = sorted(
        f"{m} -> {n}"
        for m, targets in graph.items()
        for n in targets
        if _layer(n) > _layer(m) or (_layer(n) == _layer(m) == 1 and _room(n) != _room(m))
    )
    assert not upwards, f"imports that run up (or sideways) between helpers' rooms: {upwards}"


def test_every_helpers_room_says_what_lives_there():
    for init in (ROOT / "helpers").glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        listed = {m.stem for m in init.parent.glob("*.py")} - {"__init__"}
        missing = sorted(name for name in listed if f"{init.parent.name}.{name}" not in doc)
        assert not missing, f"{init.parent.name}/__init__.py does not name {missing}"
        assert "lesson" in doc, f"{init.parent.name}/__init__.py must say which lessons use it"


AUTOMATION = {"CI", "NBVAL", "NBGRADER_EXECUTION", "GAN_COURSE_OFFLINE", "OFFLINE_ENV", "AUTOMATION_VARS"}


def _environment_reads(tree):
    """Names or strings passed to os.environ.get / os.getenv / os.environ[...] in a module."""
    for node in ast.walk(tree):
        target = None
        if (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.func, ast.Attribute)
            and (node.func.attr == "getenv" or (node.func.attr == "get" and "environ" in ast.unparse(node.func.value)))
        ):
            target = node.args[0]
        elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
            target = node.slice
        if target is not None:
            yield target.value if isinstance(target, ast.Constant) else ast.unparse(target)


def test_only_the_profile_reads_the_automation_variables():
    """CI, NBVAL, NBGRADER_EXECUTION and GAN_COURSE_OFFLINE are read once, by helpers.profiles; lessons pass the
    profile's decisions (watched, offline) down explicitly."""
    readers = []
    for path in sorted((ROOT / "helpers").rglob("*.py")):
        if path.stem == "profiles":
            continue
        tree = ast.parse(path.read_text())
        read_here = {str(name) for name in _environment_reads(tree)} & AUTOMATION
        called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        called |= {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
        if read_here or called & {"automated_by", "offline_reason", "get_profile"}:
            readers.append(
                f"{path.name}: {sorted(read_here | (called & {'automated_by', 'offline_reason', 'get_profile'}))}"
            )
    assert not readers, f"only helpers/profiles.py may read the automation variables: {readers}"


def _method_calls(path):
    return {
        n.func.attr
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    }


def test_trainers_share_one_engine_and_hold_no_step():
    from helpers.training.cycle_trainer import CycleGANTrainer
    from helpers.training.engine import Trainer
    from helpers.training.gan_trainer import GANTrainer

    for trainer in (GANTrainer, CycleGANTrainer):
        assert issubclass(trainer, Trainer)
        own = set(vars(trainer))
        assert not own & {"train", "flush_log", "save", "resume", "state"}, f"{trainer.__name__} repeats the engine"
    for module in ("gan_trainer", "cycle_trainer", "engine"):
        path = ROOT / "helpers" / "training" / f"{module}.py"
        calls = _method_calls(path)
        assert not calls & {"backward", "zero_grad"}, f"{path.relative_to(ROOT)} holds a training step: {calls}"
