"""CycleGAN's image pool and learning-rate schedule, as in the official junyanz code.

- :class:`ImagePool`: the official pool of generated images (Shrivastava et al.), kept **on the device**;
- :func:`linear_decay`: the official learning-rate rule (constant, then linear decay to zero).
"""

from __future__ import annotations

from typing import Callable

import torch


class ImagePool:
    """The official history of generated images (Shrivastava et al.), kept on the device.

    While fewer than ``pool_size`` images are stored, every image is stored and returned as it is. Once full, each
    image of a query is, with probability 1/2, swapped with a random stored one (the stored one is returned, the new
    one takes its place), else returned as it is. ``pool_size=0`` disables the pool.

    The stored images are one tensor (pool_size, C, H, W) on the images' device and the choice is made with
    ``torch.rand`` + ``torch.where``: no host synchronisation, and once the pool is full a query has fixed shapes
    (what a CUDA graph needs). The images of one batch swap with distinct slots, so every image that goes in is
    returned or stored exactly once (the official per-image loop may hand an image of the batch back at once).
    """

    def __init__(self, pool_size: int = 50) -> None:
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.pool_size = pool_size
        self.count = 0
        self.images: torch.Tensor | None = None

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> (N, C, H, W) to show the discriminator (detached)."""
        images = images.detach()
        if self.pool_size == 0:
            return images
        if self.images is None:
            self.images = torch.zeros((self.pool_size, *images.shape[1:]), dtype=images.dtype, device=images.device)
        elif self.images.shape[1:] != images.shape[1:]:
            raise ValueError(f"ImagePool holds images of shape {tuple(self.images.shape[1:])}, got "
                             f"{tuple(images.shape[1:])}: use one pool per image size.")
        n, out = len(images), images
        fill = min(n, self.pool_size - self.count)
        if fill > 0:  # filling phase: store and return as is
            self.images[self.count:self.count + fill] = images[:fill].to(self.images.dtype)
            self.count += fill
        rest = images[fill:]
        if len(rest):
            swap = torch.rand(len(rest), device=images.device) < 0.5
            if len(rest) <= self.pool_size:  # distinct slots: nothing is lost or returned twice
                slot = torch.rand(self.pool_size, device=images.device).argsort()[:len(rest)]
            else:
                slot = torch.randint(self.pool_size, (len(rest),), device=images.device)
            stored = self.images[slot]
            keep = swap.view(-1, *([1] * (images.dim() - 1)))
            returned = torch.where(keep, stored.to(images.dtype), rest)
            self.images[slot] = torch.where(keep, rest.to(self.images.dtype), stored)
            out = torch.cat([images[:fill], returned]) if fill else returned
        return out

    def state_dict(self) -> dict:
        return {"pool_size": self.pool_size, "count": self.count,
                "images": None if self.images is None else self.images.cpu()}

    def load_state_dict(self, state: dict, device: torch.device | str | None = None) -> None:
        """Load :meth:`state_dict`; the images stay where they were loaded (``checkpoint.load``'s ``map_location``)
        unless ``device`` is given."""
        self.pool_size, self.count = int(state["pool_size"]), int(state["count"])
        images = state["images"]
        self.images = None if images is None else images if device is None else images.to(device)


def linear_decay(n_constant: int, n_decay: int, *, start: int = 0) -> Callable[[int], float]:
    """The official learning-rate factor: 1 for ``n_constant`` epochs (or steps), then linear decay.

    ``factor(t) = 1 - max(0, t + 1 + start - n_constant) / (n_decay + 1)`` as in the official ``lambda_rule``
    (``epoch_count = start + 1``): after the last of the ``n_constant + n_decay`` epochs it has reached
    ``1 / (n_decay + 1)``, and 0 one epoch later. Use with ``torch.optim.lr_scheduler.LambdaLR`` or
    :class:`helpers.cycle_trainer.CycleGANTrainer` (``lr_factor=``).
    """
    if n_constant < 0 or n_decay < 0:
        raise ValueError(f"n_constant and n_decay must be >= 0, got {n_constant}, {n_decay}")

    def factor(t: int) -> float:
        return max(0.0, 1.0 - max(0, t + 1 + start - n_constant) / float(n_decay + 1))

    return factor
