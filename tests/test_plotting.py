"""Unit tests for helpers.display.plotting: image grids, pattern heat maps, loss curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from course import LESSONS, solution_path  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from helpers.display.plotting import plot_history, plot_patterns, show_images  # noqa: E402
from helpers.training.loop import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    before = set(plt.get_fignums())
    yield
    for number in set(plt.get_fignums()) - before:
        plt.close(number)


def _shown_array(fig: Figure) -> np.ndarray:
    (image,) = fig.axes[0].get_images()
    return np.asarray(image.get_array())


def _grid(images: torch.Tensor, nrow: int = 8, value_range=None) -> np.ndarray:
    """What the image grid should look like: torchvision's make_grid of (N, C, H, W)."""
    return (
        make_grid(images, nrow=nrow, padding=2, normalize=True, value_range=value_range, pad_value=1.0)
        .permute(1, 2, 0)
        .numpy()
    )


# --- show_images ----------------------------------------------------------------------------------


@pytest.fixture
def batch():
    return torch.rand(6, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("layout", ["NHW", "N1HW", "N784"])
def test_show_images_accepts_gray_layouts_and_draws_the_same_grid(batch, layout):
    shaped = {"NHW": batch, "N1HW": batch.unsqueeze(1), "N784": batch.reshape(6, 784)}[layout]
    fig = show_images(shaped, nrow=4)
    assert isinstance(fig, Figure)
    np.testing.assert_allclose(_shown_array(fig), _grid(batch.unsqueeze(1), nrow=4), rtol=1e-6, atol=1e-6)


def test_show_images_rgb():
    images = torch.rand(5, 3, 8, 10, generator=torch.Generator().manual_seed(1))
    fig = show_images(images, nrow=3, title="colour")
    assert isinstance(fig, Figure)
    np.testing.assert_allclose(_shown_array(fig), _grid(images, nrow=3), rtol=1e-6, atol=1e-6)
    assert fig.axes[0].get_title() == "colour"


def test_show_images_value_range_and_non_float_input():
    images = torch.linspace(-1, 1, 2 * 16).reshape(2, 4, 4)
    fig = show_images(images, value_range=(-1.0, 1.0))
    np.testing.assert_allclose(_shown_array(fig), _grid(images.unsqueeze(1), value_range=(-1.0, 1.0)), atol=1e-6)
    fig = show_images(torch.randint(0, 256, (3, 28, 28), generator=torch.Generator().manual_seed(2)))
    assert isinstance(fig, Figure)


def test_show_images_does_not_modify_input_or_need_grad_detach(batch):
    images = batch.clone().requires_grad_(True)
    show_images(images)
    assert torch.equal(images.detach(), batch)


def test_show_images_draws_into_given_axes(batch):
    fig, (left, right) = plt.subplots(1, 2)
    assert show_images(batch, ax=right) is fig
    assert len(right.get_images()) == 1 and len(left.get_images()) == 0


@pytest.mark.parametrize("shape", [(784,), (6, 10), (6, 783), (2, 1, 1, 28, 28)])
def test_show_images_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="images must be"):
        show_images(torch.rand(*shape))


def test_show_images_rejects_two_channels_with_value_error():
    with pytest.raises(ValueError, match="images must be"):
        show_images(torch.rand(4, 2, 8, 8))


# --- plot_patterns --------------------------------------------------------------------------------


def test_plot_patterns_shows_values_and_labels():
    patterns = torch.tensor([[0.1, 0.9, 0.2, 0.8], [0.0, 1.0, 0.0, 1.0], [0.55, 0.65, 0.05, 0.95]])
    labels = ["step 0", "step 500", "step 1000"]
    fig = plot_patterns(patterns, row_labels=labels, title="generator output")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    np.testing.assert_allclose(_shown_array(fig), patterns.numpy())
    texts = {(t.get_position(), t.get_text()) for t in ax.texts}
    expected = {((c, r), f"{patterns[r, c].item():.2f}") for r in range(3) for c in range(4)}
    assert texts == expected
    assert [t.get_text() for t in ax.get_yticklabels()] == labels
    assert ax.get_title() == "generator output"
    assert len(fig.axes) == 2  # the colour bar


