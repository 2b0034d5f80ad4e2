"""Atomic checkpoints: a crash or a full disk never leaves a half-written file behind.

The state is written to a temporary file in the same folder, flushed to disk, and
renamed over the target in one step (``os.replace``), so the file on disk is always
either the old checkpoint or the new one.

A checkpoint holds only state dicts, tensors, numbers, strings, lists and tuples (the NumPy generator's state is
stored as a tensor), so :func:`load` reads it with ``torch.load(weights_only=True)``: a file that holds pickled
code or objects is refused, never run.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
        return load_plain(path, map_location=map_location)
    except Exception as error:  # noqa: BLE001 - any failure means "not a checkpoint"
        culprit = refused_global(error)
        reason = (
            f"it holds pickled code or objects ({culprit}), which are never loaded: a checkpoint holds only "
            f"tensors, numbers and strings"
            if culprit
            else short_reason(error)
        )
        raise ValueError(
            f"{path} is not a readable checkpoint ({reason}). Delete it to start again, or pass another path."
        ) from error


def load_plain(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors, numbers, strings, lists, tuples and dicts only; a pickled
    function or class (code that unpickling would run) raises ``pickle.UnpicklingError`` (see :func:`refused_global`).

    NumPy arrays of numbers are allowed too (checkpoints written before the NumPy generator's state was stored as
    a tensor hold one).
    """
    with torch.serialization.safe_globals(_numpy_array_globals()):
        return torch.load(path, map_location=map_location, weights_only=True)


def refused_global(error: BaseException) -> str | None:
    """The function or class (e.g. ``posix.system``) whose pickle :func:`load_plain` refused, or ``None`` when
    ``error`` is something else (a truncated or corrupt file)."""
    if not isinstance(error, pickle.UnpicklingError):
        return None
    found = re.search(r"GLOBAL ([\w.]+)", str(error))
    return found.group(1) if found else None


def short_reason(error: BaseException) -> str:
    """One line on why a load failed, without torch's advice to retry with ``weights_only=False`` (never do)."""
    text = str(error)
    if "WeightsUnpickler error:" in text:  # torch's refusal of a corrupt pickle: keep only what it found
        found = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation of torch.load")[0]
        text = "corrupt or not a PyTorch file: " + found
    line = " ".join(text.split())
    return f"{type(error).__name__}: {line[:300]}"


def _numpy_array_globals() -> list:
    """What ``pickle`` needs to rebuild a NumPy array (of numbers) and nothing more."""
    core = getattr(np, "_core", None) or np.core
    return [np.ndarray, np.dtype, core.multiarray._reconstruct, type(np.dtype(np.uint32))]


def rng_state() -> dict[str, Any]:
    """The state of every random number generator (Python, NumPy, torch CPU and CUDA)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    numpy_state = (kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached))
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.random.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    kind, keys, *rest = state["numpy"]
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)  # a NumPy array in older checkpoints
    np.random.set_state((kind, keys.astype(np.uint32), *rest))
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


def restore(
    path: str | os.PathLike, parts: Mapping[str, Any], *, map_location: str | torch.device = "cpu"
) -> dict[str, Any] | None:
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
