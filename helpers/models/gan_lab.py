"""The two small networks of lesson 2's 2-D GAN lab (:mod:`helpers.training.gan_lab`): ReLU MLPs with two hidden
layers, the size of the ring-of-8-Gaussians experiments (Metz et al. 2017 use 128 units), trained on the CPU."""

from __future__ import annotations

import torch
from torch import nn


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, outputs)
    )


class LabGenerator(nn.Module):
    """``z`` of shape (N, noise_dim), standard normal -> a point in the plane, shape (N, 2)."""

    def __init__(self, noise_dim: int = 2, hidden: int = 128):
        super().__init__()
        self.noise_dim = noise_dim
        self.model = _mlp(noise_dim, hidden, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


class LabDiscriminator(nn.Module):
    """A point ``x`` of shape (N, 2) -> the probability that it is real, shape (N, 1) in (0, 1) (a sigmoid last, as
    lesson 2's discriminators: the student's steps use BCE or MSE on it)."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        self.model = nn.Sequential(_mlp(2, hidden, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
