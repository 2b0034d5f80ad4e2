"""horse2zebra for the CycleGAN lesson: the real data set, or an offline stand-in in the same layout.

Which one is the caller's choice (:func:`load_horse2zebra`'s ``data``): ``"standin"`` always trains on the
stand-in (lesson 5's cpu and quick profiles: the same data for every student, network or not), ``"photos"`` on the
official photos or an error saying how to get them, ``"auto"`` on the photos when they can be had, else the stand-in
(the full profile). For ``"photos"`` and ``"auto"`` these are tried in this order:

1. the official folder ``<data root>/horse2zebra/{trainA,trainB,testA,testB}`` (already there);
2. the official archive ``<data root>/horse2zebra.zip``, downloaded by :func:`download_horse2zebra`
   (or put there by hand): validated, then extracted;
3. offline (``offline=``, no network, a failed download): a procedurally drawn stand-in in the
   same layout (:func:`make_standin`, drawn by :mod:`helpers.data.horse_zebra_standin`) -- plain-coated horse
   silhouettes vs the same shapes with zebra stripes, on grass/sand/sky backgrounds -- that a
   quick CPU run can learn.

Downloads stream to ``horse2zebra.zip.part`` (resumed with an HTTP Range request when the
server allows it), are checked (size, sha256, zip CRCs, image counts) and renamed to the final
name only when complete and valid; extraction goes to a temporary folder renamed in one step
(:mod:`helpers.data.download`). A corrupt or truncated archive raises :class:`DatasetError` and leaves
nothing half-written. The images are resized once and cached, then cropped on the training
device (:mod:`helpers.data.unpaired_images`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from helpers.data.download import DownloadError, check_zip, extract_zip, fetch, install_folder
from helpers.data.horse_zebra_standin import save_animals
from helpers.data.mnist import data_root
from helpers.data.unpaired_images import (
    IMAGE_SUFFIXES,
    SPLITS,
    DatasetError,
    UnpairedImages,
    cache_path,
    image_files,
    load_folder,
)
from helpers.profiles import OFFLINE_ENV

__all__ = [
    "ARCHIVE",
    "DATA_CHOICES",
    "FOLDER",
    "OFFICIAL_COUNTS",
    "OFFICIAL_SHA256",
    "OFFICIAL_SIZE",
    "OFFICIAL_URL",
    "STANDIN_COUNTS",
    "STANDIN_FOLDER",
    "DatasetError",
    "DownloadError",
    "UnpairedImages",
    "cache_path",
    "check_folder",
    "download_horse2zebra",
    "load_folder",
    "load_horse2zebra",
    "make_standin",
]

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
OFFICIAL_SOURCE = "horse2zebra (official)"
STANDIN_SOURCE = "procedural stand-in"
DATA_CHOICES = ("auto", "standin", "photos")
_STANDIN_VERSION = 1


# --- which data ------------------------------------------------------------------------------------


def load_horse2zebra(
    root: str | os.PathLike | None = None,
    *,
    split: str = "train",
    load_size: int = 286,
    data: str = "auto",
    offline: str | bool | None = None,
    device: torch.device | str | None = None,
    url: str = OFFICIAL_URL,
    counts: dict[str, int] | None = None,
    verbose: bool = True,
) -> UnpairedImages:
    """The data ``data`` asks for: the official photos, the procedural stand-in, or the first that is there; says which.

    ``data="auto"``, in order: the folder ``<data root>/horse2zebra``; the archive ``<data root>/horse2zebra.zip``
    (extracted); a download (unless offline); the stand-in ``<data root>/horse2zebra_standin``
    (drawn on first use, a few seconds). ``"standin"`` goes straight to the stand-in (nothing is looked up or
    downloaded, so every caller gets the same images); ``"photos"`` tries the first three and raises instead of
    falling back. Images are resized to ``load_size`` (bicubic) once and cached.
    Reads no environment variable: the caller says which data and whether it is offline.

    Args:
        root: data folder (see :func:`helpers.data.mnist.data_root`).
        split: ``"train"`` or ``"test"``.
        load_size: side after resizing; 286 (crop 256) as the official code, e.g. 72 (crop 64) for a quick run.
        data: ``"auto"`` (the photos if there or downloadable, else the stand-in), ``"standin"`` or ``"photos"``.
        offline: never download: ``True`` or the reason (a lesson passes ``profile.offline``: ``$GAN_COURSE_OFFLINE``,
            nbgrader grading, CI); ``None``/``False``: download when the data is missing.
        device: where the images live (default: the CPU); pass ``get_device()``.
        url, counts: the archive's address and image counts (see :func:`download_horse2zebra`).
        verbose: print which data is used and how many images (and a progress bar while downloading).

    Returns:
        :class:`UnpairedImages` with uint8 (N, 3, load_size, load_size) tensors (values 0..255) on ``device``.

    Raises:
        DatasetError: a folder or archive put in the data root is incomplete or corrupt, or ``data="photos"`` and
            the photos cannot be had (the message says what to do).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if data not in DATA_CHOICES:
        raise ValueError(
            f"data must be one of {DATA_CHOICES}, got {data!r}: 'standin' for the drawn horses and zebras, "
            f"'photos' for the official horse2zebra photos, 'auto' for the photos when they can be had"
        )
    root = data_root(root)
    if data == "standin":
        folder, note = None, "chosen (data='standin'): the same drawn images for everyone, nothing downloaded"
    else:
        folder, note = _official_folder(root, offline=offline, url=url, counts=counts, verbose=verbose)
    if folder is None and data == "photos":
        raise DatasetError(
            f"The horse2zebra photos are not available ({note}). Allow the download (unset {OFFLINE_ENV}), or put "
            f"the archive {url} at {root / ARCHIVE}, or train on the stand-in with data='standin'."
        )
    if folder is not None:
        images = load_folder(
            folder, split=split, load_size=load_size, device=device, source=f"{OFFICIAL_SOURCE} from {folder}"
        )
    else:
        folder = make_standin(root)
        images = load_folder(
            folder,
            split=split,
            load_size=load_size,
            device=device,
            is_standin=True,
            source=f"{STANDIN_SOURCE} (drawn horses and zebras, not photos) from {folder}; {note}",
        )
    if verbose:
        print(
            f"horse2zebra source: {images.source}\n  {split}: {len(images.a)} A (horses), {len(images.b)} B (zebras), "
            f"resized to {load_size}x{load_size}, on {images.device}"
        )
    return images


