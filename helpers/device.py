"""Device selection and reproducibility.

Every function takes the device explicitly; nothing here runs on import.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICE_ENV = "GAN_COURSE_DEVICE"
_KNOWN = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(preferred: str | None = None, *, verbose: bool = False) -> torch.device:
    """Return the device to train on.

    Order: ``preferred`` if given, else the environment variable
    ``GAN_COURSE_DEVICE`` if set, else CUDA, then Apple MPS, then CPU.

    Args:
        preferred: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``None``.
        verbose: print which device was chosen and why.

    Raises:
        ValueError: the requested device is unknown or not available on this
            machine (the message says what to set instead).
    """
    source = "argument"
    if preferred is None:
        preferred = os.environ.get(DEVICE_ENV) or None
        source = f"${DEVICE_ENV}"
    if preferred is not None:
        device = _parse(preferred, source)
        _check_available(device, source)
        reason = f"requested by {source}"
    elif torch.cuda.is_available():
        device, reason = torch.device("cuda"), "CUDA GPU found"
    elif _mps_available():
        device, reason = torch.device("mps"), "Apple GPU (MPS) found"
    else:
        device, reason = torch.device("cpu"), "no GPU found"
    if verbose:
        print(f"Device: {device} ({reason})")
    return device


def _parse(name: str, source: str) -> torch.device:
    kind = str(name).strip().lower().split(":")[0]
    if kind not in _KNOWN:
        raise ValueError(
            f"Unknown device {name!r} (from {source}). Use one of 'cpu', 'cuda', 'cuda:N' or 'mps', "
            f"or unset {DEVICE_ENV} to choose automatically."
        )
    try:
        return torch.device(str(name).strip().lower())
    except RuntimeError:
        raise ValueError(
            f"Invalid device {name!r} (from {source}). Use 'cpu', 'cuda', 'cuda:N' (N = 0, 1, ...) or 'mps', "
            f"or unset {DEVICE_ENV} to choose automatically."
        ) from None


def _check_available(device: torch.device, source: str) -> None:
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"Device {device} was requested by {source}, but PyTorch sees no CUDA GPU here. "
                f"Use 'cpu' (or unset {DEVICE_ENV}), or install a CUDA build of PyTorch."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"Device {device} was requested by {source}, but only "
                f"{torch.cuda.device_count()} CUDA device(s) exist (cuda:0 ...)."
            )
    if device.type == "mps" and not _mps_available():
        raise ValueError(
            f"Device mps was requested by {source}, but Apple MPS is not available here. "
            f"Use 'cpu' (or unset {DEVICE_ENV})."
        )


def set_seed(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) for a reproducible run.

    Call it once in a notebook's setup cell. Returns a CPU ``torch.Generator``
    seeded with the same value, for code that wants its own random stream.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds CUDA and MPS
    return torch.Generator().manual_seed(seed)


def fixed_noise(shape: tuple[int, ...] | int, *, seed: int = 0, device: torch.device | str = "cpu") -> torch.Tensor:
    """A batch of standard-normal noise that is the same every time it is asked for.

    Drawn from its own ``torch.Generator`` on the CPU (so it is identical on
    every device and does not disturb the global RNG), then moved to ``device``.
    Reuse it for every sample grid so grids are comparable over training.

    Returns:
        float32 tensor of ``shape`` on ``device``.
    """
    if isinstance(shape, int):
        shape = (shape,)
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator).to(device)
