"""Checks that a student's random numbers follow the distribution an exercise asks for (lesson 3's noise).

Moments alone do not tell a distribution: a sum of twelve uniforms minus six has mean 0 and standard deviation 1 and
is bounded; a scaled Student-t has them too and heavier tails. :func:`check_standard_normal` adds a chi-square
goodness-of-fit test over bands of the normal (tails included, where the look-alikes differ most), at a false-failure
rate the caller states: a correct sampler fails it on an unlucky draw with that probability, no more.
"""

from __future__ import annotations

import math

import torch

from helpers.checks.core import GradingError

# bands of the standard normal, in standard deviations: the outer ones are where look-alikes give themselves away
_EDGES = torch.tensor([-4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4], dtype=torch.float64)


def _normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.special.erf(x / math.sqrt(2)))


def chi_square_critical(degrees: int, false_failure: float) -> float:
    """The chi-square value exceeded with probability ``false_failure`` (Wilson-Hilferty, a few % accurate here)."""
    # the normal quantile of 1 - false_failure, by bisection on erfc (no SciPy needed)
    low, high = 0.0, 40.0
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if 0.5 * math.erfc(mid / math.sqrt(2)) > false_failure else (low, mid)
    z, k = (low + high) / 2, degrees
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


def check_standard_normal(samples: torch.Tensor, *, name: str, false_failure: float = 1e-6) -> None:
    """Check that ``samples`` (any shape, at least 100,000 values) look drawn from N(0, 1).

    Counts the values in 18 bands of the normal (below -4σ, every half σ, above 4σ) and compares them with the
    expected counts (chi-square, 17 degrees of freedom). With 400,000 values a sum of twelve uniforms minus six scores
    about 170 and a Student-t with 30 degrees of freedom scaled to variance 1 about 770, where normal samples stay
    below the threshold (61 at ``false_failure=1e-6``) in all but one grading in a million.

    Raises:
        GradingError: too few samples, or a distribution that is not the standard normal (the message names the band
            that differs most, e.g. "beyond 3.5σ: 0.024 % of the values, a normal has 0.047 %").
    """
    x = samples.detach().flatten().double().cpu()
    if x.numel() < 100_000:
        raise GradingError(f"{name}: {x.numel()} values are too few to judge a distribution (need 100,000)")
    if not bool(torch.isfinite(x).all()):
        raise GradingError(f"{name} holds NaN or infinite values: standard normal noise is always finite")
    probabilities = torch.diff(torch.cat([torch.zeros(1), _normal_cdf(_EDGES), torch.ones(1)]).double())
    counts = torch.bincount(torch.bucketize(x, _EDGES), minlength=len(probabilities)).double()
    expected = probabilities * len(x)
    terms = (counts - expected) ** 2 / expected
    statistic = float(terms.sum())
    critical = chi_square_critical(len(probabilities) - 1, false_failure)
    if statistic > critical:
        worst = int(terms.argmax())
        lows = [-math.inf, *_EDGES.tolist()]
        highs = [*_EDGES.tolist(), math.inf]
        band = (
            f"below {highs[worst]:g}σ"
            if worst == 0
            else f"above {lows[worst]:g}σ"
            if worst == len(terms) - 1
            else f"between {lows[worst]:g}σ and {highs[worst]:g}σ"
        )
        raise GradingError(
            f"{name} is not standard normal: {100 * counts[worst] / len(x):.3f} % of the values lie {band}, a normal "
            f"puts {100 * probabilities[worst]:.3f} % there (chi-square {statistic:.0f} over 18 bands, a normal stays "
            f"below {critical:.0f} but once in {1 / false_failure:,.0f} gradings). Mean 0 and standard deviation 1 "
            f"are not enough: draw from the normal itself (torch.randn), not from a sum or a rescaled other "
            f"distribution."
        )