def test_plot_patterns_accepts_lists_and_one_pattern():
    fig = plot_patterns([1.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(_shown_array(fig), [[1.0, 0.0, 1.0, 0.0]])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["0"]


def test_plot_patterns_rejects_3d():
    with pytest.raises(ValueError, match="rows, length"):
        plot_patterns(torch.zeros(2, 2, 2))


# --- plot_history ----------------------------------------------------------------------------------


@pytest.fixture
def history():
    h = History()
    for step in range(0, 100, 10):
        h.log(step, d_loss=0.7 + 0.01 * step, g_loss=1.0 / (step + 1))
    return h


def test_plot_history_one_line_per_series_and_reference_lines(history):
    fig = plot_history(history, reference={"ln 2": 0.693, "ln 4": 1.386}, title="losses")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    curves = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert set(curves) == {"d_loss", "g_loss"}
    for name, line in curves.items():
        np.testing.assert_allclose(line.get_xdata(), history.steps)
        np.testing.assert_allclose(line.get_ydata(), history[name])
    horizontal = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert sorted(float(line.get_ydata()[0]) for line in horizontal) == [0.693, 1.386]
    assert {t.get_text() for t in ax.texts} >= {"ln 2", "ln 4"}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["d_loss", "g_loss"]
    assert ax.get_title() == "losses"


def test_plot_history_names_and_smoothing(history):
    window = 3
    fig = plot_history(history, names=["g_loss"], smooth=window)
    (line,) = fig.axes[0].get_lines()
    values = np.array(history["g_loss"])
    expected = [values[max(0, i - window + 1) : i + 1].mean() for i in range(len(values))]
    np.testing.assert_allclose(line.get_ydata(), expected)


def test_plot_history_of_a_single_log_shows_a_visible_point():
    h = History()
    h.log(1, d_loss=0.7)  # a 1-step run from the panel: one point, which a plain line would not draw
    (line,) = plot_history(h).axes[0].get_lines()
    assert line.get_marker() not in (None, "None", "", " ")


# --- every figure fits the notebook column, its text inside and apart ------------------------------------------
# JupyterLab shows a figure at the inline backend's 100 pixels per inch, cropped to what is drawn ("tight"). A
# figure wider than the column is scaled down or, inside a widget, cut off (lesson 5's dashboard lost its right
# column's titles); text that overlaps other text is unreadable. tests/test_browser.py checks the column itself.

INLINE_DPI = 100


def _drawn_texts(fig: Figure) -> list[tuple[str, object]]:
    """Every piece of text the figure draws, with where it lands: titles, axis labels, the tick labels that are
    drawn, legends, annotations, the suptitle. Draws the figure first (constrained layout runs at draw time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    if not isinstance(fig.canvas, FigureCanvasAgg):  # a closed figure (a dashboard's) keeps a bare canvas
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts: list[Text] = list(fig.texts)  # the suptitle among them
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_visible() and ax.axison:
                texts.append(axis.label)
                texts += [tick.label1 for tick in axis._update_ticks() if tick.label1.get_visible()]
                texts += [tick.label2 for tick in axis._update_ticks() if tick.label2.get_visible()]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
    unique = list({id(t): t for t in texts}.values())
    return [
        (repr(t.get_text()), t.get_window_extent(renderer)) for t in unique if t.get_visible() and t.get_text().strip()
    ]


def assert_fits_the_column(fig: Figure) -> None:
    """No wider than the notebook column as shown; every text inside the figure; no two texts overlap."""
    from matplotlib.transforms import Bbox

    from helpers.display.plotting import COLUMN_INCHES

    width, _ = fig.get_size_inches()
    assert width <= COLUMN_INCHES + 1e-6, f"the figure is {width:.2f} in wide, more than the column's {COLUMN_INCHES}"
    texts = _drawn_texts(fig)
    assert texts, "the figure draws no text at all"
    frame = Bbox.from_bounds(0, 0, fig.bbox.width, fig.bbox.height).expanded(1.0, 1.0).padded(1.0)
    outside = [
        name
        for name, box in texts
        if not frame.containsx(box.x0)
        or not frame.containsx(box.x1)
        or not frame.containsy(box.y0)
        or not frame.containsy(box.y1)
    ]
    assert not outside, f"text outside the figure (cut off when shown): {outside}"
    overlapping = [
        f"{a} and {b}"
        for i, (a, box_a) in enumerate(texts)
        for b, box_b in texts[i + 1 :]
        if box_a.shrunk(0.98, 0.9).overlaps(box_b.shrunk(0.98, 0.9))
    ]
    assert not overlapping, f"texts drawn over each other: {overlapping}"
    tight = fig.get_tightbbox(fig.canvas.get_renderer())  # inches: what the inline backend shows, plus 0.1 a side
    assert tight.width <= width + 0.01, f"drawn {tight.width:.2f} in wide, wider than the figure's {width:.2f} in"


class _GanTrainer:
    """What gan_figure reads of a GANTrainer, after the lesson's 6,000 steps."""

    def __init__(self, steps: int = 6_000):
        self.step, self.history = steps, History()
        for step in range(0, steps + 1, 100) if steps else []:
            self.history.log(step, **{"D": 1.2, "G": 0.9, "D(x)": 0.6, "D(G(z))": 0.4, "D accuracy": 0.7})

    def samples(self):
        return torch.rand(16, 784, generator=torch.Generator().manual_seed(0)) * 2 - 1


class _CycleTrainer:
    """What cyclegan_figure reads of a CycleGANTrainer, after the cpu profile's 900 steps."""

    from helpers.training.cycle_trainer import TERMS

    def __init__(self, steps: int = 900):
        self.step, self.history = steps, History()
        for step in range(0, steps + 1, 50) if steps else []:
            self.history.log(step, G=5.0, D=0.4, D_A=0.2, D_B=0.2, **dict.fromkeys(self.TERMS, 1.0))

    def samples(self):
        keys = ("real A", "fake B", "rec A", "real B", "fake A", "rec B")
        return {k: torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1 for k in keys}


def _gan1d_run():
    from helpers.device import set_seed
    from helpers.training.gan1d import train_gan1d

    def d_step(D, optimizer, inputs, targets, loss_fn):  # the lesson's steps, written for the test
        optimizer.zero_grad()
        loss = loss_fn(D(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss

    def g_step(G, D, optimizer, inputs, targets, loss_fn):
        optimizer.zero_grad()
        loss = loss_fn(D(G(inputs)), targets)
        loss.backward()
        optimizer.step()
        return loss

    set_seed(0)
    return train_gan1d(d_step, g_step, torch.rand, num_steps=100, lr=7e-4, progress=False)


def _gan_lab_strip():
    from test_gan_lab import make_lab  # lesson 2's steps, written for the tests

    from helpers.display.gan_lab import show_gan_lab

    return show_gan_lab(make_lab(target="ring", seed=0), live=False, steps=(0, 10, 20, 40))


def _filmstrip(frame, count: int = 12):
    from helpers.display.filmstrip import Filmstrip

    film = Filmstrip()
    for k in range(count):
        film.record(500 * k, frame)
    return film


def _figures():
    """Each figure the helpers draw, as the lessons draw them (their titles and sizes)."""
    from helpers.display.dashboards import cyclegan_figure, gan_figure
    from helpers.display.gan1d_figures import gan1d_figure, show_frames
    from helpers.display.plotting import show_image_rows

    digits = torch.rand(16, 784, generator=torch.Generator().manual_seed(2)) * 2 - 1
    rows = torch.rand(10, 8, 28, 28, generator=torch.Generator().manual_seed(3))
    horses = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    return {
        "lesson 3-4 dashboard": lambda: gan_figure(_GanTrainer()),
        "lesson 3-4 dashboard, step 0": lambda: gan_figure(_GanTrainer(0)),
        "lesson 5 dashboard": lambda: cyclegan_figure(_CycleTrainer(), title="horse2zebra stand-in:"),
        "lesson 5 panel": lambda: cyclegan_figure(
            _CycleTrainer(400), title="horse2zebra stand-in, λ_cyc 10, λ_id 0.5:"
        ),
        "lesson 2 1-D dashboard": lambda: gan1d_figure(_gan1d_run()),
        "lesson 2 1-D frames": lambda: show_frames(_gan1d_run()),
        "lesson 2 GAN lab, headless": _gan_lab_strip,
        "lesson 3 filmstrip": lambda: _filmstrip(digits).strip(
            lambda images, ax: show_images(images, nrow=4, ax=ax, value_range=(-1, 1)), title="DCGAN:"
        ),
        "lesson 4 filmstrip": lambda: _filmstrip(rows).strip(
            lambda grid, ax: show_image_rows(grid, row_labels=[str(k) for k in range(10)], ax=ax),
            figsize=(2.2, 4.6),
        ),
        "lesson 5 filmstrip": lambda: _filmstrip(horses).strip(
            lambda images, ax: show_images(images, nrow=len(images), ax=ax, value_range=(-1, 1)), figsize=(4.0, 1.6)
        ),
        "lesson 1 digits": lambda: show_images(torch.rand(32, 28, 28), nrow=16, title="some training digits"),
        "digit rows": lambda: show_image_rows(rows, row_labels=[str(k) for k in range(10)], title="G(z, label)"),
        "patterns": lambda: plot_patterns(torch.rand(6, 4), row_labels=[f"step {500 * k}" for k in range(6)]),
    }


@pytest.mark.parametrize("name", list(_figures()))
def test_every_figure_fits_the_notebook_column_with_its_text_apart(name):
    assert_fits_the_column(_figures()[name]())


def test_the_layout_check_sees_overlapping_and_cut_off_text():
    fig, (left, right) = plt.subplots(2, 1, figsize=(4, 3))  # no layout: the upper x label runs into the title below
    left.set_xlabel("step")
    right.set_title("discriminator losses")
    with pytest.raises(AssertionError, match="over each other"):
        assert_fits_the_column(fig)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.text(0.9, 0.5, "a label that runs off the right edge", transform=ax.transAxes)
    with pytest.raises(AssertionError, match="outside the figure"):
        assert_fits_the_column(fig)
    with pytest.raises(AssertionError, match="more than the column"):
        assert_fits_the_column(plt.figure(figsize=(14, 3)))


def test_figures_wider_than_the_column_are_shown_at_the_columns_width():
    """fit_figures_to_column wraps IPython's PNG printer (as the inline backend installs it): a 14-inch figure
    comes out at most COLUMN_PIXELS wide, a narrow one as before, and the figure keeps its own resolution."""
    import base64
    import io
    import types

    from IPython.core.formatters import DisplayFormatter
    from IPython.core.pylabtools import select_figure_formats
    from PIL import Image

    from helpers.display.plotting import COLUMN_PIXELS, fit_figures_to_column

    shell = types.SimpleNamespace(display_formatter=DisplayFormatter())
    select_figure_formats(shell, {"png"}, bbox_inches="tight")
    png = shell.display_formatter.formatters["image/png"]

    def shown_width(fig) -> int:
        data = png(fig)
        return Image.open(io.BytesIO(data if isinstance(data, bytes) else base64.b64decode(data))).width

    wide, narrow = plt.figure(figsize=(14, 3.4)), plt.figure(figsize=(6, 3))
    for fig in (wide, narrow):
        fig.add_subplot().set_title("a title")
    before = shown_width(wide), shown_width(narrow)
    assert before[0] > COLUMN_PIXELS  # the check below would prove nothing otherwise
    assert fit_figures_to_column(shell=shell) and fit_figures_to_column(shell=shell)  # a second call changes nothing
    assert COLUMN_PIXELS - 30 <= shown_width(wide) <= COLUMN_PIXELS
    assert shown_width(narrow) == before[1]
    assert wide.dpi == narrow.dpi == plt.rcParams["figure.dpi"]
    assert fit_figures_to_column(shell=types.SimpleNamespace()) is False  # not IPython: nothing to do


def _figure_widths(source: str) -> list[tuple[int, float]]:
    """(line, width) of every ``figsize=(width, height)`` with a number for its width in a cell's code."""
    import ast

    widths = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "figsize" and isinstance(node.value, ast.Tuple):
            width = node.value.elts[0]
            if isinstance(width, ast.Constant) and isinstance(width.value, (int, float)):
                widths.append((node.lineno, float(width.value)))
    return widths


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_lessons_own_figures_are_drawn_at_most_the_column_wide(lesson):
    # fit_figures_to_column shows a wider figure at a lower resolution: it fits, but its text shrinks below the
    # lesson's other figures'. A lesson draws its own at the column's width, as the helpers do.
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    from helpers.display.plotting import COLUMN_INCHES

    notebook = nbformat.read(solution_path(lesson), as_version=4)
    wide = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            code = TransformerManager().transform_cell(cell.source)  # magics and shell escapes become Python
            wide += [f"cell {index}, line {line}: figsize width {w:g}" for line, w in _figure_widths(code)
                     if w > COLUMN_INCHES]  # fmt: skip
    assert not wide, f"{lesson}: figures wider than the column's {COLUMN_INCHES} in: {wide}"
