"""The 1-D GAN's two networks (lesson 2, Goodfellow et al.'s Figure 1): a few thousand weights, trained on the CPU
by :func:`helpers.training.gan1d.train_gan1d`."""

from __future__ import annotations

import torch
from torch import nn


def _mlp(last: nn.Module | None, hidden: int) -> nn.Sequential:
    layers = [
        nn.Linear(1, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1),
    ]
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
