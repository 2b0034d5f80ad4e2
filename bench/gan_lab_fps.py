"""Lesson 2's GAN lab: updates drawn per second, the lab's picture against a plain matplotlib redraw, in one run.

One *update drawn* is what the lab does for every frame while it plays: one training step (D, then G, with lesson 2's
step functions: the reference ones below, written as the exercise asks), the frame's data (D's map on a 64 x 64 grid,
G's 1,000 samples from fixed noise, the push on each sample, the mode coverage of 2,500 samples) and a PNG of the
three panels. The rows differ only in how the PNG is made:

- ``lab (reused Agg canvas)``: :class:`helpers.display.gan_lab.LabPicture`, one figure kept between frames, the
  artists' data changed in place, PNG through Pillow at zlib level 1: what the widget's ``Image`` shows;
- ``plain matplotlib redraw``: a new pyplot figure for every frame with the same panels, saved as PNG with
  ``bbox_inches="tight"``, as the inline backend does for ``clear_output(wait=True); display(fig)`` (the usual
  ``FuncAnimation``-free notebook animation), then closed;
- ``training only``: the step and the frame's data, no picture: the ceiling.

The rows run interleaved (``--repeats`` rounds), each ``--updates`` long, and the script prints the median. The
browser's own decoding of the PNG is not counted (it runs in the browser, not on the kernel's cores).

    OMP_NUM_THREADS=1 python bench/gan_lab_fps.py                   # 2-core laptop: one math thread, as the lessons
    python bench/gan_lab_fps.py --updates 20 --repeats 1           # a quick check
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from helpers.display.gan_lab import LabPicture, PlanePanel  # noqa: E402
from helpers.training.gan_lab import GanLab  # noqa: E402


def reference_train_discriminator(D, optimizer, inputs, targets, loss_fn):
    """Lesson 2's exercise 3 as the benchmark's step (helpers/ holds no answer)."""
    verdict_loss = loss_fn(D(inputs), targets)
    optimizer.zero_grad(set_to_none=True)
    verdict_loss.backward()
    optimizer.step()
    return verdict_loss.item()


def reference_train_generator(G, D, optimizer, inputs, targets, loss_fn):
    """Lesson 2's exercise 4 as the benchmark's step."""
    verdict_loss = loss_fn(D(G(inputs)), targets)
    optimizer.zero_grad(set_to_none=True)
    verdict_loss.backward()
    optimizer.step()
    return verdict_loss.item()


def plain_redraw(frame) -> bytes:
    """The same three panels on a new pyplot figure, saved as the inline backend saves it, then closed."""
    fig, (plane, losses, bars) = plt.subplots(1, 3, figsize=(10.5, 3.5), dpi=80)
    PlanePanel(plane, frame)
    losses.plot(frame["steps"], frame["D"], label="D")
    losses.plot(frame["steps"], frame["G"], label="G")
    losses.legend(loc="upper right")
    coverage = frame["coverage"]
    bars.bar(range(coverage.modes), coverage.shares)
    bars.axhline(coverage.min_share, color="k", linestyle="--")
    bars.set_title(str(coverage))
    out = io.BytesIO()
    fig.savefig(out, format="png", bbox_inches="tight")
    plt.close(fig)
    return out.getvalue()


def rate(kind: str, updates: int, seed: int) -> tuple[float, float]:
    """Updates drawn per second (wall clock), and CPU milliseconds per update, for one row (a fresh lab trained 50
    steps first, so the picture is not empty). On a machine shared with other work the wall-clock rate falls, the
    CPU time per update much less: it bounds the rate the same code reaches on a quiet core."""
    lab = GanLab(reference_train_discriminator, reference_train_generator, target="ring", seed=seed)
    lab.train(50)
    picture = LabPicture(lab.frame()) if kind == "lab" else None
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(updates):
        lab.step_both()
        frame = lab.frame()
        if kind == "lab":
            png = picture.png(frame)
        elif kind == "plain":
            png = plain_redraw(frame)
        else:
            png = b"\x89PNG"
        assert png.startswith(b"\x89PNG")
    return updates / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / updates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=150, help="updates drawn per row and round")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the median is printed")
    args = parser.parse_args()
    rows = {"lab": "lab (reused Agg canvas)", "plain": "plain matplotlib redraw", "none": "training only"}
    rates: dict[str, list[tuple[float, float]]] = {kind: [] for kind in rows}
    for round_ in range(args.repeats):
        for kind in rows:
            rates[kind].append(rate(kind, args.updates, seed=round_))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"GAN lab, ring of 8 Gaussians, {args.updates} updates per row, median of {args.repeats} interleaved runs; "
        f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, load average {load:.1f}"
    )
    baseline = statistics.median(r for r, _ in rates["plain"])
    for kind, name in rows.items():
        median = statistics.median(r for r, _ in rates[kind])
        cpu_ms = statistics.median(c for _, c in rates[kind])
        print(
            f"{name:<26}  {median:6.1f} updates drawn/s  {median / baseline:4.1f}x the plain redraw  "
            f"{cpu_ms:6.1f} ms CPU per update (at most {1000 / cpu_ms:5.1f}/s on a quiet core)"
        )


if __name__ == "__main__":
    main()
