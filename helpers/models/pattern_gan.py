"""Lesson 2: the 1010 simple-pattern GAN's networks (D 4 -> 3 -> 1, G 1 -> 3 -> 4).

Plain ``nn.Module``s: train them with an optimizer and a loss outside the class.
"""

from __future__ import annotations

import torch
from torch import nn


class PatternDiscriminator(nn.Module):
    """Rashid's 1010 discriminator: 4 -> 3 -> 1, sigmoid after each layer.

    Input: (4,) or (N, 4). Output: (1,) or (N, 1), the probability that the input is real.
    """

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PatternGenerator(nn.Module):
    """Rashid's 1010 generator: 1 -> 3 -> 4, sigmoid after each layer.

    Input: (1,) or (N, 1), a number in [0, 1]. Output: (4,) or (N, 4) in (0, 1).
    """

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(1, 3), nn.Sigmoid(), nn.Linear(3, 4), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)
