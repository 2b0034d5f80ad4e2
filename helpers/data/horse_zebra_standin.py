"""The procedural stand-in for horse2zebra: horses with a plain coat, zebras with stripes, drawn with numpy.

Each image is drawn at twice its size and averaged down (anti-aliasing). The animal is a union of
parts -- body ellipse, neck, head, ears, two-segment legs, tail, mane -- and each part carries its
own "along the part" coordinate; zebra stripes are bands of that coordinate, so they run across
the legs and neck and round the body as on a real zebra. Horses get a plain coat with shading
(brown, bay, chestnut, grey, dun); the background (sky over grass, dry grass or sand) is drawn
from the same distribution for both domains, so only the coat tells them apart.

:func:`save_animals` writes a folder of them; :func:`helpers.data.horse2zebra.make_standin` lays those
folders out as horse2zebra (trainA/trainB/testA/testB). Everything runs on the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def save_animals(folder: Path, n: int, *, zebra: bool, size: int, seed: Sequence[int]) -> None:
    """Create ``folder`` and draw ``n`` animals into it as ``horse_0000.jpg`` ... (``zebra_0000.jpg`` ...).

    Args:
        folder: a folder that does not exist yet.
        n: how many images.
        zebra: stripes (domain B) or a plain coat (domain A).
        size: image side in pixels; RGB JPEG, quality 95.
        seed: the seed of the numpy generator that draws them all (deterministic given it).
    """
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(list(seed))
    for i in range(n):
        Image.fromarray(draw_animal(rng, size, zebra)).save(
            folder / f"{'zebra' if zebra else 'horse'}_{i:04d}.jpg", quality=95
        )


_COATS = {  # body colour, points (mane, tail, lower legs) colour
    "brown": ((112, 70, 40), (60, 38, 24)),
    "bay": ((150, 82, 40), (30, 22, 18)),
    "chestnut": ((170, 96, 52), (150, 80, 42)),
    "grey": ((165, 160, 155), (95, 92, 90)),
    "dun": ((196, 160, 108), (70, 50, 35)),
    "dark bay": ((92, 52, 30), (28, 20, 16)),
}
_GROUNDS = {
    "grass": ((88, 140, 60), (60, 105, 40)),
    "dry grass": ((176, 160, 92), (140, 124, 70)),
    "sand": ((214, 192, 150), (186, 160, 118)),
}


class _Canvas:
    """Parts painted back to front into label maps (part index, coordinate along the part, shade)."""

    def __init__(self, size: int):
        self.size = size
        self.part = np.full((size, size), -1, np.int16)
        self.along = np.zeros((size, size), np.float32)
        self.shade = np.ones((size, size), np.float32)
        self.kinds: list[tuple[str, float]] = []  # (kind, stripe period) per part index

    def _box(self, x0, x1, y0, y1):
        xs = slice(max(int(x0) - 1, 0), min(int(x1) + 2, self.size))
        ys = slice(max(int(y0) - 1, 0), min(int(y1) + 2, self.size))
        py, px = np.mgrid[ys, xs].astype(np.float32) + 0.5
        return (ys, xs), px, py

    def _paint(self, box, mask, along, shade, kind, period):
        index = len(self.kinds)
        self.kinds.append((kind, period))
        self.part[box][mask] = index
        self.along[box][mask] = along[mask] if np.ndim(along) else along
        self.shade[box][mask] = shade[mask] if np.ndim(shade) else shade

    def segment(self, a, b, r0, r1, *, kind="coat", period=0.0, shade=1.0, offset=0.0):
        """Tapered capsule from a to b (radius r0 -> r1); stripes run across it."""
        r = max(r0, r1)
        box, px, py = self._box(min(a[0], b[0]) - r, max(a[0], b[0]) + r, min(a[1], b[1]) - r, max(a[1], b[1]) + r)
        dx, dy = b[0] - a[0], b[1] - a[1]
        length2 = dx * dx + dy * dy + 1e-9
        projection = ((px - a[0]) * dx + (py - a[1]) * dy) / length2
        t = np.clip(projection, 0.0, 1.0)
        inside = np.hypot(px - a[0] - t * dx, py - a[1] - t * dy) <= r0 + (r1 - r0) * t
        # stripes use the unclamped projection, so they go on through the rounded ends
        self._paint(box, inside, projection * math.sqrt(length2) + offset, shade, kind, period)

    def body(self, centre, ax, ay, angle, *, period, bend):
        """Rotated ellipse, darker towards the belly; stripes go round it, bending a little."""
        r = max(ax, ay)
        box, px, py = self._box(centre[0] - r, centre[0] + r, centre[1] - r, centre[1] + r)
        c, s = math.cos(angle), math.sin(angle)
        u = ((px - centre[0]) * c + (py - centre[1]) * s) / ax
        v = (-(px - centre[0]) * s + (py - centre[1]) * c) / ay
        along = u * ax + bend * np.sin(v * 1.3) + 0.5 * bend * v * v
        self._paint(box, u * u + v * v <= 1.0, along, 1.0 - 0.18 * np.clip(v, 0, 1), "coat", period)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Sky over ground with a random horizon, colour gradients and grain: float32 (size, size, 3) in 0..255."""
    from PIL import Image

    y = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    horizon = rng.uniform(0.25, 0.6)
    sky_top = np.array([90, 140, 215]) + rng.uniform(-20, 20, 3)
    sky_low = np.array([200, 220, 240]) + rng.uniform(-15, 15, 3)
    near, far = (np.array(c, float) + rng.uniform(-18, 18, 3) for c in _GROUNDS[rng.choice(list(_GROUNDS))])
    sky = sky_top + (sky_low - sky_top) * np.clip(y / horizon, 0, 1)
    ground = far + (near - far) * np.clip((y - horizon) / (1 - horizon), 0, 1)
    image = (np.where(y < horizon, sky, ground) * np.ones((1, size, 1))).astype(np.float32)
    # soft clumps in the ground and a little grain everywhere (the same for both domains)
    coarse = rng.normal(0, 1, (size // 6 + 2, size // 6 + 2)).astype(np.float32)
    clumps = np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.BILINEAR))[..., None]
    image += (y >= horizon) * clumps * rng.uniform(6, 14)
    image += rng.normal(0, 3, (size, size, 1)).astype(np.float32)
    return image