def _official_folder(
    root: Path, *, offline: str | bool | None, url: str, counts: dict[str, int] | None, verbose: bool
) -> tuple[Path | None, str]:
    """The official folder (there, extracted or downloaded) and "", or None and why not (for the source line).

    A folder or archive already in ``root`` is always used (a broken one raises); a download is tried
    only when not ``offline``, and its failure is the reason returned.
    """
    if (root / FOLDER).is_dir() or (root / ARCHIVE).exists():
        return download_horse2zebra(root, url=url, counts=counts, progress=verbose), ""
    if offline:
        return None, f"offline ({offline if isinstance(offline, str) else 'offline=True'}): no download tried"
    if verbose:
        size = " (117 MB)" if url == OFFICIAL_URL else ""
        print(f"horse2zebra is not in {root}; downloading {url}{size} (set {OFFLINE_ENV}=1 to skip)...")
    try:
        return download_horse2zebra(root, url=url, counts=counts, progress=verbose), ""
    except (OSError, DatasetError) as error:
        return None, f"download failed: {error}"


# --- the stand-in ---------------------------------------------------------------------------------


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
    the same random backgrounds, poses, sizes and positions (:mod:`helpers.data.horse_zebra_standin`). Deterministic
    given ``seed``; a folder drawn earlier with the same settings is reused (a ``standin.json``
    records them). It is drawn in a temporary folder and renamed into place when complete.

    Args:
        root: data folder (see :func:`helpers.data.mnist.data_root`).
        counts: images per folder, default ``STANDIN_COUNTS`` (200/200/40/40).
        size: image side in pixels (at least 32).
        seed: the random seed of the drawing.
    """
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
    with tempfile.TemporaryDirectory(prefix=f".{STANDIN_FOLDER}-", dir=root, ignore_cleanup_errors=True) as scratch:
        built = Path(scratch)
        for index, (name, n) in enumerate(sorted(counts.items())):
            save_animals(built / name, int(n), zebra=name.endswith("B"), size=int(size), seed=[int(seed), index])
        (built / "standin.json").write_text(json.dumps(settings))
        if _standin_settings(target) != settings:  # another process may have drawn the same meanwhile
            install_folder(built, target)
    return target


def _standin_settings(folder: Path) -> dict | None:
    """The settings a stand-in folder was drawn with (its ``standin.json``), or None."""
    try:
        return json.loads((folder / "standin.json").read_text())
    except (OSError, ValueError):
        return None


# --- the official archive -------------------------------------------------------------------------


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
    before it is renamed to ``horse2zebra.zip``; a bad one is deleted. It reads no environment
    variable: called, it downloads (:func:`load_horse2zebra` takes ``offline``).

    Args:
        root: data folder (see :func:`helpers.data.mnist.data_root`).
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
    target, archive = root / FOLDER, root / ARCHIVE
    if target.is_dir():
        return check_folder(target, counts)
    root.mkdir(parents=True, exist_ok=True)
    if archive.exists():  # downloaded earlier or put there by hand: no network needed
        try:
            _check_archive(archive, counts=counts)
        except ValueError as error:
            raise DatasetError(
                f"{archive} is not a usable horse2zebra archive: {error}. Delete it and run again "
                f"to download it, or put a good copy of {url} there."
            ) from None
    else:
        part = archive.with_name(ARCHIVE + ".part")
        fetch(url, part, final=archive, size=size, timeout=timeout, progress=progress, retries=retries)
        try:
            _check_archive(part, size=size, sha256=sha256 or None, counts=counts)
        except ValueError as error:
            part.unlink(missing_ok=True)
            raise DatasetError(
                f"The archive downloaded from {url} is unusable: {error}. It was deleted; run again to "
                f"download it again, or download it yourself and put it at {archive}."
            ) from None
        os.replace(part, archive)
    return _extract(archive, target, counts)


def check_folder(folder: str | os.PathLike, counts: dict[str, int] | None = None) -> Path:
    """Check that ``folder`` holds trainA/trainB/testA/testB with exactly ``counts`` images each; return it.

    Args:
        counts: expected images per subfolder (default: the official ``OFFICIAL_COUNTS``).

    Raises:
        DatasetError: a subfolder is missing or has another number of images; the message names it
            and says to delete the folder so that it is extracted again.
    """
    folder = Path(folder)
    counts = OFFICIAL_COUNTS if counts is None else counts
    found = {name: len(image_files(folder / name)) for name in counts}
    wrong = {name: n for name, n in found.items() if n != counts[name]}
    if wrong:
        details = ", ".join(f"{name}: {found[name]} images, expected {counts[name]}" for name in wrong)
        raise DatasetError(
            f"{folder} is not a complete horse2zebra folder ({details}). Delete {folder} and run again: "
            f"the data is then extracted again from {folder.parent / ARCHIVE} (or downloaded)."
        )
    return folder


def _check_archive(path: Path, *, size: int | None = None, sha256: str | None = None, counts: dict[str, int]) -> None:
    """Raise ValueError saying what is wrong with the archive at ``path`` (size, checksum, CRCs, image counts)."""
    found = _zip_counts(check_zip(path, size=size, sha256=sha256))
    wrong = [
        f"{name}: {found.get(name, 0)} images, expected {n}" for name, n in counts.items() if found.get(name, 0) != n
    ]
    if wrong:
        raise ValueError("it does not hold the horse2zebra images (" + ", ".join(wrong) + ")")


def _zip_counts(names: list[str]) -> dict[str, int]:
    """Images per folder name (trainA, ...) among zip member names laid out as <top>/<name>/<file>."""
    counts: dict[str, int] = {}
    for name in names:
        parts = name.split("/")
        if len(parts) >= 2 and Path(parts[-1]).suffix.lower() in IMAGE_SUFFIXES and not parts[-1].startswith("."):
            counts[parts[-2]] = counts.get(parts[-2], 0) + 1
    return counts


def _extract(archive: Path, target: Path, counts: dict[str, int]) -> Path:
    """Extract ``archive`` into a temporary folder next to ``target``, check it, rename it to ``target``."""
    with tempfile.TemporaryDirectory(
        prefix=f".{target.name}-extract-", dir=target.parent, ignore_cleanup_errors=True
    ) as scratch:
        scratch = Path(scratch)
        try:
            extract_zip(archive, scratch)
        except ValueError as error:
            raise DatasetError(f"{error}; it is not the horse2zebra archive. Delete it and run again.") from None
        first = next(iter(counts))
        found = [
            p.parent
            for p in (scratch / target.name / first, *scratch.glob(f"*/{first}"), scratch / first)
            if p.is_dir() and "__MACOSX" not in p.parts
        ]
        if not found:
            raise DatasetError(
                f"{archive} has no {first} folder; it is not the horse2zebra archive. Delete it and run again."
            )
        check_folder(found[0], counts)
        install_folder(found[0], target)
    return target
