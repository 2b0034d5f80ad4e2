"""The 2-D GAN lab's picture and controls (lesson 2): a :class:`helpers.training.gan_lab.GanLab` to watch and drive.

The picture (:class:`LabPicture`) has three panels: the plane (D's output as a heat map, the real points, G's
samples and an arrow per sample for the way G's next update pushes it), the loss curves, and the mode coverage (the
share of G's samples on each mode, with the bar a mode must reach to count as covered).

**Rendering.** A person at Jupyter gets :class:`GanLabWidget`: ipywidgets buttons and sliders above an ipywidgets
``Image`` whose PNG comes from one matplotlib Agg canvas that is kept and redrawn in place (the artists' data change,
nothing is rebuilt). ipywidgets and matplotlib are already the course's dependencies; an ``Image`` is a plain widget
that JupyterLab, Jupyter Notebook 7, VS Code and Colab all render, with no front-end extension to install (ipympl and
ipycanvas need one). ``bench/gan_lab_fps.py`` measures it against a plain matplotlib redraw (a new figure per update,
as ``clear_output`` + ``display`` does).

**Headless** (``live=False``: nbval, nbgrader, CI), :func:`show_gan_lab` makes no widget: it trains to fixed steps and
draws the same plane panel at each, with the losses and the coverage at the end, as one static figure.
"""

from __future__ import annotations

import asyncio
import html
import io
import math
from collections.abc import Sequence
from typing import Any

import torch

from helpers.data.toy2d import TARGETS
from helpers.training.gan_lab import LOSSES, PLANE, GanLab

ARROWS = 150
"""Arrows drawn (for the first ARROWS of G's shown samples): more hide the samples."""
SHOWN = 600
"""Real points and G's samples drawn of each."""


def _arrow_scale(push: torch.Tensor) -> float:
    """The factor that makes a typical (90th percentile) push 0.6 units long on the plane."""
    lengths = push.norm(dim=1)
    typical = float(torch.quantile(lengths, 0.9)) if len(lengths) else 0.0
    return 0.6 / typical if typical > 0 and torch.isfinite(torch.tensor(typical)) else 0.0


class PlanePanel:
    """The plane: D's map, real points, G's samples and their pushes, on ``ax``; :meth:`update` moves the artists."""

    def __init__(self, ax: Any, frame: dict[str, Any]) -> None:
        self.ax = ax
        self.image = ax.imshow(
            frame["d_map"].numpy(),
            origin="lower",
            extent=(-PLANE, PLANE, -PLANE, PLANE),
            cmap="RdBu",
            vmin=0.0,
            vmax=1.0,
            interpolation="bilinear",
        )
        real = frame["real"][:SHOWN].numpy()
        self.real = ax.scatter(real[:, 0], real[:, 1], s=3, c="0.15", linewidths=0, label="real")
        self.fake = ax.scatter([], [], s=4, c="#ff8c00", linewidths=0, label="G(z)")
        self.arrows = ax.quiver(
            [0.0] * ARROWS,
            [0.0] * ARROWS,
            [0.0] * ARROWS,
            [0.0] * ARROWS,
            angles="xy",
            scale_units="xy",
            scale=1.0,
            width=0.004,
            color="#6a0dad",
        )
        ax.set_xlim(-PLANE, PLANE)
        ax.set_ylim(-PLANE, PLANE)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(loc="upper right", fontsize=7, markerscale=3, framealpha=0.7)
        self.update(frame)

    def update(self, frame: dict[str, Any]) -> None:
        self.image.set_data(frame["d_map"].numpy())
        self.real.set_offsets(frame["real"][:SHOWN].numpy())
        fake = frame["fake"][:SHOWN].nan_to_num(0.0, PLANE * 10, -PLANE * 10)
        self.fake.set_offsets(fake.numpy())
        push = frame["push"][:ARROWS].nan_to_num(0.0, 0.0, 0.0)
        self.arrows.set_offsets(fake[:ARROWS].numpy())
        arrows = push * _arrow_scale(push)
        self.arrows.set_UVC(arrows[:, 0].numpy(), arrows[:, 1].numpy())
        coverage = frame["coverage"]
        self.ax.set_title(
            f"G step {frame['step']}, D step {frame['d_count']}: {coverage.covered}/{coverage.modes} modes",
            fontsize=9,
        )


