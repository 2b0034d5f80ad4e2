"""The 1-D GAN of Goodfellow et al. (2014), Figure 1, trained with the lesson's own step functions (lesson 2).

On one axis: the data's density ``p_data`` (a Gaussian), the density of G's outputs ``p_g`` (a histogram of
``G(z)`` for ``z`` uniform in [0, 1)) and the discriminator's ``D(x)``. As ``p_g`` moves onto ``p_data``, D
flattens towards 1/2.

The lesson passes in its ``train_discriminator``, ``train_generator`` and ``generate_random`` (the student's
answers); this module holds the data, the networks, the loop and the pictures, never a training step. Everything
runs on the CPU: the networks have a few thousand weights.

- :class:`Gan1d`: one run's state (G, D, loss history, step), what callbacks and figures read;
- :func:`train_gan1d`: trains a fresh pair, calling ``callback(run, final)`` as the trainers do
  (:class:`helpers.dashboards.Dashboard`, :class:`helpers.filmstrip.Filmstrip`);
- :func:`draw_frame`, :func:`show_frames`, :func:`gan1d_figure`: Goodfellow's picture, the kept frames side by side
  (what an automated run shows), and the live dashboard (the picture beside the loss curves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from .plotting import plot_history
from .training import History, combine_callbacks, run_steps

DATA_MEAN, DATA_STD = 2.0, 0.5
"""p_data = N(2, 0.5²). G starts near 0, so the two densities begin almost apart."""


def _mlp(last: nn.Module | None, hidden: int) -> nn.Sequential:
    layers = [nn.Linear(1, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)]
    return nn.Sequential(*layers, *([last] if last is not None else []))


class Generator1d(nn.Module):
    """``z`` of shape (N, 1), uniform in [0, 1) -> ``x`` of shape (N, 1), any real number. 1 -> 32 -> 32 -> 1."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.model = _mlp(None, hidden)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


