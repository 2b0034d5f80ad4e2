"""helpers.display.filmstrip: the fixed-noise samples kept during training, for scrubbing through afterwards."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from helpers.display.filmstrip import Filmstrip
from helpers.display.plotting import COLUMN_INCHES, show_images


class FakeTrainer:
    def __init__(self):
        self.step, self.G = 0, torch.nn.Linear(2, 4)
        self.fixed_z = torch.randn(3, 2)

    def samples(self):
        return self.G(self.fixed_z)  # a graph-attached tensor: the filmstrip must detach it


def test_the_filmstrip_keeps_one_frame_per_log_detached_on_the_cpu():
    trainer, film = FakeTrainer(), Filmstrip()
    for step in (10, 20, 30):
        trainer.step = step
        film(trainer, False)
        with torch.no_grad():
            trainer.G.weight.add_(1.0)  # training moves G: later frames differ
    film(trainer, True)  # the final call at the same step adds nothing
    assert film.steps == [10, 20, 30] and len(film) == 3
    assert all(not f.requires_grad and f.device.type == "cpu" for f in film.frames)
    assert not torch.equal(film.frames[0], film.frames[1])  # a copy per log, not one tensor changed in place


def test_a_long_run_is_thinned_but_keeps_the_first_and_the_newest_frame():
    film = Filmstrip(max_frames=10)
    for step in range(1, 101):
        film.record(step, torch.full((1, 4), float(step)))
    assert len(film) <= 10 and film.steps[0] == 1 and film.steps[-1] == 100
    assert film.steps == sorted(film.steps)
    assert all(float(f[0, 0]) == s for s, f in zip(film.steps, film.frames))  # frames stay with their steps
    gaps = [b - a for a, b in zip(film.steps, film.steps[1:])]
    assert len(set(gaps[:-1])) == 1 and gaps[-1] <= gaps[0]  # evenly spread over the run (the newest log aside)
    assert len(film) >= 6  # thinning halves at most: the run is not reduced to a handful of frames


def test_a_strip_draws_evenly_spaced_frames_titled_with_their_steps():
    film = Filmstrip()
    for step in range(0, 1000, 100):
        film.record(step, torch.rand(4, 784) * 2 - 1)
    fig = film.show(lambda f, ax: show_images(f, nrow=2, ax=ax, value_range=(-1, 1)), live=False, strip=4)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["step 0", "step 300", "step 600", "step 900"]


def test_the_live_player_has_a_slider_over_every_frame_and_a_play_button():
    import ipywidgets as widgets

    film = Filmstrip()
    for step in (5, 10, 15):
        film.record(step, torch.rand(2, 784))
    box = film.show(lambda f, ax: show_images(f, nrow=2, ax=ax), live=True)
    play, slider = box.children[0].children
    assert isinstance(play, widgets.Play) and isinstance(slider, widgets.IntSlider)
    assert (slider.min, slider.max, slider.value) == (0, 2, 2)  # opens on the newest frame


def test_an_empty_filmstrip_says_how_to_fill_it():
    with pytest.raises(ValueError, match="callback"):
        Filmstrip().show(lambda f, ax: None, live=False)


def test_a_gan_trainer_feeds_the_filmstrip_beside_another_callback():
    from test_gan import trainer

    gan, film, logs = trainer(log_every=5), Filmstrip(), []
    gan.train(20, progress=False, callback=[lambda t, final: logs.append((t.step, final)), film])
    assert logs == [(5, False), (10, False), (15, False), (20, False), (20, True)]
    assert film.steps == [5, 10, 15, 20]
    assert torch.equal(film.frames[-1], gan.samples())  # the fixed-noise grid at the last step
    assert not torch.equal(film.frames[0], film.frames[-1])  # G moved between the first and the last log


def test_the_engine_calls_every_callback_of_a_list():
    from helpers.training.loop import combine_callbacks as _all

    calls = []
    both = _all([lambda t, final: calls.append(("a", final)), None, lambda t, final: calls.append(("b", final))])
    both(object(), True)
    assert calls == [("a", True), ("b", True)]
    with pytest.raises(TypeError, match="list"):
        _all([42])


def test_a_strip_of_wide_frames_wraps_into_rows_as_wide_as_the_column():
    """Six 3.4-inch frames do not shrink to a 10-inch row of six: two rows of three, each frame at least 80 % of its
    size; the title loses its trailing punctuation, which was for the live player's "title, step N"."""
    film = Filmstrip()
    for step in range(0, 600, 100):
        film.record(step, torch.rand(4, 784) * 2 - 1)
    fig = film.show(
        lambda f, ax: show_images(f, nrow=4, ax=ax, value_range=(-1, 1)),
        live=False,
        title="1-D GAN:",
        figsize=(3.4, 2.8),
    )
    width, height = fig.get_size_inches()
    assert len(fig.axes) == 6 and width <= COLUMN_INCHES and width / 3 >= 0.8 * 3.4
    rows = sorted({round(ax.get_position().y0, 2) for ax in fig.axes})
    assert len(rows) == 2, f"frames at {len(rows)} heights: expected two rows of three"
    assert fig._suptitle.get_text() == "1-D GAN"
