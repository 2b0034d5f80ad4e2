"""Goodfellow et al.'s Figure 1 for the 1-D GAN of lesson 2 (:mod:`helpers.training.gan1d`).

- :func:`draw_frame`: p_data, p_g and D(x) on one axis;
- :func:`show_frames`: the kept frames side by side (what an automated run shows);
- :func:`gan1d_figure`: the live dashboard (the picture beside the loss curves).
"""

from __future__ import annotations

import math
from typing import Any

from helpers.display.plotting import COLUMN_INCHES, fit_to_column, plot_history
from helpers.training.gan1d import Gan1d, data_density


def draw_frame(frame: dict[str, Any], ax) -> None:
    """Goodfellow et al.'s Figure 1 on ``ax``: p_data (black dots), p_g (green histogram), D(x) (blue dashes)."""
    x = frame["x"]
    ax.plot(x, data_density(x, frame["mean"], frame["std"]), "k:", linewidth=2, label="p_data")
    ax.hist(
        frame["fakes"].clamp(x[0].item(), x[-1].item()),
        bins=60,
        range=(x[0].item(), x[-1].item()),
        density=True,
        color="tab:green",
        alpha=0.5,
        label="p_g (G's outputs)",
    )
    ax.plot(x, frame["D"], "--", color="tab:blue", linewidth=2, label="D(x)")
    ax.axhline(0.5, color="gray", linewidth=0.5)
    ax.set_xlim(x[0].item(), x[-1].item())
    ax.set_ylim(0, 1.4)
    ax.set_xlabel("x")
    ax.legend(loc="upper left", fontsize=7)


def gan1d_figure(run: Gan1d):
    """The live dashboard: :func:`draw_frame` of the run now, beside the loss curves with ln 2 marked (closed)."""
    import matplotlib.pyplot as plt

    # as wide as the notebook column; constrained layout keeps every label inside the figure and off the others
    fig, (left, right) = plt.subplots(1, 2, figsize=(COLUMN_INCHES, 3.4), width_ratios=[3, 2], layout="constrained")
    draw_frame(run.frame(), left)
    low, high = run.d_range()
    left.set_title(f"step {run.step}: D(x) from {low:.2f} to {high:.2f} where the data lie")
    if len(run.history):
        plot_history(run.history, ax=right, smooth=20, reference={"ln 2": math.log(2)}, title="losses (BCE)")
    plt.close(fig)
    return fig


def show_frames(run: Gan1d, *, panel_size: tuple[float, float] = (3.4, 2.8)):
    """The kept frames side by side, as in Goodfellow et al.'s Figure 1 (a)-(d); returns the figure (not shown).
    ``panel_size``: inches per frame, scaled down so that the row fits the notebook column."""
    import matplotlib.pyplot as plt

    count = len(run.frames)
    size = fit_to_column(panel_size[0] * count, panel_size[1])
    fig, axes = plt.subplots(1, count, figsize=(size[0], max(size[1], 2.4)), squeeze=False, layout="constrained")
    for ax, frame in zip(axes[0], run.frames):
        draw_frame(frame, ax)
        ax.set_title(f"after step {frame['step']}")
    return fig
