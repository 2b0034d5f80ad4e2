"""Time every lesson end to end and cell by cell, quick vs cpu (the default without a GPU) vs full, in one run.

Executes each solution notebook in a fresh kernel (as nbval and nbgrader do, kernel start included) and prints a table.

    python bench/time_lessons.py                 # every lesson, quick and cpu profiles
    python bench/time_lessons.py --profiles quick cpu full
    python bench/time_lessons.py 02_simple_pattern_gan --profiles quick
    python bench/time_lessons.py --profiles cpu --save runs/   # also keep the executed notebooks, to read the figures
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def cell_seconds(cell) -> float:
    """How long one executed cell took, from the timestamps nbclient records in its metadata."""
    from datetime import datetime

    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0

    def parse(t):
        return datetime.fromisoformat(t.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()


def run(
    lesson: str, profile: str, timeout: int, save: Path | None = None
) -> tuple[float, list[tuple[int, float, str]]]:
    """Execute one lesson under ``profile``: total seconds, and (cell index, seconds, first line) of each code cell.
    ``save``: a folder to write the executed notebook to, as ``<lesson>-<profile>.ipynb``."""
    notebook = nbformat.read(ROOT / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    os.environ["GAN_PROFILE"] = profile
    # A headless run, as under nbval: panels and dashboards write straight into the cell. Without it the live
    # dashboards use ipywidgets.Output, whose captured output nbclient can stall on (see helpers.display.widgets).
    os.environ["NBVAL"] = "1"
    start = time.perf_counter()
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    total = time.perf_counter() - start
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, save / f"{lesson}-{profile}.ipynb")
    cells = [
        (i, cell_seconds(c), c.source.strip().splitlines()[0][:50] if c.source.strip() else "")
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code"
    ]
    return total, cells


def main() -> None:
    lessons = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lessons", nargs="*", default=lessons)
    parser.add_argument("--profiles", nargs="+", default=["quick", "cpu"], choices=["quick", "cpu", "full"])
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    parser.add_argument("--save", type=Path, help="a folder for the executed notebooks (<lesson>-<profile>.ipynb)")
    args = parser.parse_args()
    header = "".join(f"{p + ' all (s)':>15}{p + ' cell':>12}" for p in args.profiles)
    print(f"{'lesson':<26}{header}", flush=True)
    slow = []
    for lesson in args.lessons:
        row = ""
        for profile in args.profiles:
            total, cells = run(lesson, profile, args.timeout, args.save)
            row += f"{total:>15.1f}{max(t for _, t, _ in cells):>12.1f}"
            slow += [(lesson, profile, i, t, line) for i, t, line in cells if t >= 20]
        print(f"{lesson:<26}{row}", flush=True)
    print(
        f"(all: the whole notebook, kernel start and imports included; cell: its slowest cell; "
        f"{os.cpu_count()} CPU cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"load average {os.getloadavg()[0]:.1f})"
    )
    if slow:
        print("\ncells of 20 s or more:")
        for lesson, profile, i, t, line in slow:
            print(f"  {lesson:<24}{profile:<7}cell {i:>3}{t:>8.1f} s  {line}")


if __name__ == "__main__":
    main()
