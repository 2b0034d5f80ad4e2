"""CPU threading on a busy machine: step time of lesson 3's and lesson 5's training steps, by thread count and OpenMP
wait policy, on a quiet machine and beside CPU hogs, in one run.

Why: a student's Jupyter starts with no thread setting, so PyTorch runs one math thread per core, and its OpenMP
runtime (GNU libgomp in the pip wheels for Linux and Windows, LLVM libomp on macOS) keeps idle threads spinning
before they sleep. Beside other load those threads fight for the cores. Each setting runs in a fresh process,
because the wait policy is read once, when the OpenMP runtime loads (with ``import torch``).

    python bench/cpu_threads.py                       # both models, every setting, quiet and beside 2 hogs
    python bench/cpu_threads.py --models gan --hogs 2 --seconds 10
    sudo python bench/cpu_threads.py --nice -20       # on a machine shared with other work (below)

On a machine that other work keeps busy there is no quiet run; ``--nice -20`` (root) gives this run, the measured
processes and the hogs alike, the highest priority (on Linux with autogroup scheduling, its session's autogroup, since
per-process niceness counts only within a session), so they share the cores as on a machine of their own and the
other work gets what they leave. Say so, with the load average, when you quote the figures.

Each cell of the table is the mean seconds per training step over about ``--seconds`` of steps (after a warm-up);
"busy" runs beside ``--hogs`` processes that each keep one core busy (``while True: pass``), started just before
and stopped just after that measurement, so quiet and busy alternate and a burst of other load hits both alike.
The models: lesson 3's MLP GAN (batch 128, the reference steps, helpers.training.gan_trainer) and lesson 5's
CycleGAN at the cpu profile (64x64 crops, ngf 16, 3 residual blocks, batch 1, helpers.training.cycle_trainer).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name, environment: what each measured process starts with (every other threading variable removed)
SETTINGS = [
    ("all cores, default wait (no setting)", {}),
    ("all cores, OMP_WAIT_POLICY=ACTIVE", {"OMP_WAIT_POLICY": "ACTIVE"}),
    ("all cores, OMP_WAIT_POLICY=PASSIVE", {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}),
    ("1 thread (OMP_NUM_THREADS=1)", {"OMP_NUM_THREADS": "1"}),
    ("1 thread, OMP_WAIT_POLICY=PASSIVE", {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}),
]
# ``while True: pass`` that also ends when the process that started it is gone (killed by a timeout, say)
HOG = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(10**6):\n        pass"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def _gan_trainer():
    import mnist_gan

    from helpers.data.mnist import load_mnist, mnist_data

    with contextlib.redirect_stdout(io.StringIO()):
        digits = load_mnist(offline=True, verbose=False)
    import torch

    device = torch.device("cpu")
    return mnist_gan.course_trainer(mnist_data(digits, device), device, 128), 50


def _cyclegan_trainer():
    import torch
    from cyclegan import course_trainer

    from helpers.data.horse2zebra import load_horse2zebra

    device = torch.device("cpu")
    with contextlib.redirect_stdout(io.StringIO()):
        data = load_horse2zebra(load_size=72, offline=True, device=device, verbose=False)
    cpu_profile = argparse.Namespace(ngf=16, n_blocks=3, batch=1, size=64)  # lesson 5's cpu profile, its lr 8e-4
    return course_trainer(cpu_profile, data, device, lr=8e-4, log_every=50), 5


def worker(model: str, seconds: float) -> None:
    """In a fresh process: train ``model`` for about ``seconds`` and print one JSON line (seconds per step)."""
    sys.path.insert(0, str(HERE))
    trainer, chunk = {"gan": _gan_trainer, "cyclegan": _cyclegan_trainer}[model]()
    import torch

    trainer.train(chunk, progress=False)  # warm-up: allocations, the first log
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        trainer.train(chunk, progress=False)
        steps += chunk
    elapsed = time.perf_counter() - start
    print(json.dumps({"step_s": elapsed / steps, "steps": steps, "threads": torch.get_num_threads()}))


def set_priority(nice: int, pid: int | None = None) -> str:
    """Give process ``pid`` (default: this one) and the processes it starts the niceness ``nice``; returns how.

    Linux with autogroup scheduling shares the CPU between sessions first, by each session's autogroup niceness, and
    a process's own niceness counts only within its session: both are set. A process that starts a session of its
    own (a Jupyter kernel does) needs its own call."""
    autogroup = Path(f"/proc/{pid or 'self'}/autogroup")
    if autogroup.exists():
        autogroup.write_text(str(nice))
    os.setpriority(os.PRIO_PROCESS, pid or 0, nice)
    return f"niceness {nice:+d}" + (" (also its autogroup)" if autogroup.exists() else "")


def measure(model: str, env: dict, seconds: float) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    out = subprocess.run(
        [sys.executable, __file__, "--worker", model, "--seconds", str(seconds)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@contextlib.contextmanager
def cpu_hogs(count: int, nice: int | None = None):
    """``count`` processes that each keep one core busy, for as long as the block runs. ``nice``: each in a session
    of its own with this niceness (as other programs on a student's machine; beside a Jupyter kernel, which starts
    its own session); default: in this session, with this process's priority."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG], start_new_session=nice is not None) for _ in range(count)]
    for hog in hogs if nice is not None else []:
        set_priority(nice, hog.pid)
    try:
        time.sleep(0.5)
        yield
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["gan", "cyclegan"], choices=["gan", "cyclegan"])
    parser.add_argument("--hogs", type=int, default=2, help="CPU-bound processes beside the busy runs (default 2)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run (default 8)")
    parser.add_argument("--nice", type=int, help="niceness of this run, its measured processes and hogs (root: -20)")
    parser.add_argument("--settings", nargs="+", type=int, help="indices into the settings (default: all)")
    parser.add_argument("--worker", choices=["gan", "cyclegan"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.seconds)
        return
    priority = set_priority(args.nice) if args.nice is not None else "normal priority"
    settings = [SETTINGS[i] for i in args.settings] if args.settings else SETTINGS
    print(
        f"{os.cpu_count()} CPU cores; load average before: {os.getloadavg()[0]:.1f}; busy = beside {args.hogs} "
        f"CPU hogs; ms per step, mean over about {args.seconds:g} s; {priority}"
    )
    print(f"{'model':<10}{'#':<3}{'setting':<40}{'threads':>8}{'quiet':>9}{'busy':>9}{'busy/quiet':>12}")
    for model in args.models:
        rows = []
        for number, (name, env) in enumerate(settings):
            quiet = measure(model, env, args.seconds)
            with cpu_hogs(args.hogs, args.nice):  # with --nice, each in a session of its own, as other programs
                busy = measure(model, env, args.seconds)
            rows.append((name, quiet, busy))
            quiet_ms, busy_ms = quiet["step_s"] * 1e3, busy["step_s"] * 1e3
            print(
                f"{model:<10}{number:<3}{name:<40}{quiet['threads']:>8}{quiet_ms:>9.1f}{busy_ms:>9.1f}"
                f"{busy_ms / quiet_ms:>11.1f}x",
                flush=True,
            )
        best = min(q["step_s"] for _, q, _ in rows)
        ratios = ", ".join(f"#{i} {b['step_s'] / best:.1f}x" for i, (_, _, b) in enumerate(rows))
        print(f"{'':<10}busy against the fastest quiet setting ({best * 1e3:.1f} ms): {ratios}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