def draw_animal(rng: np.random.Generator, size: int, zebra: bool) -> np.ndarray:
    """One horse (``zebra=False``) or zebra on a random background: a numpy uint8 (size, size, 3) RGB image.

    Facing left or right at random; draws from ``rng`` (the same ``rng`` state gives the same image).
    """
    background = _background(rng, size)
    canvas = _Canvas(2 * size)  # the animal is drawn at twice the size and averaged down (anti-aliasing)
    tail_length = _draw_shape(canvas, rng, zebra)
    inside = canvas.part >= 0
    animal = np.zeros((2 * size, 2 * size, 3), np.float32)
    animal[inside] = _colours(canvas, inside, rng, zebra, tail_length) * canvas.shade[inside][:, None]
    image = _halve(animal) + background * (1.0 - _halve(inside.astype(np.float32))[..., None])
    if rng.random() < 0.5:
        image = image[:, ::-1]
    return np.clip(image, 0, 255).round().astype(np.uint8)


def _halve(x: np.ndarray) -> np.ndarray:
    """Average 2x2 blocks: (2h, 2w, ...) -> (h, w, ...)."""
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def _draw_shape(canvas: _Canvas, rng: np.random.Generator, zebra: bool) -> float:
    """Paint a horse-shaped animal facing right at a random size, place and pose; return its tail length."""
    s2 = canvas.size
    scale = s2 * rng.uniform(0.24, 0.33)  # body length is 1.6 * scale
    cx = s2 * rng.uniform(0.42, 0.55)
    ground_y = s2 * rng.uniform(0.80, 0.93)
    leg_len = scale * rng.uniform(0.95, 1.1)
    cy = ground_y - leg_len - scale * 0.18
    body_ax, body_ay = scale * 0.80, scale * rng.uniform(0.30, 0.36)
    period = scale * rng.uniform(0.20, 0.26)

    # tail, behind everything
    tail_root = (cx - body_ax * 0.95, cy - body_ay * 0.4)
    tail_angle = rng.uniform(0.15, 0.6)
    tail_end = (tail_root[0] - math.sin(tail_angle) * leg_len, tail_root[1] + math.cos(tail_angle) * leg_len)
    canvas.segment(tail_root, tail_end, scale * 0.05, scale * (0.04 if zebra else 0.09), kind="tail")

    # legs: hips/shoulders on the body, a knee, a random walking swing; far legs first, in shadow
    for far in (True, False):
        for x_off in (-0.55, 0.55):
            swing = rng.uniform(-0.35, 0.35) + (0.12 if far else 0.0)
            top = (cx + x_off * body_ax + (0.08 if far else -0.04) * scale, cy + 0.3 * body_ay)
            knee = (top[0] + math.sin(swing) * leg_len * 0.5, top[1] + math.cos(swing) * leg_len * 0.5)
            foot = (knee[0] + math.sin(swing * 0.3) * leg_len * 0.5, ground_y + (0.0 if far else 0.02 * scale))
            shade = 0.78 if far else 1.0
            canvas.segment(top, knee, scale * 0.13, scale * 0.075, period=period * 0.55, shade=shade)
            canvas.segment(
                knee,
                foot,
                scale * 0.07,
                scale * 0.055,
                kind="lower leg",
                period=period * 0.45,
                shade=shade,
                offset=math.dist(top, knee),
            )
            canvas.segment(
                (foot[0], foot[1] - scale * 0.06), foot, scale * 0.065, scale * 0.065, kind="hoof", shade=shade
            )

    canvas.body((cx, cy), body_ax, body_ay, rng.uniform(-0.08, 0.08), period=period, bend=0.18 * scale)
    _draw_head(canvas, rng, (cx + body_ax * 0.62, cy - body_ay * 0.35), (cx, cy, body_ax, body_ay), scale, period)
    return leg_len


