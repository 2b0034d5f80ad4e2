"""helpers.checks.distributions: normal noise passes on every draw we try; look-alikes with the same mean and standard
deviation fail, with the band that gives them away."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.checks.core import GradingError
from helpers.checks.distributions import check_standard_normal, chi_square_critical

N = 400_000  # what lesson 3's hidden test draws (100,000 x 4)


def test_the_critical_value_matches_the_chi_square_table():
    # chi-square quantiles (SciPy's chi2.isf): 17 degrees of freedom at 1e-3 and 1e-6
    assert chi_square_critical(17, 1e-3) == pytest.approx(40.79, rel=0.02)
    assert chi_square_critical(17, 1e-6) == pytest.approx(60.13, rel=0.02)  # a little above: errs towards passing


def test_standard_normal_samples_pass_on_many_draws():
    generator = torch.Generator().manual_seed(0)
    for _ in range(30):  # 30 gradings; at 1e-6 a failure here would be a bug, not bad luck
        check_standard_normal(torch.randn(N, generator=generator), name="z")
    check_standard_normal(torch.randn(100_000, 4, dtype=torch.float64, generator=generator), name="z")


@pytest.mark.parametrize(
    ("look_alike", "band"),
    [
        (lambda g: torch.rand(N, 12, generator=g).sum(1) - 6, "σ"),  # bounded, light tails
        (lambda g: (torch.rand(N, generator=g) - 0.5) * math.sqrt(12), "σ"),  # uniform with variance 1
        (lambda g: torch.distributions.Laplace(0.0, 1 / math.sqrt(2)).sample((N,)), "σ"),  # heavy tails
        (lambda g: torch.distributions.StudentT(30.0).sample((N,)) / math.sqrt(30 / 28), "σ"),
        (lambda g: torch.randn(N, generator=g) * 1.05, "σ"),  # a 5 % wider normal
    ],
    ids=["twelve uniforms", "uniform", "laplace", "student-t 30", "std 1.05"],
)
def test_look_alikes_with_mean_0_and_std_1_fail_naming_a_band(look_alike, band):
    torch.manual_seed(1)
    samples = look_alike(torch.Generator().manual_seed(1))
    assert abs(samples.mean()) < 0.01 and abs(samples.std() - 1) < 0.06  # the moments alone would not tell
    with pytest.raises(GradingError, match=rf"is not standard normal: .* % of the values lie .*{band}"):
        check_standard_normal(samples, name="z")


def test_too_few_or_non_finite_values_are_named():
    with pytest.raises(GradingError, match="too few"):
        check_standard_normal(torch.randn(1000), name="z")
    bad = torch.randn(N)
    bad[7] = float("nan")
    with pytest.raises(GradingError, match="NaN"):
        check_standard_normal(bad, name="z")
