"""Unit tests for helpers.display.plotting: image grids, pattern heat maps, loss curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
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
