"""Reference networks of lesson 3 (the *GANs in Action* MLP generator and discriminator), for the benchmarks and the
tests.

``helpers/`` never holds an exercise's answer: lesson 3's students write these two networks themselves
(``Generator``, ``Discriminator``). The benchmark scripts (``bench/``) and the unit tests pass these instead. This
folder is a developer tool: it is not part of the student bundle.
"""

from __future__ import annotations

import torch
from torch import nn


class MLPGenerator(nn.Module):
    """*GANs in Action* ch. 3 generator: z (latent_dim) → hidden, LeakyReLU(0.01) → 784, tanh.

    Input (N, latent_dim) standard-normal noise; output (N, 784) in [-1, 1] (a flattened 28×28 image).
    """

    def __init__(self, latent_dim: int = 100, hidden: int = 128, image_size: int = 784):
        super().__init__()
        self.latent_dim = latent_dim
        self.model = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, image_size), nn.Tanh()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


class MLPDiscriminator(nn.Module):
    """*GANs in Action* ch. 3 discriminator: 784 → hidden, LeakyReLU(0.01) → 1, sigmoid.

    Input (N, 784) or (N, 1, 28, 28) in [-1, 1]; output (N, 1), the probability that each image is real.
    """

    def __init__(self, hidden: int = 128, image_size: int = 784):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(image_size, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, 1), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], -1))
