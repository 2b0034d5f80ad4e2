"""Students anywhere: a lesson's first cell installs the course's helpers package where it is missing (Colab, a bare
hub image) and does nothing where it is installed.

The package comes from a real package index on 127.0.0.1 (a plain HTTP server over a folder with the student
bundle's wheel, as pip reads any simple index), into a fresh virtual environment whose kernel has torch and the other
dependencies but not the course. The lesson's own first cells run there in a real kernel.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import venv
from pathlib import Path

import nbformat
import pytest
from course import ROOT, read, solution_path
from nbclient import NotebookClient

pytestmark = pytest.mark.slow
LESSON = "01_backquery"


def first_cells(lesson: str, count: int) -> nbformat.NotebookNode:
    """The lesson's first ``count`` code cells (the install cell, then the setup cell), in a notebook of their own."""
    notebook = read(solution_path(lesson))
    code = [c for c in notebook.cells if c.cell_type == "code"][:count]
    assert 'find_spec("helpers")' in code[0].source, f"{lesson}'s first code cell does not install helpers"
    notebook.cells = [nbformat.from_dict(c) for c in code]
    return notebook


def fresh_environment(folder: Path) -> Path:
    """A new venv that sees this environment's packages except the course itself (one symlink per entry of our
    site-packages, the course's own metadata and import hooks left out); returns its interpreter."""
    venv.EnvBuilder(with_pip=True).create(folder)
    python = folder / "bin" / "python"
    theirs = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    for own in [*theirs.glob("setuptools*"), *theirs.glob("_distutils_hack"), *theirs.glob("distutils-precedence.pth")]:
        shutil.rmtree(own) if own.is_dir() else own.unlink()  # ensurepip's old setuptools would shadow ours
    overlay = folder / "deps"
    overlay.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        name = entry.name.lower()
        if name.startswith(
            ("gan_course", "__editable__", "helpers", "grader", "pip", "_distutils_hack", "distutils-precedence")
        ):
            continue
        (overlay / entry.name).symlink_to(entry)
    (theirs / "deps.pth").write_text(str(overlay) + "\n")
    return python


@pytest.fixture(scope="module")
def package_index(tmp_path_factory):
    """A simple index on 127.0.0.1 holding the student bundle's wheel (project gan-course)."""
    spec = importlib.util.spec_from_file_location("bundle", ROOT / "scripts" / "build_student_bundle.py")
    bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle)
    base = tmp_path_factory.mktemp("index")
    tree = bundle.build_tree(base / "bundle")
    project = base / "simple" / "gan-course"
    project.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(project),
            str(tree),
        ],
        check=True,
        timeout=300,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "0"],
        cwd=base / "simple",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (http://127.0.0.1:N/) ..."
    port = int(line.split(" port ")[1].split()[0])
    yield f"http://127.0.0.1:{port}/"
    server.terminate()
    server.wait(10)


def run_cells(python: Path, notebook: nbformat.NotebookNode, cwd: Path, env: dict[str, str]) -> list[str]:
    """Execute ``notebook`` in a kernel of ``python``; returns each cell's text output."""
    kernels = cwd / "jupyter" / "kernels" / "fresh"
    kernels.mkdir(parents=True, exist_ok=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "fresh",
                "language": "python",
                "env": env,
            }
        )
    )
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(cwd / "jupyter")
    try:
        NotebookClient(notebook, timeout=600, kernel_name="fresh", resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH")
        else:
            os.environ["JUPYTER_PATH"] = old
    return ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream") for c in notebook.cells]


def test_the_first_cell_installs_helpers_where_it_is_missing_and_then_does_nothing(tmp_path, package_index):
    python = fresh_environment(tmp_path / "env")
    missing = subprocess.run([str(python), "-c", "import helpers"], capture_output=True, text=True, cwd=tmp_path)
    assert missing.returncode != 0, "the fresh environment already has helpers: the test would prove nothing"
    # only our index: pip's machine-wide settings (caps, local folders) are what a student's machine does not have
    env = {
        "PIP_INDEX_URL": package_index,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "GAN_PROFILE": "quick",
        "NBVAL": "1",
        "OMP_NUM_THREADS": "1",
    }
    start = time.monotonic()
    first = run_cells(python, first_cells(LESSON, 2), tmp_path, env)
    took = time.monotonic() - start
    assert "installing it" in first[0] and "Installed." in first[0], first[0]
    assert "Profile:" in first[1], f"the setup cell did not run after the install: {first[1]!r}"
    where = subprocess.run(
        [str(python), "-c", "import helpers; print(helpers.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout
    assert str(tmp_path / "env") in where, f"helpers was not installed into the fresh environment: {where}"
    again = run_cells(python, first_cells(LESSON, 1), tmp_path, env)
    # installed: it installs nothing, and says only which CPU threads PyTorch will use (here the ones set before)
    assert again[0].startswith("CPU threads: OMP_NUM_THREADS=1") and again[0].endswith(
        ", set before Jupyter started: kept\n"
    ), f"installed, the first cell must only report the threads; it printed {again[0]!r}"
    print(
        f"\nfirst cell in a fresh environment: installed helpers from {package_index} and ran the setup cell "
        f"in {took:.0f} s"
    )


def test_every_lesson_opens_with_the_same_install_cell():
    from course import LESSONS

    sources = {
        lesson: next(c.source for c in read(solution_path(lesson)).cells if c.cell_type == "code") for lesson in LESSONS
    }
    assert all('find_spec("helpers") is None' in s for s in sources.values()), [
        lesson for lesson, s in sources.items() if "find_spec" not in s
    ]
    assert len(set(sources.values())) == 1, "the install cell differs between lessons: keep one text in all five"
