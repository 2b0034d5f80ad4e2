"""Plots used by every lesson: loss curves, image grids, pattern heat maps.

Each function draws into ``ax`` when given one (so a lesson can lay out a
figure), otherwise makes its own figure. They return the figure and never call
``plt.show()``: in Jupyter the figure shows at the end of the cell.

A figure the helpers make is at most :data:`COLUMN_INCHES` wide, so that it fits JupyterLab's notebook column
without being scaled down or cut off (:func:`fit_to_column` shrinks a row of panels to it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import torch

if TYPE_CHECKING:  # pragma: no cover
    from helpers.training.loop import History


# JupyterLab's notebook column, in a 1,280-pixel-wide browser window with the side bar collapsed, holds about 1,100
# pixels of output (tests/test_browser.py measures it); the inline backend draws 100 pixels per inch (matplotlib's
# figure.dpi) and crops to the drawn area. A figure no wider than this fits the column at its own size.
COLUMN_INCHES = 10.0
COLUMN_PIXELS = 1_080  # the most a figure may be shown wide, a little under the column's 1,100 pixels


def fit_to_column(width: float, height: float, *, max_width: float = COLUMN_INCHES) -> tuple[float, float]:
    """``(width, height)`` in inches, scaled down (both sides alike) to at most ``max_width`` wide."""
    scale = min(1.0, max_width / width)
    return width * scale, height * scale


def fit_figures_to_column(max_pixels: int = COLUMN_PIXELS, *, shell=None) -> bool:
    """Show every matplotlib figure of this notebook at most ``max_pixels`` wide: a wider one (a lesson's own
    ``figsize=(13, 3.4)``) is drawn at a lower resolution, so that it fits JupyterLab's column at its own size
    instead of being scaled down by the browser, or cut off inside a widget's output (a panel's, a dashboard's).

    An explicit call, in a lesson's first cell (importing this module changes nothing): it wraps the figure printer
    that the inline backend installs in IPython's PNG formatter. Returns ``False`` outside IPython.
    """
    from matplotlib.figure import Figure

    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    plt.close(plt.figure())  # loads the inline backend, which installs its own printer first
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        printer = formatter.lookup_by_type(Figure)
    except KeyError:  # figures are not shown as PNG here
        return False
    if getattr(printer, "fits_column", False):  # the cell ran before
        return True

    tight = getattr(printer, "keywords", {}).get("bbox_inches") == "tight"  # the inline backend's default

    def fitted(fig):
        dpi = fig.dpi
        # the width shown: what is drawn, plus 0.1 inch of padding a side, where the printer crops; else the figure
        width = fig.get_tightbbox().width + 0.2 if tight else fig.get_size_inches()[0]
        if width * dpi <= max_pixels:
            return printer(fig)
        fig.set_dpi(max_pixels / width)
        try:
            return printer(fig)
        finally:
            fig.set_dpi(dpi)

    fitted.fits_column = True
    formatter.for_type(Figure, fitted)
    return True


def _axes(ax, figsize):
    if ax is None:  # constrained layout: the labels stay inside the figure, which keeps its size when shown
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax


def _smooth(values: Sequence[float], window: int) -> list[float]:
    if window <= 1:
        return list(values)
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_history(
    history: History,
    *,
    names: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
    smooth: int = 1,
    reference: Mapping[str, float] | None = None,
    figsize=(7, 3.5),
):
    """Line plot of recorded losses against the training step.

    Args:
        history: a :class:`helpers.training.loop.History`.
        names: which series (default: all).
        smooth: moving-average window in records (1 = raw).
        reference: horizontal dashed lines, e.g. ``{"ln 2": 0.693}``.
    """
    fig, ax = _axes(ax, figsize)
    for name in names or history.names:
        marker = "o" if len(history.steps) < 20 else None  # a run of a few logs must not draw an empty plot
        ax.plot(history.steps, _smooth(history[name], smooth), label=name, linewidth=1, marker=marker, markersize=3)
    for label, value in (reference or {}).items():
        ax.axhline(value, linestyle="--", color="gray", linewidth=1)
        ax.annotate(label, (1.0, value), xycoords=("axes fraction", "data"), ha="right", va="bottom", color="gray")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper right")
    return fig


def _image_batch(images: torch.Tensor, lead: int, expected: str) -> torch.Tensor:
    """``images`` as float32 on the CPU with shape (*lead dims, C, H, W): flat MNIST rows (784) become 28×28 and a
    missing channel dimension becomes C = 1. ``lead``: how many leading dimensions index images (1: N; 2: rows,
    columns)."""
    images = images.detach().float().cpu()
    if images.dim() == lead + 1 and images.shape[-1] == 784:
        images = images.reshape(*images.shape[:lead], 28, 28)
    if images.dim() == lead + 2:
        images = images.unsqueeze(lead)
    if images.dim() != lead + 3 or images.shape[lead] not in (1, 3, 4):
        raise ValueError(f"images must be {expected}, got shape {tuple(images.shape)}")
    return images


def _grid(images: torch.Tensor, *, nrow: int, padding: int, value_range):
    """(N, C, H, W) images as one (H', W', 3) array for ``imshow``: scaled to [0, 1], white padding."""
    from torchvision.utils import make_grid  # imported on first use: torchvision takes 1.5 s to import

    grid = make_grid(images, nrow=nrow, padding=padding, normalize=True, value_range=value_range, pad_value=1.0)
    return grid.permute(1, 2, 0).numpy()


def show_images(
    images: torch.Tensor,
    *,
    nrow: int = 8,
    ax=None,
    title: str | None = None,
    value_range: tuple[float, float] | None = None,
    figsize=None,
    cmap: str = "gray",
):
    """Show a batch of images as one grid (``torchvision.utils.make_grid``).

    Args:
        images: (N, H, W), (N, C, H, W) or (N, H*W) with H*W = 784 (MNIST); any device.
        nrow: images per row.
        value_range: (low, high) of the pixel values, e.g. (-1, 1) for tanh outputs;
            default: the batch's own min and max.
    """
    images = _image_batch(images, 1, "(N, H, W), (N, C, H, W) with C = 1, 3 or 4, or (N, 784)")
    grid = _grid(images, nrow=nrow, padding=2, value_range=value_range)
    ncols = min(nrow, images.shape[0])
    nrows = -(-images.shape[0] // nrow)
    fig, ax = _axes(ax, figsize or fit_to_column(max(2.0, 0.8 * ncols), max(2.0, 0.8 * nrows)))
    ax.imshow(grid, cmap=cmap, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig


def plot_patterns(
    patterns: torch.Tensor | Sequence[Sequence[float]],
    *,
    row_labels: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
    figsize=None,
):
    """Heat map of 1-D patterns, one row each (e.g. the generator's output over training).

    Args:
        patterns: (R, L) values in [0, 1]: R patterns of length L.
        row_labels: a label per row, e.g. ``"step 500"``.
    """
    patterns = torch.as_tensor(patterns, dtype=torch.float32).detach().cpu()
    if patterns.dim() == 1:
        patterns = patterns.unsqueeze(0)
    if patterns.dim() != 2:
        raise ValueError(f"patterns must be (rows, length), got shape {tuple(patterns.shape)}")
    rows, length = patterns.shape
    fig, ax = _axes(ax, figsize or fit_to_column(1.0 + 0.8 * length, 0.6 + 0.35 * rows))
    image = ax.imshow(patterns.numpy(), cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    for r in range(rows):
        for c in range(length):
            value = float(patterns[r, c])
            ax.text(
                c, r, f"{value:.2f}", ha="center", va="center", fontsize=8, color="white" if value > 0.6 else "black"
            )
    ax.set_xticks(range(length))
    ax.set_xlabel("position")
    ax.set_yticks(range(rows))
    ax.set_yticklabels(row_labels if row_labels is not None else [str(r) for r in range(rows)])
    fig.colorbar(image, ax=ax, fraction=0.05)
    if title:
        ax.set_title(title)
    return fig


def show_image_rows(
    images: torch.Tensor,
    *,
    row_labels: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
    value_range: tuple[float, float] | None = None,
    figsize=None,
    cmap: str = "gray",
):
    """Show images as a table: one row per group (e.g. one row per digit a conditional G was asked for).

    Args:
        images: (R, N, H, W), (R, N, C, H, W) or (R, N, H*W) with H*W = 784: R rows of N images; any device.
        row_labels: a label per row, written on the left (e.g. ``["0", "1", ..., "9"]``).
        value_range: (low, high) of the pixel values, e.g. (-1, 1) for tanh outputs.
    """
    images = _image_batch(images, 2, "(rows, columns, H, W), (rows, columns, C, H, W) or (rows, columns, 784)")
    rows, columns, _, height, _ = images.shape
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"got {len(row_labels)} row labels for {rows} rows")
    padding = 2
    grid = _grid(
        images.reshape(rows * columns, *images.shape[2:]), nrow=columns, padding=padding, value_range=value_range
    )
    fig, ax = _axes(ax, figsize or fit_to_column(max(2.0, 0.6 * columns + 0.5), max(2.0, 0.6 * rows)))
    ax.imshow(grid, cmap=cmap, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([padding + r * (height + padding) + height / 2 for r in range(rows)])
    ax.set_yticklabels(row_labels if row_labels is not None else [str(r) for r in range(rows)])
    ax.tick_params(left=False)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title)
    return fig
