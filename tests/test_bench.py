"""The benchmark scripts still run and print what the README quotes from them.

Tiny sizes: these check that each script works end to end (baseline loop, course loop, the table and the ratio),
not its figures; the figures come from running the scripts by hand (bench/README.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_bench(script: str, *args: str, timeout: float = 300) -> str:
    env = dict(os.environ, GAN_COURSE_OFFLINE="1", GAN_COURSE_DEVICE="cpu", OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def ratio(line: str) -> float:
    match = re.search(r"(\d+(?:\.\d+)?)x", line)
    assert match, f"no ratio in {line!r}"
    return float(match.group(1))


def test_mnist_gan_benchmark_prints_both_loops_their_ratio_and_the_quality_run():
    out = run_bench("mnist_gan.py", "--images", "640", "--repeats", "2", "--max-steps", "100")
    rows = {line.split("  ")[0]: line for line in out.splitlines()}
    baseline = next(line for name, line in rows.items() if name.startswith("PyTorch-GAN gan.py style"))
    course = next(
        line for name, line in rows.items() if name.startswith("helpers.training.gan_trainer.GANTrainer, eager")
    )
    assert ratio(baseline) == 1.0
    assert ratio(course) > 0 and "cuda_graph=False" in course  # the status says how the steps ran
    assert "median of 2 interleaved runs" in out
    assert re.search(r"speed-up \(best course loop vs baseline\): \d+\.\dx", out)
    assert "10/10 digits" in out and "digit FD < 500" in out  # the time-to-quality part ran (and says if not reached)


def test_cyclegan_benchmark_prints_both_loops_and_their_ratio():
    out = run_bench("cyclegan.py", "--size", "32", "--ngf", "8", "--n-blocks", "1", "--steps", "2", "--warmup", "1")
    baseline = next(line for line in out.splitlines() if line.startswith("PyTorch-GAN cyclegan.py style"))
    course = next(
        line for line in out.splitlines() if line.startswith("helpers.training.cycle_trainer.CycleGANTrainer")
    )
    assert ratio(baseline) == 1.0 and ratio(course) > 0
    assert "crop 32, batch 1, ngf 8, 1 residual blocks" in out  # the settings it was asked for are the ones it ran


@pytest.mark.slow  # runs lesson 1 whole, in a kernel
def test_lesson_timer_prints_the_table_and_keeps_the_executed_notebook(tmp_path):
    out = run_bench("time_lessons.py", "01_backquery", "--profiles", "quick", "--save", str(tmp_path))
    row = next(line for line in out.splitlines() if line.startswith("01_backquery"))
    total, slowest = (float(x) for x in row.split()[1:])
    assert 0 < slowest <= total
    assert "OMP_NUM_THREADS=1" in out
    executed = nbformat.read(tmp_path / "01_backquery-quick.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Profile: quick" in printed and "test accuracy" in printed  # the figures the lesson's text quotes


def test_cpu_threads_benchmark_measures_each_setting_quiet_and_beside_hogs():
    out = run_bench("cpu_threads.py", "--models", "gan", "--seconds", "0.2", "--hogs", "1", "--settings", "0", "3")
    rows = [line.split() for line in out.splitlines() if line.startswith("gan ")]
    assert [row[1] for row in rows] == ["0", "1"] and rows[1][-4] == "1"  # OMP_NUM_THREADS=1 reached the process
    assert all(float(row[-3]) > 0 and float(row[-2]) > 0 for row in rows)  # quiet and busy ms per step
    assert "busy against the fastest quiet setting" in out


def test_time_lessons_prints_each_cell_quiet_and_beside_cpu_hogs_side_by_side(tmp_path):
    out = run_bench(
        "time_lessons.py",
        "01_backquery",
        "--profiles",
        "quick",
        "--hogs",
        "1",
        "--min-cell",
        "0",
        "--save",
        str(tmp_path),
        timeout=900,  # the lesson twice, once beside a hog
    )
    assert "busy: beside 1 CPU hogs" in out and "the lesson's first cell chooses" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("01_backquery")]
    assert len(rows) >= 3 and rows[-1][2] == "all"
    for row in rows:
        quiet, busy, times = float(row[3]), float(row[4]), row[5]
        assert quiet >= 0 and busy >= 0 and times.endswith("x")
    assert (tmp_path / "01_backquery-quick-quiet.ipynb").exists()
    assert (tmp_path / "01_backquery-quick-beside-1-hogs.ipynb").exists()
