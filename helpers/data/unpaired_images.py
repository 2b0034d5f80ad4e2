"""Unpaired image folders: resized once and cached, then random batches drawn on the training device.

A folder holds ``<split>A`` and ``<split>B`` (e.g. ``trainA``, ``trainB``) with .jpg/.png images.
:func:`load_folder` resizes them once (bicubic, as the official CycleGAN code) to ``load_size`` and
keeps the result as a uint8 tensor file in ``<folder>/preprocessed``; :meth:`UnpairedImages.sample`
then draws random crops and flips on the training device with tensor ops, with no host sync.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from helpers.checkpoint import save_atomic

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SPLITS = ("train", "test")
_CACHE_VERSION = 1


class DatasetError(RuntimeError):
    """The data on disk (an archive or a folder, e.g. horse2zebra) is not valid; the message says what to do."""


def image_files(folder: Path) -> list[Path]:
    """The image files (.jpg, .jpeg, .png; no hidden files) of one folder, sorted by name; [] if it is missing."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


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
            if (
                images.dtype != torch.uint8
                or images.dim() != 4
                or images.shape[1] != 3
                or images.shape[0] < 1
                or images.shape[2] != images.shape[3]
            ):
                raise ValueError(
                    f"UnpairedImages.{name} must be uint8 (N, 3, S, S) with N >= 1, got "
                    f"{images.dtype} {tuple(images.shape)}"
                )
        self.a, self.b = self.a.contiguous(), self.b.contiguous()  # sample() gathers from the flat storage
        if self.a.shape[2:] != self.b.shape[2:] or self.a.device != self.b.device:
            raise ValueError(
                f"a and b must have the same size and device, got {tuple(self.a.shape)} on {self.a.device} "
                f"and {tuple(self.b.shape)} on {self.b.device}"
            )

    @property
    def load_size(self) -> int:
        return self.a.shape[-1]

    @property
    def name(self) -> str:
        """The data in a few words, for figure titles: ``"drawn stand-in"`` or ``"horse2zebra photos"``."""
        return "drawn stand-in" if self.is_standin else "horse2zebra photos"

    @property
    def device(self) -> torch.device:
        return self.a.device

    def __repr__(self) -> str:
        return (
            f"UnpairedImages({len(self.a)} A + {len(self.b)} B, {self.load_size}x{self.load_size}, "
            f"{self.device}, {self.source})"
        )

    def to(self, device: torch.device | str) -> UnpairedImages:
        """The same images on ``device``."""
        return UnpairedImages(self.a.to(device), self.b.to(device), self.source, self.is_standin)

    def sample(
        self, batch_size: int, crop_size: int, *, flip: bool = True, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
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
            raise ValueError(
                f"crop_size must be an int from 1 to load_size ({self.load_size}), got {crop_size!r}; "
                f"load the data with a larger load_size or crop smaller"
            )
        return (
            _random_crops(self.a, batch_size, crop_size, flip, generator),
            _random_crops(self.b, batch_size, crop_size, flip, generator),
        )


def _random_crops(
    images: torch.Tensor, batch_size: int, crop: int, flip: bool, generator: torch.Generator | None
) -> torch.Tensor:
    """``batch_size`` random crops (optionally flipped) of random images of uint8 (N, C, H, W) ``images``.

    One gather from the flattened images with per-pixel offsets computed on their device.

    Returns:
        float32 (batch_size, C, crop, crop) in [-1, 1], on the device of ``images``.
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


def cache_path(folder: str | os.PathLike, split: str, load_size: int) -> Path:
    """Where the resized images of ``split`` are cached: ``<folder>/preprocessed/<split>_<load_size>px.pt``."""
    return Path(folder) / "preprocessed" / f"{split}_{int(load_size)}px.pt"


def load_folder(
    folder: str | os.PathLike,
    *,
    split: str = "train",
    load_size: int = 286,
    device: torch.device | str | None = None,
    source: str | None = None,
    is_standin: bool = False,
) -> UnpairedImages:
    """Images of ``<folder>/<split>A`` and ``<split>B``, resized to ``load_size`` once and cached.

    The cache (:func:`cache_path`, a uint8 tensor file written atomically) is reused while the
    file names and sizes of both folders are unchanged, and rebuilt otherwise.

    Args:
        split: ``"train"`` or ``"test"``.
        load_size: side after resizing, at least 8 pixels.
        source: what :attr:`UnpairedImages.source` says (default: the folder).

    Returns:
        :class:`UnpairedImages`, uint8 (N, 3, load_size, load_size), on ``device`` (default: the CPU).

    Raises:
        DatasetError: ``<split>A`` or ``<split>B`` holds no images.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(load_size, bool) or not isinstance(load_size, int) or load_size < 8:
        raise ValueError(
            f"load_size must be an int of at least 8 pixels (286 as the official code, 72 for a quick "
            f"run), got {load_size!r}"
        )
    folder = Path(folder)
    files = {side: image_files(folder / f"{split}{side}") for side in "AB"}
    empty = [f"{split}{side}" for side, found in files.items() if not found]
    if empty:
        raise DatasetError(
            f"No images (.jpg/.png) in {', '.join(str(folder / e) for e in empty)}. Delete {folder} and "
            f"run again, or put the horse2zebra images there."
        )
    key = json.dumps(
        {
            "version": _CACHE_VERSION,
            "load_size": load_size,
            **{side: [(p.name, p.stat().st_size) for p in found] for side, found in files.items()},
        }
    )
    cache = cache_path(folder, split, load_size)
    tensors = _read_cache(cache, key)
    if tensors is None:
        tensors = _resize_all(files["A"], load_size), _resize_all(files["B"], load_size)
        save_atomic({"key": key, "a": tensors[0], "b": tensors[1]}, cache)
    device = torch.device("cpu") if device is None else torch.device(device)
    return UnpairedImages(tensors[0].to(device), tensors[1].to(device), source or str(folder), is_standin)


def _read_cache(cache: Path, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The cached (a, b) uint8 CPU tensors if ``cache`` was written for ``key``; None if missing, stale or
    unreadable."""
    if not cache.exists():
        return None
    try:
        saved = torch.load(cache, map_location="cpu", weights_only=True)
        return (saved["a"], saved["b"]) if saved.get("key") == key else None
    except Exception:  # noqa: BLE001 - an unreadable cache is rebuilt
        return None


def _resize_all(files: list[Path], load_size: int) -> torch.Tensor:
    """Read and resize every image (bicubic, anti-aliased, as the official code): uint8 (N, 3, S, S) on the CPU."""
    from PIL import Image

    out = np.empty((len(files), load_size, load_size, 3), np.uint8)

    def read(i: int) -> None:
        with Image.open(files[i]) as image:
            out[i] = np.asarray(image.convert("RGB").resize((load_size, load_size), Image.BICUBIC))

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # PIL decodes without the GIL
        list(pool.map(read, range(len(files))))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