def _draw_head(canvas: _Canvas, rng: np.random.Generator, shoulder, body, scale: float, period: float) -> None:
    """Neck, mane, ear, head, nose and eye: the head up (alert) or down (grazing)."""
    cx, cy, body_ax, body_ay = body
    if rng.random() < 0.3:
        poll = (cx + body_ax * 1.25, cy + body_ay * 1.2)
        muzzle = (poll[0] + scale * 0.12, poll[1] + scale * 0.45)
    else:
        poll = (cx + body_ax * rng.uniform(1.05, 1.2), cy - scale * rng.uniform(0.85, 1.05))
        muzzle = (poll[0] + scale * rng.uniform(0.35, 0.45), poll[1] + scale * rng.uniform(0.25, 0.4))
    canvas.segment(shoulder, poll, scale * 0.25, scale * 0.13, period=period * 0.8)
    canvas.segment(
        (shoulder[0] - scale * 0.05, shoulder[1] - scale * 0.15),
        (poll[0] - scale * 0.03, poll[1] - scale * 0.05),
        scale * 0.07,
        scale * 0.05,
        kind="mane",
        period=period * 0.3,
    )
    canvas.segment(poll, (poll[0] - scale * 0.08, poll[1] - scale * 0.2), scale * 0.05, scale * 0.015, shade=0.9)
    canvas.segment(poll, muzzle, scale * 0.12, scale * 0.08, period=period * 0.5)
    canvas.segment(muzzle, muzzle, scale * 0.07, scale * 0.07, kind="nose", period=period * 0.5)
    eye = (poll[0] + (muzzle[0] - poll[0]) * 0.25, poll[1] + (muzzle[1] - poll[1]) * 0.25 - scale * 0.02)
    canvas.segment(eye, eye, scale * 0.03, scale * 0.03, kind="eye")


def _colours(
    canvas: _Canvas, inside: np.ndarray, rng: np.random.Generator, zebra: bool, tail_length: float
) -> np.ndarray:
    """Colours (n, 3) of the animal's pixels: a plain coat with darker points, or black-and-white stripes."""
    coat_name = rng.choice(list(_COATS))
    coat, points = (np.array(c, np.float32) + rng.uniform(-12, 12, 3).astype(np.float32) for c in _COATS[coat_name])
    white = np.array([238, 236, 230], np.float32) + np.float32(rng.uniform(-10, 5))
    black = np.array([22, 20, 20], np.float32)
    part, along, kinds = canvas.part[inside], canvas.along[inside], canvas.kinds
    if zebra:
        periods = np.array([p for _, p in kinds], np.float32)[part]
        phase = rng.uniform(0, 2 * math.pi)
        stripe = (np.sin(2 * math.pi * along / np.maximum(periods, 1e-6) + phase) > -0.1) & (periods > 0)
        solid = np.array([k in ("hoof", "eye", "nose") for k, _ in kinds])[part]
        tuft = np.array([k == "tail" for k, _ in kinds])[part] & (along > 0.75 * tail_length)
        return np.where((stripe | solid | tuft)[:, None], black, white)
    table = {
        "tail": points,
        "mane": points,
        "hoof": points * 0.6,
        "eye": black,
        "nose": coat * 0.7,
        "lower leg": points if coat_name in ("bay", "dun", "dark bay") else coat,
    }
    return np.stack([table.get(k, coat) for k, _ in kinds])[part]
