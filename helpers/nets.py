"""The small networks the lessons train.

They are plain ``nn.Module``s: train them with an optimizer and a loss outside
the class (never by overriding ``train()``, which PyTorch uses to switch
between training and evaluation mode).
"""

from __future__ import annotations

import torch
from torch import nn


class SigmoidClassifier(nn.Module):
    """Rashid's MNIST classifier: 784 -> hidden -> 10, sigmoid after each layer, no biases.

    The two layers are exposed as ``self.hidden`` (``nn.Linear(784, hidden_size, bias=False)``)
    and ``self.output`` (``nn.Linear(hidden_size, 10, bias=False)``) so the network can be
    run backwards through their weights.

    Input: (N, 784) or (N, 28, 28) pixels in [0.01, 1.0]. Output: (N, 10) in (0, 1).
    """

    def __init__(self, hidden_size: int = 200, num_inputs: int = 784, num_classes: int = 10):
        super().__init__()
        if hidden_size < 1:
            raise ValueError(f"hidden_size must be at least 1, got {hidden_size}")
        self.hidden = nn.Linear(num_inputs, hidden_size, bias=False)
        self.output = nn.Linear(hidden_size, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        return torch.sigmoid(self.output(torch.sigmoid(self.hidden(x))))


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


class MLPGenerator(nn.Module):
    """*GANs in Action* ch. 3 generator: z (latent_dim) → hidden, LeakyReLU(0.01) → 784, tanh.

    Input (N, latent_dim) standard-normal noise; output (N, 784) in [-1, 1] (a flattened 28×28 image).
    """

    def __init__(self, latent_dim: int = 100, hidden: int = 128, image_size: int = 784):
        super().__init__()
        self.latent_dim = latent_dim
        self.model = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, image_size), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


class MLPDiscriminator(nn.Module):
    """*GANs in Action* ch. 3 discriminator: 784 → hidden, LeakyReLU(0.01) → 1, sigmoid.

    Input (N, 784) or (N, 1, 28, 28) in [-1, 1]; output (N, 1), the probability that each image is real.
    """

    def __init__(self, hidden: int = 128, image_size: int = 784):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(image_size, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], -1))