class LabPicture:
    """The lab's whole picture on one Agg canvas, kept between updates: :meth:`png` redraws it for a frame.

    The axes, ticks, labels and legends are drawn once and kept as a background; a frame restores it and draws only
    what moves (D's map, G's samples, the arrows, the curves, the bars and the titles: matplotlib's blitting). The
    background is drawn again only when the loss axes must grow (their limits at least double each time).
    """

    def __init__(self, frame: dict[str, Any], *, figsize: tuple[float, float] = (10.5, 3.5), dpi: int = 80) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=figsize, dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        grid = self.figure.add_gridspec(1, 3, width_ratios=[1.05, 1.2, 1.0], wspace=0.3)
        self.plane = PlanePanel(self.figure.add_subplot(grid[0]), frame)
        self.losses = self.figure.add_subplot(grid[1])
        (self.d_line,) = self.losses.plot([], [], label="D (mean of its two terms)", linewidth=1)
        (self.g_line,) = self.losses.plot([], [], label="G", linewidth=1)
        self.losses.set_xlabel("G step", fontsize=8)
        self.losses.legend(loc="upper right", fontsize=7)
        self.losses.tick_params(labelsize=7)
        self.losses.set_xlim(0, 100)
        self.losses.set_ylim(0, 1.5)
        self.bars_ax = self.figure.add_subplot(grid[2])
        coverage = frame["coverage"]
        self.bars = self.bars_ax.bar(range(coverage.modes), [0.0] * coverage.modes, color="#ff8c00")
        self.bars_ax.axhline(coverage.min_share, color="k", linewidth=0.8, linestyle="--")
        self.bars_ax.set_ylim(0, 1)
        self.bars_ax.set_xlabel("mode", fontsize=8)
        self.bars_ax.set_ylabel("share of G's samples", fontsize=8)
        self.bars_ax.tick_params(labelsize=7)
        self.figure.subplots_adjust(left=0.02, right=0.98, bottom=0.14, top=0.88)
        p = self.plane
        # in drawing order: D's map first, then what lies on it (the real points and the legend too, or the map
        # would cover them)
        self.moving = [p.image, p.real, p.fake, p.arrows, p.ax.get_legend(), p.ax.title, self.d_line, self.g_line]
        self.moving += list(self.bars)
        self.moving += [self.losses.title, self.bars_ax.title]
        for artist in self.moving:
            artist.set_animated(True)
        self.background = None
        self.update(frame)

    def _fit_losses(self, steps: list[int], values: list[float]) -> None:
        """Grow the loss axes to hold the curves (limits at least double, so the background is rarely redrawn)."""
        finite = [v for v in values if math.isfinite(v)]
        if not steps or not finite:
            return
        (_, x1), (y0, y1) = self.losses.get_xlim(), self.losses.get_ylim()
        low, high = min(finite), max(finite)
        if steps[-1] > x1:
            self.losses.set_xlim(0, max(2 * x1, steps[-1]))
            self.background = None
        if low < y0 or high > y1:
            span = max(high, y1) - min(low, y0)
            self.losses.set_ylim(min(low, y0) - 0.25 * span * (low < y0), max(high, y1) + 0.25 * span * (high > y1))
            self.background = None

    def update(self, frame: dict[str, Any]) -> None:
        self.plane.update(frame)
        steps, d, g = frame["steps"], frame["D"], frame["G"]
        self.d_line.set_data(steps, d)
        self.g_line.set_data(steps, g)
        self._fit_losses(steps, d + g)
        self.losses.set_title(f"losses ({frame['settings'].loss})", fontsize=9)
        coverage = frame["coverage"]
        for bar, share in zip(self.bars, coverage.shares):
            bar.set_height(share)
            bar.set_color("#ff8c00" if share >= coverage.min_share else "0.6")
        self.bars_ax.set_title(
            f"{coverage.covered}/{coverage.modes} modes hold ≥ {100 * coverage.min_share:.0f} %; "
            f"{100 * coverage.high_quality:.0f} % within 3 std",
            fontsize=9,
        )

    def draw(self) -> None:
        """Draw the canvas: the kept background (drawn first when missing), then what moves."""
        if self.background is None:
            self.canvas.draw()  # everything but the animated artists
            self.background = self.canvas.copy_from_bbox(self.figure.bbox)
        else:
            self.canvas.restore_region(self.background)
        renderer = self.canvas.get_renderer()
        for artist in self.moving:
            artist.draw(renderer)

    def png(self, frame: dict[str, Any] | None = None) -> bytes:
        """Redraw (with ``frame`` when given) and return the picture as PNG bytes (fast zlib level 1)."""
        from PIL import Image

        if frame is not None:
            self.update(frame)
        self.draw()
        width, height = self.canvas.get_width_height()
        image = Image.frombuffer("RGBA", (width, height), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        out = io.BytesIO()
        image.convert("RGB").save(out, format="png", compress_level=1)
        return out.getvalue()


class GanLabWidget:
    """The lab's controls and live picture for ``lab`` (ipywidgets; :attr:`box` is what is displayed).

    Buttons: step D, step G, step both, play/pause, reset. Sliders: D's and G's learning rates, D steps per G step,
    the noise dimension (a change resets the run); the loss and the target (a change resets the run); a box for
    your own points ("x, y" per line) and the seed. A problem (too few points, a diverged run, a step function that
    raised) shows in red above the picture, with what to change; reset brings back a fresh run.
    """

    def __init__(self, lab: GanLab) -> None:
        import ipywidgets as w

        self.lab = lab
        s = lab.settings
        self.picture = LabPicture(lab.frame())
        self.image = w.Image(value=self.picture.png(), format="png", layout=w.Layout(max_width="100%"))
        self.status = w.HTML()
        button = dict(layout=w.Layout(width="auto"))
        self.step_d_button = w.Button(description="step D", tooltip="one update of D", **button)
        self.step_g_button = w.Button(description="step G", tooltip="one update of G", **button)
        self.step_both_button = w.Button(description="step both", tooltip="D steps per G step, then G", **button)
        self.play = w.ToggleButton(description="play", icon="play", tooltip="train until pressed again", **button)
        self.reset_button = w.Button(description="reset", icon="refresh", tooltip="a fresh run", **button)
        slider = dict(continuous_update=False, style={"description_width": "initial"})
        self.lr_d = w.FloatLogSlider(value=s.lr_d, base=10, min=-5, max=1, step=0.25, description="D's lr", **slider)
        self.lr_g = w.FloatLogSlider(value=s.lr_g, base=10, min=-5, max=1, step=0.25, description="G's lr", **slider)
        self.d_steps = w.IntSlider(value=s.d_steps, min=1, max=10, description="D steps per G step", **slider)
        self.noise_dim = w.IntSlider(value=s.noise_dim, min=1, max=16, description="noise dim", **slider)
        self.loss = w.Dropdown(options=list(LOSSES), value=s.loss, description="loss")
        choices = [*TARGETS, "your points"]
        self.target = w.Dropdown(options=choices, value=_target_choice(lab), description="target")
        self.points = w.Textarea(placeholder="your points: x, y per line (10 or more)", layout=w.Layout(width="16em"))
        self.seed = w.IntText(value=lab.seed, description="seed", layout=w.Layout(width="10em"))
        buttons = w.HBox([self.step_d_button, self.step_g_button, self.step_both_button, self.play, self.reset_button])
        sliders = w.HBox([w.VBox([self.lr_d, self.lr_g, self.d_steps]), w.VBox([self.noise_dim, self.loss, self.seed])])
        self.box = w.VBox([buttons, sliders, w.HBox([self.target, self.points]), self.status, self.image])
        self.box.add_class("gan-lab")
        self._task: asyncio.Future | None = None

        self.step_d_button.on_click(lambda _: self._do(lab.step_d))
        self.step_g_button.on_click(lambda _: self._do(lab.step_g))
        self.step_both_button.on_click(lambda _: self._do(lab.step_both))
        self.reset_button.on_click(lambda _: self.reset())
        self.play.observe(self._toggle_play, names="value")
        for control in (self.lr_d, self.lr_g, self.d_steps, self.noise_dim, self.loss):
            control.observe(self._configure, names="value")
        self.target.observe(self._choose_target, names="value")
        self._show_status()

    def _show_status(self) -> None:
        lab = self.lab
        if lab.message:
            self.status.value = f'<b style="color:#b00020">{html.escape(lab.message)}</b>'
        else:
            coverage = lab.coverage()
            self.status.value = (
                f"{html.escape(lab.target.name)}: G step {lab.step_count}, D step {lab.d_count}; {coverage}"
            )

    def redraw(self) -> None:
        """Draw the run as it is now."""
        self.image.value = self.picture.png(self.lab.frame())
        self._show_status()

    def _do(self, update) -> bool:
        ok = update()
        self.redraw()
        return ok

    def reset(self) -> None:
        """A fresh run with the current settings and seed (the play button stops)."""
        self.play.value = False
        self.lab.reset(seed=self.seed.value)
        if self.target.value == "your points" and self.points.value.strip():
            self.lab.set_target(_parse_points(self.points.value))
        self.picture = LabPicture(self.lab.frame())  # the number of modes may have changed
        self.redraw()

    def _configure(self, change: dict) -> None:
        self.lab.configure(
            lr_d=self.lr_d.value,
            lr_g=self.lr_g.value,
            d_steps=self.d_steps.value,
            noise_dim=self.noise_dim.value,
            loss=self.loss.value,
        )
        if change["owner"] is self.loss:  # a new game: start again
            self.lab.reset(seed=self.seed.value)
        self.redraw()

    def _choose_target(self, change: dict) -> None:
        self.play.value = False
        if change["new"] == "your points":
            points = _parse_points(self.points.value)
            if points is None:
                self.lab.message = (
                    "Type your points in the box beside the target, one 'x, y' pair per line (10 or more, within "
                    "[-3, 3]), then choose 'your points' again or press reset."
                )
                self.redraw()
                return
            self.lab.set_target(points)
        else:
            self.lab.set_target(change["new"])
        self.picture = LabPicture(self.lab.frame())
        self.redraw()

    def _toggle_play(self, change: dict) -> None:
        self.play.description, self.play.icon = ("pause", "pause") if change["new"] else ("play", "play")
        if change["new"] and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        """Step both and redraw until pause (or a problem); yields to the kernel between frames so the pause
        button and the sliders are heard."""
        while self.play.value:
            if not self._do(self.lab.step_both):
                self.play.value = False
                break
            await asyncio.sleep(0.001)


def _target_choice(lab: GanLab) -> str:
    for name in TARGETS:
        if lab.target.name.startswith({"ring": "ring", "grid": "5 x 5", "moons": "two moons"}.get(name, name)):
            return name
    return "your points"


def _parse_points(text: str) -> list[tuple[float, float]] | None:
    """'x, y' per line -> pairs; ``None`` when nothing parses (too few points are left to :func:`make_target`)."""
    pairs = []
    for line in text.replace(";", "\n").splitlines():
        parts = line.replace(",", " ").split()
        if len(parts) == 2:
            try:
                pairs.append((float(parts[0]), float(parts[1])))
            except ValueError:
                continue
    return pairs or None


def show_gan_lab(lab: GanLab, *, live: bool, steps: Sequence[int] = (0, 100, 500, 2000)) -> Any:
    """Show the lab: the widget when a person is watching (``live``, from ``profile.watched``); otherwise train to
    each of ``steps`` (G updates, increasing) and draw the plane at each, then the losses and the coverage at the
    end, as one figure (the same panels as the widget's). Returns the widget or the figure."""
    if live:
        from IPython.display import display

        widget = GanLabWidget(lab)
        display(widget.box)
        return widget
    import matplotlib.pyplot as plt

    from helpers.display.plotting import COLUMN_INCHES

    frames = []
    for step in steps:
        if step > lab.step_count:
            lab.train(step - lab.step_count)
        frames.append(lab.frame())
        if lab.message:
            break
    # two rows, the column's width: the plane at each step above, the losses and the coverage at the last below
    fig = plt.figure(figsize=(COLUMN_INCHES, 5.4), layout="constrained")
    above, below = fig.subfigures(2, 1, height_ratios=[3.0, 2.4])
    planes = above.subplots(1, max(len(frames), 2), squeeze=False)[0]
    for ax, frame in zip(planes, frames):
        PlanePanel(ax, frame).ax.title.set_fontsize(8)
    for ax in planes[len(frames) :]:
        ax.set_visible(False)
    last = frames[-1]
    losses, bars = below.subplots(1, 2, width_ratios=[1.3, 1.0])
    losses.plot(last["steps"], last["D"], label="D", linewidth=1)
    losses.plot(last["steps"], last["G"], label="G", linewidth=1)
    losses.set_title(f"losses ({last['settings'].loss})", fontsize=9)
    losses.set_xlabel("G step", fontsize=8)
    losses.legend(fontsize=7)
    losses.tick_params(labelsize=7)
    coverage = last["coverage"]
    bars.bar(
        range(coverage.modes),
        coverage.shares,
        color=["#ff8c00" if share >= coverage.min_share else "0.6" for share in coverage.shares],
    )
    bars.axhline(coverage.min_share, color="k", linewidth=0.8, linestyle="--")
    bars.set_ylim(0, max(0.2, 1.1 * max(coverage.shares, default=0)))
    bars.set_title(  # the widget's title, with the step
        f"step {last['step']}: {coverage.covered}/{coverage.modes} modes hold ≥ {100 * coverage.min_share:.0f} %; "
        f"{100 * coverage.high_quality:.0f} % within 3 std",
        fontsize=9,
    )
    bars.set_ylabel("share of G's samples", fontsize=8)
    bars.set_xlabel("mode", fontsize=8)
    bars.tick_params(labelsize=7)
    if lab.message:
        print(lab.message)
    plt.show()
    return fig
