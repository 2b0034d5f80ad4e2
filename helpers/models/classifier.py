"""Lesson 1: Rashid's sigmoid MNIST classifier, the network the lesson runs backwards.

A plain ``nn.Module``: train it with an optimizer and a loss outside the class.
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
