"""Device selection, CPU threading and reproducibility.

Every function takes the device explicitly; nothing here runs on import. PyTorch and NumPy are imported by the
functions that use them, so that :func:`choose_cpu_threads` can run before PyTorch starts its thread pool.
"""

from __future__ import annotations

import os
import platform
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEVICE_ENV = "GAN_COURSE_DEVICE"
_KNOWN = ("cpu", "cuda", "mps")
# Thread counts a person may set before starting Jupyter; choose_cpu_threads keeps them.
THREAD_COUNT_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Idle OpenMP threads sleep at once instead of spinning: GNU libgomp (PyTorch's wheels for Linux and Windows) and
# LLVM libomp (macOS) read OMP_WAIT_POLICY, Intel's libiomp KMP_BLOCKTIME. Read once, when the runtime loads.
PASSIVE_WAIT_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}


@dataclass(frozen=True)
class CpuThreads:
    """What :func:`choose_cpu_threads` decided.

    Attributes:
        threads: the math threads PyTorch will use; ``None``: left as PyTorch chooses.
        reason: why, in a few words.
        environment: the variables it set (empty when it set nothing).
    """

    threads: int | None
    reason: str
    environment: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"CPU threads: {self.reason}"


_chosen: CpuThreads | None = None  # the choice made in this process, reported again when the cell runs again


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (a container's or taskset's share)
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _gpu_present() -> str | None:
    """A GPU PyTorch would train on, found without importing PyTorch (which would start its threads); else None."""
    if any(Path("/proc/driver/nvidia/gpus").glob("*")) or Path("/dev/nvidia0").exists():
        return "an NVIDIA GPU"
    if sys.platform == "win32" and (Path(os.environ.get("SystemRoot", "C:/Windows")) / "System32/nvcuda.dll").exists():
        return "an NVIDIA GPU"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "an Apple GPU (MPS)"
    return None


def choose_cpu_threads(
    environ: dict[str, str] | None = None,
    *,
    cores: int | None = None,
    gpu: str | None | bool = False,
    torch_imported: bool | None = None,
    verbose: bool = True,
) -> CpuThreads:
    """Choose PyTorch's CPU threading so that training slows down in proportion to other load on the machine.

    Call it in a notebook's first cell, before ``import torch``: it sets environment variables that PyTorch and its
    OpenMP runtime read once, when they load. On a CPU it asks for half the cores as math threads (one on a 2-core
    machine) and for idle threads that sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``). With PyTorch's
    default (a spinning thread per core), a training step beside two busy programs on 2 cores ran 5 to 180 times
    slower than alone; with this choice 1.3 to 1.7 times (``python bench/cpu_threads.py``, bench/README.md).

    It changes nothing when ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is already set (your choice), when PyTorch was
    imported already (too late: its threads exist; restart the kernel), or on a GPU (set ``GAN_COURSE_DEVICE=cpu``
    to train on the CPU anyway).

    Args:
        environ: the environment to read and change (default: ``os.environ``).
        cores: CPU cores to plan for (default: those this process may use).
        gpu: what a GPU check found (default: looks for one without importing PyTorch); ``None``: no GPU.
        torch_imported: whether PyTorch is imported already (default: looks in ``sys.modules``).
        verbose: print the choice.
    """
    global _chosen
    env = os.environ if environ is None else environ
    if torch_imported is None:
        torch_imported = "torch" in sys.modules
    gpu = _gpu_present() if gpu is False else gpu
    requested = (env.get(DEVICE_ENV) or "").strip().lower()
    set_by_you = [f"{name}={env[name]}" for name in THREAD_COUNT_ENV if env.get(name)]
    if environ is None and torch_imported and _chosen is not None:
        choice = _chosen  # this cell ran before in this kernel
    elif set_by_you:
        choice = CpuThreads(None, f"{', '.join(set_by_you)}, set before Jupyter started: kept")
    elif torch_imported:
        choice = CpuThreads(
            None,
            "PyTorch was imported before this cell, so its threads are as it chose; restart the kernel and run the "
            "notebook from the top to choose them here",
        )
    elif requested.startswith(("cuda", "mps")) or (gpu and not requested.startswith("cpu")):
        choice = CpuThreads(None, f"left to PyTorch (training runs on {gpu or requested})")
    else:
        cores = cores or _cpu_cores()
        threads = max(1, cores // 2)
        settings = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        settings.update({k: v for k, v in PASSIVE_WAIT_ENV.items() if not env.get(k)})
        env.update(settings)
        choice = CpuThreads(
            threads,
            f"{threads} of {cores} cores, idle threads sleep (OMP_NUM_THREADS={threads}, OMP_WAIT_POLICY="
            f"{settings.get('OMP_WAIT_POLICY', env.get('OMP_WAIT_POLICY'))}): other programs slow training only in "
            f"proportion to their load. Set OMP_NUM_THREADS before starting Jupyter to choose yourself.",
            settings,
        )
        if environ is None:
            _chosen = choice
    if verbose:
        print(choice)
    return choice


def _mps_available() -> bool:
    import torch

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
    import torch

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
    import torch

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
    import torch

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
    import numpy as np
    import torch

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
    import torch

    if isinstance(shape, int):
        shape = (shape,)
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator).to(device)
