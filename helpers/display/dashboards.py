"""Live training dashboards: a trainer callback that redraws one figure in place while a person watches.

The trainers never draw; ``trainer.train(num_steps, callback=Dashboard(gan_figure, live=profile.watched))`` hands
this module the trainer after every log. With ``live=False`` (nbgrader, nbval, CI: nobody looks at widgets) the
dashboard draws nothing, and the lesson shows its own result figure afterwards.

- :func:`gan_figure`: losses, D(x) / D(G(z)) / D's accuracy, and the fixed-noise sample grid (lessons 3 and 4);
- :func:`cyclegan_figure`: G's and D's losses, G's loss terms, and real -> fake -> reconstructed rows (lesson 5).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from IPython.display import HTML

from helpers.display.plotting import COLUMN_INCHES, plot_history, show_images
from helpers.display.widgets import LiveArea


class Dashboard:
    """``callback(trainer, final)`` for :meth:`helpers.training.engine.Trainer.train`: ``figure(trainer)`` in one output
    area, redrawn at most every ``min_interval`` seconds (a redraw costs about 0.1 s) and once more at the end.

    Args:
        figure: ``figure(trainer) -> matplotlib Figure`` (closed, e.g. :func:`gan_figure`).
        live: a person is watching (``profile.watched``); ``False`` makes the dashboard do nothing.
        keep: keep the last figure when training ends; ``False`` removes the area (for a cell that draws its own
            result figure next, so the notebook does not show the same plots twice).
    """

    def __init__(
        self, figure: Callable[[Any], Any], *, live: bool, keep: bool = True, min_interval: float = 2.0
    ) -> None:
        self.figure, self.live, self.keep, self.min_interval = figure, bool(live), keep, min_interval
        self.area: LiveArea | None = None
        self._last = 0.0

    def __call__(self, trainer: Any, final: bool = False) -> None:
        if not self.live:
            return
        if self.area is None:
            self.area = LiveArea(HTML("<i>training starts…</i>"))
        if final and not self.keep:
            self.area.close()
            return
        now = time.monotonic()
        if not final and now - self._last < self.min_interval:
            return
        self._last = now
        self.area.show(self.figure(trainer))


def _as_images(images):
    side = math.isqrt(images.shape[1]) if images.dim() == 2 else 0
    if side and side * side == images.shape[1]:  # flat square images, e.g. 784 = 28 x 28
        images = images.reshape(-1, 1, side, side)
    return images


def gan_figure(trainer: Any, *, title: str = ""):
    """Loss curves, D's view (accuracy, D(x), D(G(z))) and the fixed-noise grid of a
    :class:`helpers.training.gan_trainer.GANTrainer`."""
    import matplotlib.pyplot as plt

    # as wide as the notebook column; constrained layout keeps every label inside the figure and off the others
    fig, axes = plt.subplots(1, 3, figsize=(COLUMN_INCHES, 3.3), width_ratios=[3, 3, 2], layout="constrained")
    if len(trainer.history):
        plot_history(trainer.history, names=["D", "G"], ax=axes[0], title=f"{title} losses".strip())
        plot_history(trainer.history, names=["D accuracy", "D(x)", "D(G(z))"], ax=axes[1], title="discriminator")
        axes[1].set_ylabel("probability / accuracy")
        axes[1].set_ylim(-0.02, 1.02)
    show_images(
        _as_images(trainer.samples()), nrow=4, ax=axes[2], title=f"fixed z, step {trainer.step}", value_range=(-1, 1)
    )
    plt.close(fig)
    return fig


def cyclegan_figure(trainer: Any, *, title: str = ""):
    """Loss curves (G, D, G's terms) and rows real A | fake B | rec A and real B | fake A | rec B of a
    :class:`helpers.training.cycle_trainer.CycleGANTrainer`."""
    import matplotlib.pyplot as plt

    images = trainer.samples()
    fig = plt.figure(figsize=(COLUMN_INCHES, 4.6), layout="constrained")  # fits the notebook column
    fig.suptitle(f"{title} step {trainer.step}".strip())
    grid = fig.add_gridspec(2, 5, width_ratios=[3, 3, 2, 2, 2])
    curves = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[:, 1])
    history = trainer.history
    if len(history):
        plot_history(history, names=["G"], ax=curves[0], title="generator loss")
        curves[0].set_xlabel("")  # the plot below names the axis: its title needs the room
        plot_history(
            history,
            names=[n for n in ("D", "D_A", "D_B") if n in history.names],
            ax=curves[1],
            title="discriminator losses",
        )
        terms = [n for n in trainer.TERMS if n in history.names and any(history[n])]
        if terms:
            plot_history(history, names=terms, ax=curves[2], title="G's loss terms (fixed images)")
            curves[2].legend(loc="best", fontsize="small")  # six curves: where they leave room, not over cycle B
    for row, keys in enumerate((("real A", "fake B", "rec A"), ("real B", "fake A", "rec B"))):
        for col, key in enumerate(keys):
            ax = fig.add_subplot(grid[row, 2 + col])
            show_images(images[key], nrow=2, ax=ax, value_range=(-1, 1), title=key)  # the step is in the suptitle
    plt.close(fig)
    return fig
