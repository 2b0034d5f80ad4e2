"""Two-dimensional toy targets for lesson 2's GAN lab, and how many of a target's modes a generator covers.

A :class:`Target` samples real points in the plane and knows its modes: the places a generator that covers the
data must put samples. The standard collapse benchmark is the ring of 8 Gaussians (Metz et al. 2017, "Unrolled
GANs"); the 5 x 5 grid is VEEGAN's second toy (Srivastava et al. 2017).

- :func:`make_target`: ``"ring"`` (8 Gaussians on a circle), ``"grid"`` (5 x 5 Gaussians), ``"moons"``, ``"spiral"``,
  or the student's own points (an ``(N, 2)`` array, at least :data:`MIN_POINTS` of them);
- :meth:`Target.coverage`: the mode-coverage figure of the lab (:class:`Coverage`).

**High-quality samples and covered modes.** As in VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018), a
generated sample is *high-quality* when it lies within three standard deviations (``3 * target.std``) of its
nearest mode (for the moons and the spiral: of the curve the data lie on). A mode is *covered* when it holds at least
``min_share`` of all the generated samples as high-quality samples (default 2 %: a fair share of the ring's 8 modes is
12.5 %). PacGAN counts a mode lost below 20 of 2,500 samples (0.8 %); the lab's 2 % is a little stricter, so that a
few stragglers on their way between modes do not count as coverage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MIN_POINTS = 10
"""A drawn or passed target needs at least this many points: fewer cannot show a distribution, or modes."""

TARGETS = ("ring", "grid", "moons", "spiral")


@dataclass(frozen=True)
class Coverage:
    """How G's samples sit on a target's modes.

    ``shares[k]`` is the share (0..1) of all samples that are high-quality samples of mode ``k``; ``covered`` counts
    the modes whose share is at least ``min_share``; ``high_quality`` is the share of all samples that are
    high-quality (within 3 std of the data); ``dominant`` is the mode nearest to the most samples, and
    ``dominant_share`` the share of all samples nearest to it (high-quality or not): near 1 in a collapse.
    """

    covered: int
    modes: int
    high_quality: float
    shares: tuple[float, ...]
    min_share: float
    dominant: int
    dominant_share: float

    def __str__(self) -> str:
        return f"{self.covered}/{self.modes} modes covered, {100 * self.high_quality:.0f} % high-quality samples"


@dataclass(frozen=True)
class Target:
    """A 2-D target: where its real points come from, and its modes.

    ``centers`` (K, 2): the modes, each sample counted for its nearest; ``anchors`` (M, 2): points on the data's
    support (the centres for a mixture, points along the curve for moons and spiral), a sample within
    ``3 * std`` of one is high-quality; ``points`` (P, 2) or ``None``: a passed target's points, each real sample is
    one of them plus Gaussian noise of ``std``.
    """

    name: str
    centers: torch.Tensor
    anchors: torch.Tensor
    std: float
    points: torch.Tensor | None = None
    curve: str | None = None

    @property
    def modes(self) -> int:
        return len(self.centers)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` real points, float32 of shape (n, 2), drawn with ``generator`` (reproducible)."""
        if self.curve is not None:
            base = _curve(self.curve, torch.rand(n, generator=generator))
        else:
            source = self.points if self.points is not None else self.centers
            base = source[torch.randint(len(source), (n,), generator=generator)]
        return base + self.std * torch.randn(n, 2, generator=generator)

    def coverage(self, samples: torch.Tensor, min_share: float = 0.02) -> Coverage:
        """The :class:`Coverage` of ``samples`` (N, 2). Non-finite samples count as neither covered nor high-quality."""
        samples = samples.detach().float().reshape(-1, 2)
        finite = torch.isfinite(samples).all(dim=1)
        safe = torch.where(finite[:, None], samples, torch.zeros_like(samples))
        nearest = torch.cdist(safe, self.centers).argmin(dim=1)
        good = (torch.cdist(safe, self.anchors).min(dim=1).values <= 3 * self.std) & finite
        counts = torch.bincount(nearest[good], minlength=self.modes).float()
        shares = counts / max(len(samples), 1)
        near = torch.bincount(nearest[finite], minlength=self.modes)
        return Coverage(
            covered=int((shares >= min_share).sum()),
            modes=self.modes,
            high_quality=float(good.float().mean()) if len(samples) else 0.0,
            shares=tuple(float(s) for s in shares),
            min_share=min_share,
            dominant=int(near.argmax()) if finite.any() else -1,
            dominant_share=float(near.max()) / max(len(samples), 1),
        )


