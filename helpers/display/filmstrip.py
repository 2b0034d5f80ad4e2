"""Watch G learn: keep the fixed-noise samples of every log during training, then scrub through them.

A :class:`Filmstrip` is a trainer callback (give it beside a dashboard:
``gan.train(n, callback=[Dashboard(...), film])``) or is fed by hand (``film.record(step, G(fixed_z))`` in a
``run_steps`` callback). Because every frame is drawn from the **same** latent vectors, the frames show the same
samples improving, collapsing onto one digit or oscillating, step by step.

:meth:`Filmstrip.show` gives a person at Jupyter a slider over the kept steps with a play button (as the
PyTorch DCGAN tutorial's animation does); in an automated run (``live=False``: nbval, nbgrader) it draws a static
strip of a few evenly spaced frames instead, so the notebook's output still shows the progression.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

Frame = (
    Any  # what ``sample(trainer)`` returns: a tensor of images or patterns (on the CPU), or any object ``draw`` takes
)


def _default_sample(trainer: Any) -> Frame:
    return trainer.samples()


class Filmstrip:
    """The frames of one training run: ``(step, frame)`` pairs, oldest first, at most ``max_frames`` of them.

    Args:
        sample: ``sample(trainer) -> frame`` when used as a trainer callback (default: ``trainer.samples()``, the
            fixed-noise grid, float32 on the CPU). Frames are detached and moved to the CPU when they are tensors.
        max_frames: when more logs come, the filmstrip keeps every 2nd, then every 4th, ... log (the newest log
            always stays), so a long run keeps frames evenly spread over the whole run in bounded memory.
    """

    def __init__(self, sample: Callable[[Any], Frame] | None = None, *, max_frames: int = 120) -> None:
        if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2:
            raise ValueError(f"max_frames must be a whole number of at least 2, got {max_frames!r}")
        self.sample = sample or _default_sample
        self.max_frames = max_frames
        self.steps: list[int] = []
        self.frames: list[Frame] = []
        self._logs: list[int] = []  # the log number of each kept frame (0, 1, 2, ... as recorded)
        self._seen = 0
        self._stride = 1

    def __len__(self) -> int:
        return len(self.frames)

    def __call__(self, trainer: Any, final: bool = False) -> None:
        """The trainer callback: record ``sample(trainer)`` at ``trainer.step`` (once per step, final call included)."""
        if self.steps and self.steps[-1] == trainer.step:
            return
        with torch.no_grad():
            self.record(trainer.step, self.sample(trainer))

    def record(self, step: int, frame: Frame) -> None:
        """Keep ``frame`` (detached, on the CPU when it is a tensor) as the picture at ``step``."""
        if isinstance(frame, torch.Tensor):
            frame = frame.detach().float().cpu().clone()
        if self._logs and self._logs[-1] % self._stride:  # the previous newest frame was off the stride: replace it
            del self._logs[-1], self.steps[-1], self.frames[-1]
        self._logs.append(self._seen)
        self.steps.append(int(step))
        self.frames.append(frame)
        self._seen += 1
        while len(self.frames) > self.max_frames:  # keep every (2 * stride)-th log, and the newest
            self._stride *= 2
            keep = [i for i, n in enumerate(self._logs) if n % self._stride == 0 or i == len(self._logs) - 1]
            self._logs = [self._logs[i] for i in keep]
            self.steps = [self.steps[i] for i in keep]
            self.frames = [self.frames[i] for i in keep]

    def show(
        self,
        draw: Callable[[Frame, Any], Any],
        *,
        live: bool,
        title: str = "",
        strip: int = 6,
        figsize: tuple[float, float] = (3.2, 3.2),
    ) -> Any:
        """Scrub through the frames: ``draw(frame, ax)`` draws one frame on a matplotlib axis.

        Args:
            live: a person is watching (``profile.watched``): a slider over the kept steps and a play button.
                ``False``: one figure with ``strip`` evenly spaced frames, first and last included.
            title: above the frames (a strip), or before ", step N" above the frame (live).
        Returns:
            the widget (live) or the figure (a strip).
        Raises:
            ValueError: nothing was recorded yet (train with the filmstrip as a callback first).
        """
        if not self.frames:
            raise ValueError(
                "The filmstrip is empty: train with it as a callback first, e.g. "
                "gan.train(num_steps, callback=[dashboard, film])."
            )
        if live:
            return self._player(draw, title, figsize)
        return self.strip(draw, count=strip, title=title, figsize=figsize)

    def strip(
        self,
        draw: Callable[[Frame, Any], Any],
        *,
        count: int = 6,
        title: str = "",
        figsize: tuple[float, float] = (3.2, 3.2),
    ):
        """One figure with ``count`` evenly spaced frames (first and last included), each titled with its step.
        ``figsize``: inches per frame. The frames fill rows as wide as the notebook column, each frame shrunk to no
        less than 80 % of its size (six 3.4-inch frames: two rows of three), so that each stays readable in an HTML
        export or nbgrader's feedback; ``title`` goes above them."""
        import matplotlib.pyplot as plt

        from helpers.display.plotting import COLUMN_INCHES, fit_to_column

        count = max(1, min(count, len(self.frames)))
        picks = sorted({round(i * (len(self.frames) - 1) / max(count - 1, 1)) for i in range(count)})
        columns = max(1, min(len(picks), int(COLUMN_INCHES // (0.8 * figsize[0]))))
        rows = -(-len(picks) // columns)
        width, height = fit_to_column(figsize[0] * columns, figsize[1] * rows + (0.3 if title else 0.0))
        fig, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False, layout="constrained")
        label = title.rstrip(":, ")
        if label:
            fig.suptitle(label)
        for ax in axes.flat[len(picks) :]:
            fig.delaxes(ax)
        for ax, i in zip(axes.flat, picks):
            draw(self.frames[i], ax)
            ax.set_title(f"step {self.steps[i]}", fontsize="medium" if width / columns >= 1.5 else "small")
        plt.show()
        return fig

    def _player(self, draw: Callable[[Frame, Any], Any], title: str, figsize: tuple[float, float]):
        import ipywidgets as widgets
        import matplotlib.pyplot as plt
        from IPython.display import display

        slider = widgets.IntSlider(
            value=len(self.frames) - 1, min=0, max=len(self.frames) - 1, description="frame", continuous_update=True
        )
        play = widgets.Play(
            value=len(self.frames) - 1, min=0, max=len(self.frames) - 1, interval=300, description="play"
        )
        widgets.jslink((play, "value"), (slider, "value"))

        def one(frame: int) -> None:
            fig, ax = plt.subplots(figsize=figsize)
            draw(self.frames[frame], ax)
            label = title.rstrip(":, ")
            ax.set_title(f"{label}, step {self.steps[frame]}" if label else f"step {self.steps[frame]}")
            plt.show()

        view = widgets.interactive_output(one, {"frame": slider})
        box = widgets.VBox([widgets.HBox([play, slider]), view])
        display(box)
        return box
