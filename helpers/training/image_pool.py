"""CycleGAN's image pool, as in the official junyanz code (lesson 5): the official pool of generated images
(Shrivastava et al.), kept **on the device**."""

from __future__ import annotations

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
            raise ValueError(
                f"ImagePool holds images of shape {tuple(self.images.shape[1:])}, got "
                f"{tuple(images.shape[1:])}: use one pool per image size."
            )
        n, out = len(images), images
        fill = min(n, self.pool_size - self.count)
        if fill > 0:  # filling phase: store and return as is
            self.images[self.count : self.count + fill] = images[:fill].to(self.images.dtype)
            self.count += fill
        rest = images[fill:]
        if len(rest):
            swap = torch.rand(len(rest), device=images.device) < 0.5
            if len(rest) <= self.pool_size:  # distinct slots: nothing is lost or returned twice
                slot = torch.rand(self.pool_size, device=images.device).argsort()[: len(rest)]
            else:
                slot = torch.randint(self.pool_size, (len(rest),), device=images.device)
            stored = self.images[slot]
            keep = swap.view(-1, *([1] * (images.dim() - 1)))
            returned = torch.where(keep, stored.to(images.dtype), rest)
            self.images[slot] = torch.where(keep, rest.to(self.images.dtype), stored)
            out = torch.cat([images[:fill], returned]) if fill else returned
        return out

    def state_dict(self) -> dict:
        return {
            "pool_size": self.pool_size,
            "count": self.count,
            "images": None if self.images is None else self.images.cpu(),
        }

    def load_state_dict(self, state: dict, device: torch.device | str | None = None) -> None:
        """Load :meth:`state_dict`; the images stay where they were loaded (``checkpoint.load``'s ``map_location``)
        unless ``device`` is given."""
        self.pool_size, self.count = int(state["pool_size"]), int(state["count"])
        images = state["images"]
        self.images = None if images is None else images if device is None else images.to(device)
