"""Time every lesson end to end, quick profile vs full profile, in one run.

Executes each solution notebook in a fresh kernel (as nbval and nbgrader do, kernel start included) and prints a table.

    python bench/time_lessons.py                 # every lesson, both profiles
    python bench/time_lessons.py 02_simple_pattern_gan --profiles quick
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run(lesson: str, profile: str, timeout: int) -> float:
    notebook = nbformat.read(ROOT / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    os.environ["GAN_PROFILE"] = profile
    # A headless run, as under nbval: panels and dashboards write straight into the cell. Without it the live
    # dashboards use ipywidgets.Output, whose captured output nbclient can stall on (see helpers.widgets).
    os.environ["NBVAL"] = "1"
    start = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    return time.perf_counter() - start


def main() -> None:
    lessons = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lessons", nargs="*", default=lessons)
    parser.add_argument("--profiles", nargs="+", default=["quick", "full"], choices=["quick", "full"])
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    args = parser.parse_args()
    print(f"{'lesson':<26}" + "".join(f"{p + ' (s)':>12}" for p in args.profiles), flush=True)
    for lesson in args.lessons:
        times = [run(lesson, profile, args.timeout) for profile in args.profiles]
        print(f"{lesson:<26}" + "".join(f"{t:>12.1f}" for t in times), flush=True)
    print(f"({os.cpu_count()} CPU cores; kernel start and imports included)")


if __name__ == "__main__":
    main()
