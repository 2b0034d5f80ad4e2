"""Time every lesson end to end and cell by cell, quick vs cpu (the default without a GPU) vs full, in one run.

Executes each solution notebook in a fresh kernel (as nbval and nbgrader do, kernel start included) and prints a table.

    python bench/time_lessons.py                 # every lesson, quick and cpu profiles
    python bench/time_lessons.py --profiles quick cpu full
    python bench/time_lessons.py 02_simple_pattern_gan --profiles quick
    python bench/time_lessons.py --profiles cpu --save runs/   # also keep the executed notebooks, to read the figures
    python bench/time_lessons.py 03_mnist_gan --profiles cpu --hogs 2   # quiet, then beside 2 CPU hogs: side by side

``--hogs N`` runs each lesson twice, alone and then beside N processes that each keep a core busy
(``while True: pass``), and prints every training cell's quiet and busy times side by side (cells of at least
``--min-cell`` seconds when quiet). The kernels start as a student's Jupyter starts them: the threading variables
(OMP_NUM_THREADS, OMP_WAIT_POLICY, ...) are removed from their environment unless ``--keep-thread-env``, so the
lesson's own first cell chooses. ``--nice -20`` (root) gives the run and its hogs priority over other work on a
shared machine (see bench/cpu_threads.py).
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
    lesson: str, profile: str, timeout: int, save: Path | None = None, suffix: str = "", nice: int | None = None
) -> tuple[float, list[tuple[int, float, str]]]:
    """Execute one lesson under ``profile``: total seconds, and (cell index, seconds, first line) of each code cell.
    ``save``: a folder to write the executed notebook to, as ``<lesson>-<profile><suffix>.ipynb``; ``nice``: the
    kernel's niceness (it runs in a session of its own, see bench/cpu_threads.py)."""
    notebook = nbformat.read(ROOT / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    os.environ["GAN_PROFILE"] = profile
    # A headless run, as under nbval: panels and dashboards write straight into the cell. Without it the live
    # dashboards use ipywidgets.Output, whose captured output nbclient can stall on (see helpers.display.widgets).
    os.environ["NBVAL"] = "1"
    start = time.perf_counter()
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    if nice is not None:
        from cpu_threads import set_priority  # bench/ is this script's folder

        client.on_notebook_start = lambda **_: set_priority(nice, client.km.provisioner.pid)
    client.execute()
    total = time.perf_counter() - start
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, save / f"{lesson}-{profile}{suffix}.ipynb")
    cells = [
        (i, cell_seconds(c), c.source.strip().splitlines()[0][:50] if c.source.strip() else "")
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code"
    ]
    return total, cells


def busy_table(lessons, profiles, args) -> None:
    """Each lesson quiet, then beside ``args.hogs`` CPU hogs; every training cell's two times side by side."""
    from cpu_threads import THREAD_VARIABLES, cpu_hogs, set_priority  # bench/ is this script's folder

    priority = set_priority(args.nice) if args.nice is not None else "normal priority"
    if not args.keep_thread_env:
        for name in THREAD_VARIABLES:
            os.environ.pop(name, None)
    print(
        f"{os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f}; {priority}; busy: beside {args.hogs} "
        f"CPU hogs; thread settings: "
        + ("kept from this shell" if args.keep_thread_env else "none (the lesson's first cell chooses)"),
        flush=True,
    )
    print(f"{'lesson':<24}{'profile':<9}{'cell':>5}{'quiet (s)':>11}{'busy (s)':>10}{'busy/quiet':>12}  first line")
    for lesson in lessons:
        for profile in profiles:
            quiet_total, quiet = run(lesson, profile, args.timeout, args.save, "-quiet", args.nice)
            with cpu_hogs(args.hogs, args.nice if args.nice is not None else 0):
                busy_total, busy = run(lesson, profile, args.timeout, args.save, f"-beside-{args.hogs}-hogs", args.nice)
            worst = 0.0
            for (i, q, line), (_, b, _) in zip(quiet, busy):
                if q >= args.min_cell:
                    worst = max(worst, b / q)
                    print(f"{lesson:<24}{profile:<9}{i:>5}{q:>11.1f}{b:>10.1f}{b / q:>11.1f}x  {line}")
            print(
                f"{lesson:<24}{profile:<9}{'all':>5}{quiet_total:>11.1f}{busy_total:>10.1f}"
                f"{busy_total / quiet_total:>11.1f}x  (whole notebook; slowest cell {worst:.1f}x)",
                flush=True,
            )
    print(f"(load average at the end {os.getloadavg()[0]:.1f})")


def main() -> None:
    lessons = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lessons", nargs="*", default=lessons)
    parser.add_argument("--profiles", nargs="+", default=["quick", "cpu"], choices=["quick", "cpu", "full"])
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    parser.add_argument("--save", type=Path, help="a folder for the executed notebooks (<lesson>-<profile>.ipynb)")
    parser.add_argument("--hogs", type=int, help="also run beside this many CPU hogs; print both times per cell")
    parser.add_argument("--min-cell", type=float, default=5.0, help="with --hogs: cells of at least this many s")
    parser.add_argument("--nice", type=int, help="with --hogs: niceness of the run and its hogs (root: -20)")
    parser.add_argument(
        "--keep-thread-env", action="store_true", help="with --hogs: keep this shell's OMP_NUM_THREADS & co."
    )
    args = parser.parse_args()
    if args.hogs:
        busy_table(args.lessons, args.profiles, args)
        return
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