def _curve(name: str, t: torch.Tensor) -> torch.Tensor:
    """Points on the moons' or the spiral's curve at parameters ``t`` in [0, 1], shape (len(t), 2)."""
    if name == "moons":  # scikit-learn's two moons, centred and scaled to about [-2, 2] x [-1.2, 1.2]
        upper = t < 0.5
        angle = math.pi * torch.where(upper, 2 * t, 2 * t - 1)
        x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
        y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
        return torch.stack([1.6 * (x - 0.5), 1.6 * (y - 0.25)], dim=1)
    angle = 0.5 * math.pi + 3 * math.pi * t  # an Archimedean spiral, 1.5 turns out to radius 2.3
    radius = 0.3 + 2.0 * t
    return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)


def _kmeans(points: torch.Tensor, k: int, iterations: int = 25) -> torch.Tensor:
    """``k`` centres of ``points`` (P, 2) by Lloyd's k-means, started from farthest-point picks (deterministic)."""
    centers = [points[0]]
    for _ in range(1, k):
        distance = torch.cdist(points, torch.stack(centers)).min(dim=1).values
        centers.append(points[distance.argmax()])
    centers = torch.stack(centers)
    for _ in range(iterations):
        label = torch.cdist(points, centers).argmin(dim=1)
        centers = torch.stack([points[label == j].mean(0) if (label == j).any() else centers[j] for j in range(k)])
    return centers


def make_target(target: str | object, *, std: float | None = None) -> Target:
    """The :class:`Target` called ``target`` (one of :data:`TARGETS`), or one made of the student's points.

    Args:
        target: a name, or points: anything ``torch.as_tensor`` turns into shape (N, 2) with N >= :data:`MIN_POINTS`
            (a list of (x, y) pairs, a NumPy array), in about [-3, 3] x [-3, 3], the part of the plane the lab draws.
        std: the noise around each mode or point (default 0.05; 0.1 for passed points).
    Raises:
        ValueError: an unknown name, or points that are too few, not pairs, not finite or off the plane; the
            message says what to change.
    """
    if isinstance(target, str):
        if target == "ring":
            angle = torch.arange(8) * (2 * math.pi / 8)
            centers = 2.0 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
            return Target("ring of 8 Gaussians", centers, centers, std or 0.05)
        if target == "grid":
            ticks = torch.linspace(-2.0, 2.0, 5)
            centers = torch.cartesian_prod(ticks, ticks)
            return Target("5 x 5 grid", centers, centers, std or 0.05)
        if target in ("moons", "spiral"):
            anchors = _curve(target, torch.linspace(0, 1, 400))
            modes = 8  # eight stretches of equal length along the curve, the modes a collapse can leave out
            centers = _curve(target, (torch.arange(modes) + 0.5) / modes)
            label = "two moons" if target == "moons" else "spiral"
            return Target(label, centers, anchors, std or 0.05, curve=target)
        raise ValueError(f"Unknown target {target!r}: choose one of {', '.join(TARGETS)}, or pass (x, y) points.")
    try:
        points = torch.as_tensor(target, dtype=torch.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"The target's points must be a list of (x, y) pairs or an (N, 2) array: {error}") from None
    if points.dim() != 2 or points.shape[1] != 2:
        raise ValueError(
            f"The target's points must have shape (N, 2), one (x, y) pair per point; got {tuple(points.shape)}."
        )
    if len(points) < MIN_POINTS:
        raise ValueError(
            f"Your target has {len(points)} point{'s' * (len(points) != 1)}: draw or pass at least {MIN_POINTS}, "
            "spread over the places you want G to cover."
        )
    if not torch.isfinite(points).all() or points.abs().max() > 3:
        raise ValueError(
            "Your target's points must be finite numbers within [-3, 3] x [-3, 3], the plane the lab draws."
        )
    k = min(8, len(points) // 3)  # modes found by k-means: at most 8, each with 3 points or more on average
    centers = _kmeans(points, k)
    return Target(f"your {len(points)} points", centers, points, std or 0.1, points=points)