class Discriminator1d(nn.Module):
    """``x`` of shape (N, 1) -> the probability that it is real, shape (N, 1) in (0, 1). 1 -> 64 -> 64 -> 1."""

    def __init__(self, hidden: int = 64):
        super().__init__()
        self.model = _mlp(nn.Sigmoid(), hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def data_density(x: torch.Tensor, mean: float = DATA_MEAN, std: float = DATA_STD) -> torch.Tensor:
    """The Gaussian density N(mean, std²) at ``x`` (any shape, float)."""
    return torch.distributions.Normal(mean, std).log_prob(x).exp()


@dataclass
class Gan1d:
    """One 1-D GAN run: what a callback (``callback(run, final)``) and the figures read.

    ``step`` counts the finished training steps; ``history`` holds ``D`` (the mean of D's two BCE terms) and ``G``
    (G's BCE against the target "real", ``-log D(G(z))``); ``frames`` the :meth:`frame` kept at the snapshot steps.
    """

    G: Generator1d
    D: Discriminator1d
    generate_random: Callable[[int], torch.Tensor]
    history: History = field(default_factory=History)
    step: int = 0
    frames: list[dict[str, Any]] = field(default_factory=list)
    mean: float = DATA_MEAN
    std: float = DATA_STD

    def sample_real(self, n: int) -> torch.Tensor:
        """``n`` real samples, shape (n, 1), from N(mean, std²)."""
        return self.mean + self.std * torch.randn(n, 1)

    def sample_z(self, n: int) -> torch.Tensor:
        """``n`` latent vectors from the lesson's ``generate_random``, shape (n, 1)."""
        return self.generate_random(n).reshape(n, 1).float()

    def axis(self, num: int = 400) -> torch.Tensor:
        """The x values drawn, shape (num, 1): from G's starting place near 0 to beyond the data."""
        return torch.linspace(min(-1.0, self.mean - 6 * self.std), self.mean + 4 * self.std, num).reshape(num, 1)

    @torch.no_grad()
    def frame(self, num_samples: int = 4000, z: torch.Tensor | None = None) -> dict[str, Any]:
        """A picture of the run now (CPU tensors): ``x`` (num,), ``D(x)`` (num,), G's samples (num_samples,).

        ``z`` (n, 1): draw G's samples from these latent values (the same in every frame of a filmstrip, and no
        draw from the random stream that training uses) instead of ``num_samples`` fresh ones.
        """
        x = self.axis()
        z = self.sample_z(num_samples) if z is None else z
        return {"x": x.flatten(), "D": self.D(x).flatten(), "fakes": self.G(z).flatten(),
                "mean": self.mean, "std": self.std, "step": self.step}

    @torch.no_grad()
    def d_range(self, num_std: float = 2.0) -> tuple[float, float]:
        """The smallest and largest D(x) for x within ``num_std`` standard deviations of the data's mean."""
        x = torch.linspace(self.mean - num_std * self.std, self.mean + num_std * self.std, 201).reshape(-1, 1)
        d = self.D(x)
        return d.min().item(), d.max().item()

    @torch.no_grad()
    def fake_stats(self, n: int = 20_000) -> tuple[float, float]:
        """Mean and standard deviation of ``n`` of G's outputs (compare with ``mean`` and ``std``)."""
        fakes = self.G(self.sample_z(n))
        return fakes.mean().item(), fakes.std().item()


def train_gan1d(train_discriminator: Callable, train_generator: Callable, generate_random: Callable[[int], torch.Tensor],
                *, num_steps: int, lr: float, batch_size: int = 256, callback: Callable | Sequence[Callable] = (),
                snapshots: Sequence[float] = (0.02, 0.1, 0.33, 1.0), progress: bool = True) -> Gan1d:
    """Train a fresh G and D on N(2, 0.5²) with the lesson's step functions; returns the :class:`Gan1d`.

    Each step is the lesson's loop on a batch: ``train_discriminator`` on real samples (target 1) and on detached
    fakes (target 0), then ``train_generator`` (target 1), all with ``nn.BCELoss()``. Adam (betas 0.5, 0.999) with
    a learning rate that falls linearly from ``lr`` to 0, so the end of the run settles instead of oscillating.
    Seed first (``set_seed``) for a reproducible run.

    Args:
        callback: ``callback(run, final)`` or a list of them (a live :class:`helpers.dashboards.Dashboard`), called
            every 1 % of the run and once at the end.
        snapshots: fractions of ``num_steps`` after which :meth:`Gan1d.frame` is kept in ``run.frames``.
    """
    run = Gan1d(Generator1d(), Discriminator1d(), generate_random)
    optimizer_D = torch.optim.Adam(run.D.parameters(), lr=lr, betas=(0.5, 0.999))
    optimizer_G = torch.optim.Adam(run.G.parameters(), lr=lr, betas=(0.5, 0.999))
    schedules = [torch.optim.lr_scheduler.LambdaLR(o, lambda step: 1 - step / num_steps) for o in (optimizer_D, optimizer_G)]
    loss_fn, real, fake = nn.BCELoss(), torch.ones(batch_size, 1), torch.zeros(batch_size, 1)
    callback = combine_callbacks(callback)
    snapshot_steps = {max(1, round(f * num_steps)) for f in snapshots}
    every = max(1, num_steps // 100)

    def gan_step(step: int) -> dict[str, float]:
        loss_real = train_discriminator(run.D, optimizer_D, run.sample_real(batch_size), real, loss_fn)
        loss_fake = train_discriminator(run.D, optimizer_D, run.G(run.sample_z(batch_size)).detach(), fake, loss_fn)
        loss_G = train_generator(run.G, run.D, optimizer_G, run.sample_z(batch_size), real, loss_fn)
        for schedule in schedules:
            schedule.step()
        return {"D": (loss_real + loss_fake) / 2, "G": loss_G}

    def report(step: int, history: History) -> None:
        run.step = step + 1
        if run.step in snapshot_steps:
            run.frames.append(run.frame())
        if run.step % every == 0 or run.step == num_steps:
            callback(run, final=run.step == num_steps)

    run_steps(gan_step, num_steps, log_every=10, callback=report, callback_every=1, desc="1-D GAN", progress=progress,
              history=run.history)
    return run


def draw_frame(frame: dict[str, Any], ax) -> None:
    """Goodfellow et al.'s Figure 1 on ``ax``: p_data (black dots), p_g (green histogram), D(x) (blue dashes)."""
    x = frame["x"]
    ax.plot(x, data_density(x, frame["mean"], frame["std"]), "k:", linewidth=2, label="p_data")
    ax.hist(frame["fakes"].clamp(x[0].item(), x[-1].item()), bins=60, range=(x[0].item(), x[-1].item()),
            density=True, color="tab:green", alpha=0.5, label="p_g (G's outputs)")
    ax.plot(x, frame["D"], "--", color="tab:blue", linewidth=2, label="D(x)")
    ax.axhline(0.5, color="gray", linewidth=0.5)
    ax.set_xlim(x[0].item(), x[-1].item())
    ax.set_ylim(0, 1.4)
    ax.set_xlabel("x")
    ax.legend(loc="upper left", fontsize=7)


def gan1d_figure(run: Gan1d):
    """The live dashboard: :func:`draw_frame` of the run now, beside the loss curves with ln 2 marked (closed)."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    draw_frame(run.frame(), left)
    low, high = run.d_range()
    left.set_title(f"step {run.step}: D(x) from {low:.2f} to {high:.2f} where the data lie")
    if len(run.history):
        plot_history(run.history, ax=right, smooth=20, reference={"ln 2": math.log(2)}, title="losses (BCE)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def show_frames(run: Gan1d, *, panel_size: tuple[float, float] = (3.4, 2.8)):
    """The kept frames side by side, as in Goodfellow et al.'s Figure 1 (a)-(d); returns the figure (not shown)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(run.frames), figsize=(panel_size[0] * len(run.frames), panel_size[1]), squeeze=False)
    for ax, frame in zip(axes[0], run.frames):
        draw_frame(frame, ax)
        ax.set_title(f"after step {frame['step']}")
    fig.tight_layout()
    return fig
