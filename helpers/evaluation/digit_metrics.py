"""Quality of generated digits, judged by a small MNIST classifier shipped with the course.

No download is needed (FID's Inception weights are not reachable offline): the evaluator is
a 2-layer CNN trained by ``scripts/train_evaluator.py``; its held-out accuracy is recorded
in ``helpers/assets/mnist_evaluator.json``.

- :func:`digit_frechet_distance` -- like FID, on the evaluator's 64 penultimate features:
  lower is better, 0 for identical feature statistics;
- :func:`mode_coverage` -- which of the 10 digits a batch of samples contains;
- :func:`label_accuracy` -- for a conditional GAN: how often the evaluator reads the digit G was asked for.

Images are (N, 784), (N, 28, 28) or (N, 1, 28, 28), values in [-1, 1] (a tanh generator's range).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

EVALUATOR_PATH = Path(__file__).resolve().parents[1] / "assets" / "mnist_evaluator.pt"
FEATURES = 64


class EvaluatorNet(nn.Module):
    """conv 5×5 (16) → pool → conv 5×5 (32) → pool → 64 features → 10 logits. Input (N, 1, 28, 28) in [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 16 × 12 × 12
            nn.Conv2d(16, 32, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 32 × 4 × 4
            nn.Flatten(),
            nn.Linear(512, FEATURES),
            nn.ReLU(),
        )
        self.head = nn.Linear(FEATURES, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@lru_cache(maxsize=4)
def _evaluator(device: str) -> EvaluatorNet:
    if not EVALUATOR_PATH.exists():
        raise FileNotFoundError(
            f"The evaluator weights are missing ({EVALUATOR_PATH}). Reinstall the course, or run "
            f"`python scripts/train_evaluator.py` to train them (a minute on a CPU)."
        )
    net = EvaluatorNet()
    net.load_state_dict(torch.load(EVALUATOR_PATH, map_location="cpu", weights_only=True))
    return net.eval().to(device)


def evaluator(device: torch.device | str = "cpu") -> EvaluatorNet:
    """The trained evaluator, in eval mode, on ``device`` (loaded once per device)."""
    return _evaluator(str(torch.device(device)))


def evaluator_info() -> dict:
    """What ``scripts/train_evaluator.py`` recorded: test accuracy, data source, size."""
    return json.loads(EVALUATOR_PATH.with_suffix(".json").read_text())


def _as_images(images: torch.Tensor) -> torch.Tensor:
    images = images.detach().float()
    if images.dim() == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 1, 28, 28)
    elif images.dim() == 3 and images.shape[1:] == (28, 28):
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(
            f"expected MNIST-sized images (N, 784), (N, 28, 28) or (N, 1, 28, 28), got {tuple(images.shape)}"
        )
    return images


@torch.no_grad()
def _run(images: torch.Tensor, what: str, batch_size: int = 1000) -> torch.Tensor:
    images = _as_images(images)
    net = evaluator(images.device)
    fn = net.features if what == "features" else net
    return torch.cat([fn(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]).cpu()


def features(images: torch.Tensor) -> torch.Tensor:
    """The evaluator's (N, 64) penultimate features, on the CPU."""
    return _run(images, "features")


def predict(images: torch.Tensor) -> torch.Tensor:
    """The evaluator's predicted digit for each image, (N,) int64 on the CPU."""
    return _run(images, "logits").argmax(dim=1)


def _sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """‖μa − μb‖² + tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½) between Gaussians fitted to two feature sets."""
    a, b = features_a.double(), features_b.double()
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least 2 samples on each side")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    root_a = _sqrtm_psd(cov_a)
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross)


def digit_frechet_distance(generated: torch.Tensor, real: torch.Tensor) -> float:
    """Fréchet distance between evaluator features of generated and real digits (lower is better).

    Use at least a few hundred images on each side: the estimate is biased upwards for small sets.
    """
    return frechet_distance(features(generated), features(real))


@dataclass
class Coverage:
    """How a batch of samples spreads over the 10 digits."""

    counts: list[int]
    covered: int
    threshold: int

    def __str__(self) -> str:
        return f"{self.covered}/10 digits (counts {self.counts})"


def mode_coverage(images: torch.Tensor, *, min_share: float = 0.1) -> Coverage:
    """Histogram of predicted digits; a digit is *covered* when it gets at least ``min_share``
    of its fair share (N/10) of the samples, so a stray misclassification does not count."""
    counts = torch.bincount(predict(images), minlength=10)
    threshold = max(1, int(min_share * len(images) / 10))
    return Coverage(counts.tolist(), int((counts >= threshold).sum()), threshold)


def label_accuracy(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of images that the evaluator reads as the digit in ``labels``."""
    return float((predict(images) == labels.detach().cpu()).float().mean())
