"""The 1-D GAN of Goodfellow et al. (2014), Figure 1, trained with the lesson's own step functions (lesson 2).

The data's density ``p_data`` is a Gaussian; G maps ``z`` uniform in [0, 1) to one number. The lesson passes in its
``train_discriminator``, ``train_generator`` and ``generate_random`` (the student's answers); this module holds the
data and the loop, never a training step. Everything runs on the CPU: the networks
(:mod:`helpers.models.gan1d`) have a few thousand weights. The pictures are in :mod:`helpers.display.gan1d_figures`.

- :class:`Gan1d`: one run's state (G, D, loss history, step), what callbacks and figures read;
- :func:`train_gan1d`: trains a fresh pair, calling ``callback(run, final)`` as every loop of the course does
  (:class:`helpers.display.dashboards.Dashboard`, :class:`helpers.display.filmstrip.Filmstrip`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from helpers.models.gan1d import Discriminator1d, Generator1d
from helpers.training.loop import History, run_steps

DATA_MEAN, DATA_STD = 2.0, 0.5
"""p_data = N(2, 0.5²). G starts near 0, so the two densities begin almost apart."""


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
        return {
            "x": x.flatten(),
            "D": self.D(x).flatten(),
            "fakes": self.G(z).flatten(),
            "mean": self.mean,
            "std": self.std,
            "step": self.step,
        }

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


def train_gan1d(
    train_discriminator: Callable,
    train_generator: Callable,
    generate_random: Callable[[int], torch.Tensor],
    *,
    num_steps: int,
    lr: float,
    batch_size: int = 256,
    callback: Callable | Sequence[Callable] = (),
    snapshots: Sequence[float] = (0.02, 0.1, 0.33, 1.0),
    progress: bool = True,
) -> Gan1d:
    """Train a fresh G and D on N(2, 0.5²) with the lesson's step functions; returns the :class:`Gan1d`.

    Each step is the lesson's loop on a batch: ``train_discriminator`` on real samples (target 1) and on detached
    fakes (target 0), then ``train_generator`` (target 1), all with ``nn.BCELoss()``. Adam (betas 0.5, 0.999) with
    a learning rate that falls linearly from ``lr`` to 0, so the end of the run settles instead of oscillating.
    Seed first (``set_seed``) for a reproducible run.

    Args:
        callback: ``callback(run, final)`` or a list of them (a live :class:`helpers.display.dashboards.Dashboard`),
            called every 1 % of the run and once at the end.
        snapshots: fractions of ``num_steps`` after which :meth:`Gan1d.frame` is kept in ``run.frames``.
    """
    run = Gan1d(Generator1d(), Discriminator1d(), generate_random)
    optimizer_D = torch.optim.Adam(run.D.parameters(), lr=lr, betas=(0.5, 0.999))
    optimizer_G = torch.optim.Adam(run.G.parameters(), lr=lr, betas=(0.5, 0.999))
    schedules = [
        torch.optim.lr_scheduler.LambdaLR(o, lambda step: 1 - step / num_steps) for o in (optimizer_D, optimizer_G)
    ]
    loss_fn, real, fake = nn.BCELoss(), torch.ones(batch_size, 1), torch.zeros(batch_size, 1)
    snapshot_steps = {max(1, round(f * num_steps)) for f in snapshots}

    def gan_step(step: int) -> dict[str, float]:
        loss_real = train_discriminator(run.D, optimizer_D, run.sample_real(batch_size), real, loss_fn)
        loss_fake = train_discriminator(run.D, optimizer_D, run.G(run.sample_z(batch_size)).detach(), fake, loss_fn)
        loss_G = train_generator(run.G, run.D, optimizer_G, run.sample_z(batch_size), real, loss_fn)
        for schedule in schedules:
            schedule.step()
        if step + 1 in snapshot_steps:
            run.step = step + 1
            run.frames.append(run.frame())
        return {"D": (loss_real + loss_fake) / 2, "G": loss_G}

    run_steps(
        gan_step,
        num_steps,
        log_every=10,
        callback=callback,
        callback_every=max(1, num_steps // 100),
        desc="1-D GAN",
        progress=progress,
        history=run.history,
        run=run,
    )
    return run
