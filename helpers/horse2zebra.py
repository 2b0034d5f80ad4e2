"""horse2zebra for the CycleGAN lesson: the real data set, an offline stand-in, cached preprocessing.

Three ways to get unpaired horse (A) and zebra (B) photos, tried in this order by
:func:`load_horse2zebra`:

1. the official folder ``<data root>/horse2zebra/{trainA,trainB,testA,testB}`` (already there);
2. the official archive ``<data root>/horse2zebra.zip``, downloaded by :func:`download_horse2zebra`
   (or put there by hand): validated, then extracted;
3. offline (``GAN_COURSE_OFFLINE=1``, no network, a failed download): a procedurally drawn
   stand-in in the same layout (:func:`make_standin`) -- plain-coated horse silhouettes vs the
   same shapes with zebra stripes, on grass/sand/sky backgrounds -- that a quick CPU run can learn.

The images are resized once (bicubic, as the official code) to ``load_size`` and kept as a
uint8 tensor file next to them; :meth:`UnpairedImages.sample` then draws random crops and
flips on the training device with tensor ops, with no host sync.

Downloads stream to ``horse2zebra.zip.part`` (resumed with an HTTP Range request when the
server allows it), are checked (size, sha256, zip CRCs, image counts) and renamed to the final
name only when complete and valid; extraction goes to a temporary folder renamed in one step.
A corrupt or truncated archive raises :class:`DatasetError` and leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import save_atomic
from .data import data_root
from .profiles import OFFLINE_ENV

OFFICIAL_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/horse2zebra.zip"
# Size and sha256 of horse2zebra.zip as documented by TensorFlow Datasets
# (tensorflow_datasets/url_checksums/cycle_gan.txt, for the same archive at its former address
# people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/horse2zebra.zip).
OFFICIAL_SIZE = 116_867_962
OFFICIAL_SHA256 = "a74d9d392eecca9966b51287a76ca126af473d9de4f3e8fc0e9cda08fa1730a1"
OFFICIAL_COUNTS = {"trainA": 1067, "trainB": 1334, "testA": 120, "testB": 140}
FOLDER = "horse2zebra"
ARCHIVE = "horse2zebra.zip"
STANDIN_FOLDER = "horse2zebra_standin"
STANDIN_COUNTS = {"trainA": 200, "trainB": 200, "testA": 40, "testB": 40}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SPLITS = ("train", "test")
OFFICIAL_SOURCE = "horse2zebra (official)"
STANDIN_SOURCE = "procedural stand-in"
_CACHE_VERSION = 1
_STANDIN_VERSION = 1


class DatasetError(RuntimeError):
    """The data on disk (an archive or a folder) is not a valid horse2zebra; the message says what to do."""


class DownloadError(OSError):
    """The archive could not be fetched (no network, HTTP error, interrupted); the message says what to do."""


# --- the procedural stand-in ----------------------------------------------------------------------
#
# Each image is drawn at twice its size with numpy and averaged down (anti-aliasing). The animal is
# a union of parts -- body ellipse, neck, head, ears, two-segment legs, tail, mane -- and each part
# carries its own "along the part" coordinate; zebra stripes are bands of that coordinate, so they
# run across the legs and neck and round the body as on a real zebra. Horses get a plain coat with
# shading (brown, bay, chestnut, grey, dun); the background (sky over grass, dry grass or sand) is
# drawn from the same distribution for both domains, so only the coat tells them apart.

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


def _draw_animal(rng: np.random.Generator, size: int, zebra: bool) -> np.ndarray:
    """One horse (zebra=False) or zebra on a background: uint8 (size, size, 3)."""
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
            canvas.segment(knee, foot, scale * 0.07, scale * 0.055, kind="lower leg", period=period * 0.45,
                           shade=shade, offset=math.dist(top, knee))
            canvas.segment((foot[0], foot[1] - scale * 0.06), foot, scale * 0.065, scale * 0.065, kind="hoof",
                           shade=shade)

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
    canvas.segment((shoulder[0] - scale * 0.05, shoulder[1] - scale * 0.15), (poll[0] - scale * 0.03, poll[1] - scale * 0.05),
                   scale * 0.07, scale * 0.05, kind="mane", period=period * 0.3)
    canvas.segment(poll, (poll[0] - scale * 0.08, poll[1] - scale * 0.2), scale * 0.05, scale * 0.015, shade=0.9)
    canvas.segment(poll, muzzle, scale * 0.12, scale * 0.08, period=period * 0.5)
    canvas.segment(muzzle, muzzle, scale * 0.07, scale * 0.07, kind="nose", period=period * 0.5)
    eye = (poll[0] + (muzzle[0] - poll[0]) * 0.25, poll[1] + (muzzle[1] - poll[1]) * 0.25 - scale * 0.02)
    canvas.segment(eye, eye, scale * 0.03, scale * 0.03, kind="eye")


def _colours(canvas: _Canvas, inside: np.ndarray, rng: np.random.Generator, zebra: bool,
             tail_length: float) -> np.ndarray:
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
    table = {"tail": points, "mane": points, "hoof": points * 0.6, "eye": black, "nose": coat * 0.7,
             "lower leg": points if coat_name in ("bay", "dun", "dark bay") else coat}
    return np.stack([table.get(k, coat) for k, _ in kinds])[part]


def _install_folder(built: Path, target: Path) -> None:
    """Rename the finished folder ``built`` to ``target`` (replacing an old one) without a half-written state."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(built, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def make_standin(
    root: str | os.PathLike | None = None,
    *,
    counts: dict[str, int] | None = None,
    size: int = 128,
    seed: int = 0,
) -> Path:
    """Draw the offline stand-in for horse2zebra (or reuse it) and return its folder.

    ``<data root>/horse2zebra_standin/{trainA,trainB,testA,testB}/*.jpg``: A holds plain-coated
    horses, B the same kind of shapes with black-and-white stripes that follow the body, both on
    the same random backgrounds, poses, sizes and positions. Deterministic given ``seed``; a folder
    drawn earlier with the same settings is reused (a ``standin.json`` records them).

    Args:
        root: data folder (see :func:`helpers.data.data_root`).
        counts: images per folder, default ``STANDIN_COUNTS`` (200/200/40/40).
        size: image side in pixels (at least 32).
        seed: the random seed of the drawing.
    """
    from PIL import Image

    counts = dict(STANDIN_COUNTS if counts is None else counts)
    if sorted(counts) != sorted(STANDIN_COUNTS) or any(int(n) < 1 for n in counts.values()):
        raise ValueError(f"counts must give at least 1 image for each of {sorted(STANDIN_COUNTS)}, got {counts}")
    if int(size) < 32:
        raise ValueError(f"size must be at least 32 pixels for the animals to be recognisable, got {size}")
    root = data_root(root)
    target = root / STANDIN_FOLDER
    settings = {"version": _STANDIN_VERSION, "counts": counts, "size": int(size), "seed": int(seed)}
    if _standin_settings(target) == settings:
        return target
    root.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix=f".{STANDIN_FOLDER}-", dir=root))
    try:
        for index, (name, n) in enumerate(sorted(counts.items())):
            (built / name).mkdir()
            zebra = name.endswith("B")
            rng = np.random.default_rng([int(seed), index])
            for i in range(int(n)):
                pixels = _draw_animal(rng, int(size), zebra)
                Image.fromarray(pixels).save(built / name / f"{'zebra' if zebra else 'horse'}_{i:04d}.jpg", quality=95)
        (built / "standin.json").write_text(json.dumps(settings))
        if _standin_settings(target) != settings:  # another process may have drawn the same meanwhile
            _install_folder(built, target)
    finally:
        shutil.rmtree(built, ignore_errors=True)
    return target


