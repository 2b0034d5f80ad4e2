"""The 1-D GAN of lesson 2: shapes, the callback protocol, the kept frames, and that it really settles at D = 1/2."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers.device import set_seed  # noqa: E402
from helpers.display.gan1d_figures import gan1d_figure, show_frames  # noqa: E402
from helpers.models.gan1d import Discriminator1d, Generator1d  # noqa: E402
from helpers.training.gan1d import DATA_MEAN, DATA_STD, data_density, train_gan1d  # noqa: E402


def d_step(D, optimizer, inputs, targets, loss_fn):  # the lesson's step functions, written for the test
    optimizer.zero_grad()
    loss = loss_fn(D(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.item()


def g_step(G, D, optimizer, inputs, targets, loss_fn):
    optimizer.zero_grad()
    loss = loss_fn(D(G(inputs)), targets)
    loss.backward()
    optimizer.step()
    return loss.item()


def test_networks_map_a_batch_of_numbers_to_a_batch_of_numbers():
    set_seed(0)
    z = torch.rand(7, 1)
    x = Generator1d()(z)
    assert x.shape == (7, 1)
    d = Discriminator1d()(x)
    assert d.shape == (7, 1) and ((d > 0) & (d < 1)).all()


def test_data_density_integrates_to_one():
    x = torch.linspace(-3, 7, 10_001)
    assert torch.trapezoid(data_density(x), x).item() == pytest.approx(1.0, abs=1e-4)
    assert data_density(torch.tensor(DATA_MEAN)).item() == pytest.approx(1 / (DATA_STD * (2 * torch.pi) ** 0.5))


def test_a_short_run_calls_back_keeps_its_frames_and_uses_the_given_noise():
    calls, noise_sizes = [], []

    def noise(size):
        noise_sizes.append(size)
        return torch.rand(size)

    set_seed(0)
    run = train_gan1d(
        d_step,
        g_step,
        noise,
        num_steps=50,
        lr=1e-3,
        batch_size=32,
        callback=lambda r, final: calls.append((r.step, final)),
        snapshots=(0.1, 1.0),
        progress=False,
    )
    assert run.step == 50 and calls[-1] == (50, True) and sum(final for _, final in calls) == 1
    assert [frame["step"] for frame in run.frames] == [5, 50]
    assert set(run.history.names) == {"D", "G"}
    assert noise_sizes and set(noise_sizes) <= {32, 4000}, noise_sizes
    frame = run.frames[-1]
    assert frame["x"].shape == frame["D"].shape == (400,) and frame["fakes"].shape == (4000,)
    low, high = run.d_range()
    assert 0 < low <= high < 1
    figures = [gan1d_figure(run), show_frames(run)]
    assert all(len(fig.axes) >= 2 for fig in figures)
    for fig in figures:
        plt.close(fig)


def test_the_lesson_run_puts_p_g_on_p_data_and_flattens_d_to_one_half():
    # the quick profile's settings (about 5 s on one core)
    set_seed(0)
    run = train_gan1d(d_step, g_step, torch.rand, num_steps=1500, lr=7e-4, progress=False)
    mean, std = run.fake_stats()
    assert abs(mean - DATA_MEAN) < 0.15 and 0.5 * DATA_STD < std < 1.5 * DATA_STD, (mean, std)
    low, high = run.d_range()
    assert 0.45 < low and high < 0.56, (low, high)
    first = run.frames[0]
    assert first["D"].max() - first["D"].min() > 0.5, "early on D should still tell the two apart"
