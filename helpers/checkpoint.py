"""Atomic checkpoints: a crash or a full disk never leaves a half-written file behind.

The state is written to a temporary file in the same folder, flushed to disk, and
renamed over the target in one step (``os.replace``), so the file on disk is always
either the old checkpoint or the new one.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch


def save_atomic(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save(state, path)``, atomically. Creates the folder if needed; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_atomic`.

    Raises:
        FileNotFoundError: with the path, when there is no checkpoint there.
        ValueError: when the file is not a readable checkpoint (the message says to delete it or pick another).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # noqa: BLE001 - any failure means "not a checkpoint"
        raise ValueError(f"{path} is not a readable checkpoint ({type(error).__name__}: {error}). "
                         f"Delete it to start again, or pass another path.") from error


def rng_state() -> dict[str, Any]:
    """The state of every random number generator (Python, NumPy, torch CPU and CUDA)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.random.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.random.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def training_state(step: int, parts: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """A trainer's checkpoint: ``state_dict()`` of every named part (networks, optimizers, pools, the history),
    the step, ``extra`` (tensors are stored on the CPU) and the state of every random number generator."""
    state: dict[str, Any] = {"step": int(step)}
    state.update({name: part.state_dict() for name, part in parts.items()})
    state.update({name: value.cpu() if isinstance(value, torch.Tensor) else value for name, value in extra.items()})
    state["rng"] = rng_state()
    return state


def restore(path: str | os.PathLike, parts: Mapping[str, Any], *,
            map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """Load the checkpoint at ``path`` into every named part (``part.load_state_dict``) and restore the random
    number generators; returns the whole state (for the step and the extras), or ``None`` when there is no file.

    Raises:
        ValueError: the file is not a readable checkpoint (see :func:`load`).
    """
    try:
        state = load(path, map_location=map_location)
    except FileNotFoundError:
        return None
    for name, part in parts.items():
        part.load_state_dict(state[name])
    set_rng_state(state["rng"])
    return state