def _standin_settings(folder: Path) -> dict | None:
    """The settings a stand-in folder was drawn with (its ``standin.json``), or None."""
    try:
        return json.loads((folder / "standin.json").read_text())
    except (OSError, ValueError):
        return None


# --- validation -----------------------------------------------------------------------------------


def _images(folder: Path) -> list[Path]:
    """The image files of one folder, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def check_folder(folder: str | os.PathLike, counts: dict[str, int] | None = None) -> Path:
    """Check that ``folder`` holds trainA/trainB/testA/testB with exactly ``counts`` images each.

    Args:
        counts: expected images per subfolder (default: the official ``OFFICIAL_COUNTS``).

    Raises:
        DatasetError: a subfolder is missing or has another number of images; the message names it
            and says to delete the folder so that it is extracted again.
    """
    folder = Path(folder)
    counts = OFFICIAL_COUNTS if counts is None else counts
    found = {name: len(_images(folder / name)) for name in counts}
    wrong = {name: n for name, n in found.items() if n != counts[name]}
    if wrong:
        details = ", ".join(f"{name}: {found[name]} images, expected {counts[name]}" for name in wrong)
        raise DatasetError(
            f"{folder} is not a complete horse2zebra folder ({details}). Delete {folder} and run again: "
            f"the data is then extracted again from {folder.parent / ARCHIVE} (or downloaded)."
        )
    return folder


def _zip_counts(archive: zipfile.ZipFile) -> dict[str, int]:
    """Images per folder name (trainA, ...) inside a zip whose images lie in <top>/<name>/<file>."""
    counts: dict[str, int] = {}
    for name in archive.namelist():
        parts = name.split("/")
        if len(parts) >= 2 and Path(parts[-1]).suffix.lower() in IMAGE_SUFFIXES and not parts[-1].startswith("."):
            counts[parts[-2]] = counts.get(parts[-2], 0) + 1
    return counts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_archive(path: Path, *, size: int | None, sha256: str | None, counts: dict[str, int]) -> None:
    """Raise ValueError saying what is wrong with the archive at ``path`` (size, checksum, CRCs, image counts)."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise ValueError(f"it has {actual:,} bytes, expected {size:,} (truncated or a different file)")
    if sha256 and _sha256(path) != sha256.lower():
        raise ValueError(f"its sha256 is not the expected {sha256}")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise ValueError(f"the member {bad} is corrupt (CRC check failed)")
            found = _zip_counts(archive)
    except (zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise ValueError(f"it is not a readable zip archive ({type(error).__name__}: {error}); truncated or corrupt") from None
    wrong = [f"{name}: {found.get(name, 0)} images, expected {n}" for name, n in counts.items() if found.get(name, 0) != n]
    if wrong:
        raise ValueError("it does not hold the horse2zebra images (" + ", ".join(wrong) + ")")


# --- download -------------------------------------------------------------------------------------


def _fetch(url: str, part: Path, *, archive: Path, size: int | None, timeout: float, progress: bool,
           retries: int) -> None:
    """Stream ``url`` into ``part``, resuming what is already there (HTTP Range) when the server allows it."""
    from tqdm.auto import tqdm

    hand = f"or download {url} yourself and put it at {archive}"
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have == size:  # complete already (e.g. the check was interrupted)
            return
        headers = {"User-Agent": "gan-course"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as error:
            if error.code == 416 and have:  # the partial file does not fit what the server has: start over
                part.unlink()
                failures += 1
                if failures <= retries:
                    continue
            raise DownloadError(f"{url} answered HTTP {error.code} ({error.reason}). Try again later, {hand}.") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise DownloadError(f"Could not reach {url} ({reason}). Check the network, {hand}.") from None
        with response:
            resumed = have and response.status == 206 and response.headers.get("Content-Range", "").startswith(
                f"bytes {have}-")
            if response.status == 206 and not resumed:  # a part we did not ask for: start over
                part.unlink(missing_ok=True)
                failures += 1
                if failures > retries:
                    raise DownloadError(f"{url} answered a range request with another range. Try again later, {hand}.")
                continue
            if not resumed:
                have = 0  # the server sends the whole file (no Range support): start over
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            if size is not None and total is not None and total != size:
                part.unlink(missing_ok=True)
                raise DownloadError(f"{url} announces {total:,} bytes, but horse2zebra.zip has {size:,}: the address "
                                    f"may have changed. Check it, {hand}.")
            error_text = "the connection closed early"
            with open(part, "ab" if resumed else "wb") as file, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=ARCHIVE,
                disable=not progress, leave=False,
            ) as bar:
                try:
                    while chunk := response.read(1 << 16):
                        file.write(chunk)
                        bar.update(len(chunk))
                except (OSError, http.client.HTTPException) as error:
                    error_text = f"{type(error).__name__}: {error}"
        done = part.stat().st_size
        if total is None or done >= total:
            return
        failures += 1
        if failures > retries:
            raise DownloadError(f"The download of {url} stopped at {done:,} of {total:,} bytes ({error_text}). Run it "
                                f"again to resume from {part}, {hand}.")


def _extract(archive: Path, target: Path, counts: dict[str, int]) -> Path:
    """Extract ``archive`` into a temporary folder next to ``target``, check it, rename it to ``target``."""
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-extract-", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                if name.startswith(("/", "\\")) or ".." in Path(name).parts:
                    raise DatasetError(f"{archive} holds an unsafe path {name!r}; it is not the horse2zebra archive. "
                                       f"Delete it and run again.")
            zipped.extractall(scratch)
        first = next(iter(counts))
        found = [p.parent for p in (scratch / target.name / first, *scratch.glob(f"*/{first}"), scratch / first)
                 if p.is_dir() and "__MACOSX" not in p.parts]
        if not found:
            raise DatasetError(f"{archive} has no {first} folder; it is not the horse2zebra archive. Delete it and "
                               f"run again.")
        check_folder(found[0], counts)
        _install_folder(found[0], target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def download_horse2zebra(
    root: str | os.PathLike | None = None,
    *,
    url: str = OFFICIAL_URL,
    sha256: str | bool | None = None,
    size: int | None = None,
    counts: dict[str, int] | None = None,
    progress: bool = True,
    timeout: float = 15.0,
    retries: int = 2,
) -> Path:
    """Download, check and extract horse2zebra; return ``<data root>/horse2zebra``.

    Nothing is fetched when the folder is already there (it is checked) or when the archive
    ``<data root>/horse2zebra.zip`` is (put there by hand: checked as a zip with the right images,
    then extracted). Otherwise the archive streams to ``horse2zebra.zip.part`` with a progress bar;
    an interrupted transfer is resumed (HTTP Range) up to ``retries`` times in this call and at the
    next call. A complete download is checked (size, sha256, every member's CRC, image counts)
    before it is renamed to ``horse2zebra.zip``; a bad one is deleted. Called directly, it downloads
    even when ``$GAN_COURSE_OFFLINE`` is set (:func:`load_horse2zebra` respects it).

    Args:
        root: data folder (see :func:`helpers.data.data_root`).
        url: where to download from.
        sha256, size: the expected checksum and size; default ``None``: the documented values
            (``OFFICIAL_SHA256``, ``OFFICIAL_SIZE``) for the official URL, no check for another URL.
            ``sha256=False`` skips both checks (e.g. if the official archive is ever rebuilt); the
            zip's CRCs and image counts are always checked.
        counts: images expected per folder; default ``OFFICIAL_COUNTS``.
        progress: show a progress bar.
        timeout: seconds any network wait may take (so that no network fails fast).
        retries: how many times an interrupted transfer is resumed within this call.

    Raises:
        DownloadError: the server cannot be reached, answers with an error or the transfer stops
            (a partial file is kept and resumed next time).
        DatasetError: the archive or the folder is corrupt, truncated or incomplete (nothing
            half-written is left; the message says what to delete or where to put the zip by hand).
    """
    root = data_root(root)
    counts = dict(OFFICIAL_COUNTS if counts is None else counts)
    if url == OFFICIAL_URL:
        sha256 = OFFICIAL_SHA256 if sha256 is None else sha256
        size = OFFICIAL_SIZE if size is None and sha256 is not False else size
    sha256 = sha256 or None
    target = root / FOLDER
    if target.is_dir():
        return check_folder(target, counts)
    archive = root / ARCHIVE
    root.mkdir(parents=True, exist_ok=True)
    if archive.exists():  # downloaded earlier or put there by hand: no network needed
        try:
            _check_archive(archive, size=None, sha256=None, counts=counts)
        except ValueError as error:
            raise DatasetError(f"{archive} is not a usable horse2zebra archive: {error}. Delete it and run again "
                               f"to download it, or put a good copy of {url} there.") from None
    else:
        part = archive.with_name(ARCHIVE + ".part")
        _fetch(url, part, archive=archive, size=size, timeout=timeout, progress=progress, retries=retries)
        try:
            _check_archive(part, size=size, sha256=sha256, counts=counts)
        except ValueError as error:
            part.unlink(missing_ok=True)
            raise DatasetError(f"The archive downloaded from {url} is unusable: {error}. It was deleted; run again to "
                               f"download it again, or download it yourself and put it at {archive}.") from None
        os.replace(part, archive)
    return _extract(archive, target, counts)


# --- preprocessing and batches --------------------------------------------------------------------


@dataclass(repr=False)
class UnpairedImages:
    """Unpaired images of two domains, resized once, resident on the training device.

    Attributes:
        a: uint8 (N_A, 3, load_size, load_size), domain A (horses), on the device.
        b: uint8 (N_B, 3, load_size, load_size), domain B (zebras), on the same device.
        source: which data this is ("horse2zebra (official)" or "procedural stand-in", and the folder).
        is_standin: True for the procedural stand-in.
    """

    a: torch.Tensor
    b: torch.Tensor
    source: str
    is_standin: bool = False

    def __post_init__(self):
        for name, images in (("a", self.a), ("b", self.b)):
            if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3 or images.shape[0] < 1 \
                    or images.shape[2] != images.shape[3]:
                raise ValueError(f"UnpairedImages.{name} must be uint8 (N, 3, S, S) with N >= 1, got "
                                 f"{images.dtype} {tuple(images.shape)}")
        self.a, self.b = self.a.contiguous(), self.b.contiguous()  # sample() gathers from the flat storage
        if self.a.shape[2:] != self.b.shape[2:] or self.a.device != self.b.device:
            raise ValueError(f"a and b must have the same size and device, got {tuple(self.a.shape)} on {self.a.device} "
                             f"and {tuple(self.b.shape)} on {self.b.device}")

    @property
    def load_size(self) -> int:
        return self.a.shape[-1]

    @property
    def device(self) -> torch.device:
        return self.a.device

    def __repr__(self) -> str:
        return (f"UnpairedImages({len(self.a)} A + {len(self.b)} B, {self.load_size}x{self.load_size}, "
                f"{self.device}, {self.source})")

    def to(self, device: torch.device | str) -> "UnpairedImages":
        """The same images on ``device``."""
        return UnpairedImages(self.a.to(device), self.b.to(device), self.source, self.is_standin)

    def sample(self, batch_size: int, crop_size: int, *, flip: bool = True,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Independent random batches of A and B: random images, random crop, random horizontal flip.

        Done on the device with tensor ops (no host sync, no Python loop over images).

        Args:
            batch_size: images per batch (at least 1).
            crop_size: side of the square crop, at most ``load_size``.
            flip: flip each image left-right with probability 1/2.
            generator: a ``torch.Generator`` on the same device, for a reproducible stream
                (default: the global RNG, seeded by ``set_seed``).

        Returns:
            (real_a, real_b), each float32 (batch_size, 3, crop_size, crop_size) in [-1, 1] on the device.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(crop_size, bool) or not isinstance(crop_size, int) or not 1 <= crop_size <= self.load_size:
            raise ValueError(f"crop_size must be an int from 1 to load_size ({self.load_size}), got {crop_size!r}; "
                             f"load the data with a larger load_size or crop smaller")
        return (_random_crops(self.a, batch_size, crop_size, flip, generator),
                _random_crops(self.b, batch_size, crop_size, flip, generator))


def _random_crops(images: torch.Tensor, batch_size: int, crop: int, flip: bool,
                  generator: torch.Generator | None) -> torch.Tensor:
    """Gather ``batch_size`` random crops (optionally flipped) of random images: float32 in [-1, 1].

    One gather from the flattened images with per-pixel offsets computed on the device.
    """
    n, channels, height, width = images.shape
    device = images.device
    index = torch.randint(n, (batch_size, 1, 1, 1), device=device, generator=generator)
    top = torch.randint(height - crop + 1, (batch_size, 1, 1, 1), device=device, generator=generator)
    left = torch.randint(width - crop + 1, (batch_size, 1, 1, 1), device=device, generator=generator)
    steps = torch.arange(crop, device=device)
    cols = left + steps.view(1, 1, 1, crop)
    if flip:
        flipped = torch.randint(2, (batch_size, 1, 1, 1), device=device, generator=generator).bool()
        cols = torch.where(flipped, left + (crop - 1 - steps).view(1, 1, 1, crop), cols)
    planes = index * channels + torch.arange(channels, device=device).view(1, channels, 1, 1)
    offsets = (planes * height + top + steps.view(1, 1, crop, 1)) * width + cols
    # gather, not indexing: the same result, and CPU indexing is much slower when threads compete for cores
    crops = images.reshape(-1).gather(0, offsets.reshape(-1)).view(offsets.shape)
    return crops.float().div_(127.5).sub_(1.0)


def _resize_all(files: list[Path], load_size: int) -> torch.Tensor:
    """Read and resize every image (bicubic, anti-aliased, as the official code): uint8 (N, 3, S, S)."""
    from PIL import Image

    out = np.empty((len(files), load_size, load_size, 3), np.uint8)

    def read(i: int) -> None:
        with Image.open(files[i]) as image:
            out[i] = np.asarray(image.convert("RGB").resize((load_size, load_size), Image.BICUBIC))

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # PIL decodes without the GIL
        list(pool.map(read, range(len(files))))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def cache_path(folder: str | os.PathLike, split: str, load_size: int) -> Path:
    """Where the resized images of ``split`` are cached: ``<folder>/preprocessed/<split>_<load_size>px.pt``."""
    return Path(folder) / "preprocessed" / f"{split}_{int(load_size)}px.pt"


def load_folder(folder: str | os.PathLike, *, split: str = "train", load_size: int = 286,
                device: torch.device | str | None = None, source: str | None = None,
                is_standin: bool = False) -> UnpairedImages:
    """Images of ``<folder>/<split>A`` and ``<split>B``, resized to ``load_size`` once and cached.

    The cache (:func:`cache_path`, a uint8 tensor file written atomically) is reused while the
    file names and sizes of both folders are unchanged, and rebuilt otherwise.

    Returns:
        :class:`UnpairedImages` on ``device`` (default: the CPU).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(load_size, bool) or not isinstance(load_size, int) or load_size < 8:
        raise ValueError(f"load_size must be an int of at least 8 pixels (286 as the official code, 72 for a quick "
                         f"run), got {load_size!r}")
    folder = Path(folder)
    files = {side: _images(folder / f"{split}{side}") for side in "AB"}
    empty = [f"{split}{side}" for side, found in files.items() if not found]
    if empty:
        raise DatasetError(f"No images (.jpg/.png) in {', '.join(str(folder / e) for e in empty)}. Delete {folder} and "
                           f"run again, or put the horse2zebra images there.")
    key = json.dumps({"version": _CACHE_VERSION, "load_size": load_size,
                      **{side: [(p.name, p.stat().st_size) for p in found] for side, found in files.items()}})
    cache = cache_path(folder, split, load_size)
    tensors = None
    if cache.exists():
        try:
            saved = torch.load(cache, map_location="cpu", weights_only=True)
            if saved.get("key") == key:
                tensors = saved["a"], saved["b"]
        except Exception:  # noqa: BLE001 - an unreadable cache is rebuilt
            tensors = None
    if tensors is None:
        tensors = _resize_all(files["A"], load_size), _resize_all(files["B"], load_size)
        save_atomic({"key": key, "a": tensors[0], "b": tensors[1]}, cache)
    device = torch.device("cpu") if device is None else torch.device(device)
    return UnpairedImages(tensors[0].to(device), tensors[1].to(device), source or str(folder), is_standin)


def load_horse2zebra(
    root: str | os.PathLike | None = None,
    *,
    split: str = "train",
    load_size: int = 286,
    offline: str | bool | None = None,
    device: torch.device | str | None = None,
    url: str = OFFICIAL_URL,
    counts: dict[str, int] | None = None,
    verbose: bool = True,
) -> UnpairedImages:
    """horse2zebra if it is there or can be downloaded, else the procedural stand-in; says which.

    Order: the folder ``<data root>/horse2zebra``; the archive ``<data root>/horse2zebra.zip``
    (extracted); a download (unless offline); the stand-in ``<data root>/horse2zebra_standin``
    (drawn on first use, a few seconds). Images are resized to ``load_size`` (bicubic) once and cached.

    Args:
        root: data folder (see :func:`helpers.data.data_root`).
        split: ``"train"`` or ``"test"``.
        load_size: side after resizing; 286 (crop 256) as the official code, e.g. 72 (crop 64) for a quick run.
        offline: never download: ``True`` or the reason (a lesson passes ``profile.offline``: ``$GAN_COURSE_OFFLINE``,
            nbgrader grading, CI); ``None``/``False``: download when the data is missing.
        device: where the images live (default: the CPU); pass ``get_device()``.
        url, counts: the archive's address and image counts (see :func:`download_horse2zebra`).
        verbose: print which data is used and how many images (and a progress bar while downloading).

    Returns:
        :class:`UnpairedImages` with uint8 (N, 3, load_size, load_size) tensors on ``device``.

    Raises:
        DatasetError: a folder or archive put in the data root is incomplete or corrupt (the message says what to do).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = data_root(root)
    real = root / FOLDER
    note = ""
    if real.is_dir() or (root / ARCHIVE).exists():
        folder = download_horse2zebra(root, url=url, counts=counts, progress=verbose)
    elif offline:
        folder, note = None, f"offline ({offline if isinstance(offline, str) else 'offline=True'}): no download tried"
    else:
        if verbose:
            size = " (117 MB)" if url == OFFICIAL_URL else ""
            print(f"horse2zebra is not in {root}; downloading {url}{size} (set {OFFLINE_ENV}=1 to skip)...")
        try:
            folder = download_horse2zebra(root, url=url, counts=counts, progress=verbose)
        except (OSError, DatasetError) as error:
            folder, note = None, f"download failed: {error}"
    if folder is not None:
        images = load_folder(folder, split=split, load_size=load_size, device=device,
                             source=f"{OFFICIAL_SOURCE} from {folder}")
    else:
        folder = make_standin(root)
        images = load_folder(folder, split=split, load_size=load_size, device=device, is_standin=True,
                             source=f"{STANDIN_SOURCE} (drawn horses and zebras, not photos) from {folder}; {note}")
    if verbose:
        print(f"horse2zebra source: {images.source}\n  {split}: {len(images.a)} A (horses), {len(images.b)} B (zebras), "
              f"resized to {load_size}x{load_size}, on {images.device}")
    return images
