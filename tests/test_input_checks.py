"""helpers.checks.cgan_inputs: lesson 4's input checks pass every correct answer of the catalogue and name each mistake.

The catalogue (tests/catalogue/c04_cgan.py) holds independently written answers; here they run against the checks
directly, over the shapes the hidden tests use, without nbgrader (tests/test_autograder.py runs them through it).
"""

import re

import pytest
import torch

from helpers.checks.cgan_inputs import (
    check_discriminator_input,
    check_generator_input,
    check_labels,
    check_sample_labels,
)
from helpers.checks.core import GradingError
from tests.course import load_catalogue

EXERCISES = load_catalogue("04_cgan").EXERCISES
GENERATOR_SHAPES = [(4, 100, 10, 10), (1, 100, 10, 10), (7, 2, 10, 10), (5, 16, 5, 3), (12, 8, 3, 20)]
IMAGE_SHAPES = [
    ((4, 784), 10, 10),
    ((4, 1, 28, 28), 10, 10),
    ((9, 28, 28), 10, 10),
    ((5, 3, 8, 8), 10, 10),
    ((6, 20), 4, 7),
    ((3, 2, 5, 5), 10, 1),
]


def answer(exercise, source):
    namespace = {"torch": torch}
    exec(source, namespace)
    return namespace[exercise]


def run_checks(exercise, fn, seed):
    if exercise == "generator_input":
        for shape in GENERATOR_SHAPES:
            check_generator_input(fn, *shape, seed=seed)
    elif exercise == "discriminator_input":
        for image_shape, classes, width in IMAGE_SHAPES:
            check_discriminator_input(fn, image_shape, classes, width, seed=seed)
    else:
        torch.manual_seed(seed)
        check_sample_labels(fn, "meta")  # a device that is not the default one
        for batch_size, classes in [(1, 10), (10, 1), (50_000, 10), (30_000, 7), (2_000, 2)]:
            check_labels(fn(batch_size, classes), f"sample_labels({batch_size}, {classes})", batch_size, classes)


CHECKED = ("generator_input", "discriminator_input", "sample_labels")
CASES = [(exercise, name) for exercise in CHECKED for name in EXERCISES[exercise]["correct"]]


@pytest.mark.parametrize("exercise, name", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_correct_answers_pass(exercise, name, seed):
    run_checks(exercise, answer(exercise, EXERCISES[exercise]["correct"][name]), seed)


MISTAKES = [(exercise, name) for exercise in CHECKED for name in EXERCISES[exercise]["mistakes"]]


@pytest.mark.parametrize("exercise, name", MISTAKES)
def test_each_mistake_is_named(exercise, name):
    phrase, source = EXERCISES[exercise]["mistakes"][name]
    with pytest.raises(GradingError, match=re.escape(phrase)):
        run_checks(exercise, answer(exercise, source), seed=0)
