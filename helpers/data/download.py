"""Checked, resumable, atomic downloads and zip archives (standard library only; tqdm for the bar).

- :func:`fetch` streams a URL into a ``.part`` file, resuming it with an HTTP Range request when
  the server allows it, and starting over when it does not;
- :func:`check_zip` checks a finished file (size, sha256, every member's CRC) before it is used;
- :func:`extract_zip` refuses members with unsafe paths before it writes anything;
- :func:`install_folder` puts a finished folder in place with renames, never half-written.

What the file is for (the final name, the archive's layout) is the caller's business: see
:func:`helpers.data.horse2zebra.download_horse2zebra`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path


class DownloadError(OSError):
    """The archive could not be fetched (no network, HTTP error, interrupted); the message says what to do."""


def fetch(
    url: str,
    part: Path,
    *,
    final: Path,
    size: int | None = None,
    timeout: float = 15.0,
    progress: bool = True,
    retries: int = 2,
) -> None:
    """Stream ``url`` into ``part``, resuming what is already there (HTTP Range) when the server allows it.

    Args:
        url: what to download.
        part: the file being written; it is kept after an interruption, and the next call resumes it.
        final: where the caller puts the finished file (its name labels the bar; the messages say
            to download it by hand to there).
        size: the expected size in bytes, or None; a server announcing another size is refused.
        timeout: seconds any network wait may take.
        progress: show a progress bar.
        retries: how many times an interrupted or refused transfer is started again in this call.

    Raises:
        DownloadError: the server cannot be reached, answers with an error or the transfer stops.
    """
    failures = 0
    while (retry := _attempt(url, part, final=final, size=size, timeout=timeout, progress=progress)) is not None:
        failures += 1
        if failures > retries:
            raise DownloadError(retry)


def _attempt(url: str, part: Path, *, final: Path, size: int | None, timeout: float, progress: bool) -> str | None:
    """One GET of ``url`` into ``part`` from its current size: None when ``part`` is complete, else why to try again."""
    hand = f"or download {url} yourself and put it at {final}"
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have == size:  # complete already (e.g. the check was interrupted)
        return None
    headers = {"User-Agent": "gan-course", **({"Range": f"bytes={have}-"} if have else {})}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        message = f"{url} answered HTTP {error.code} ({error.reason}). Try again later, {hand}."
        if error.code == 416 and have:  # the partial file does not fit what the server has: start over
            part.unlink()
            return message
        raise DownloadError(message) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"Could not reach {url} ({reason}). Check the network, {hand}.") from None
    with response:
        resumed = (
            bool(have)
            and response.status == 206
            and response.headers.get("Content-Range", "").startswith(f"bytes {have}-")
        )
        if response.status == 206 and not resumed:  # a part we did not ask for: start over
            part.unlink(missing_ok=True)
            return f"{url} answered a range request with another range. Try again later, {hand}."
        have = have if resumed else 0  # without Range support the server sends the whole file: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        if size is not None and total is not None and total != size:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{url} announces {total:,} bytes, but {final.name} has {size:,}: the address "
                f"may have changed. Check it, {hand}."
            )
        error_text = _stream(response, part, have=have, total=total, label=final.name, progress=progress)
    done = part.stat().st_size
    if total is None or done >= total:
        return None
    return (
        f"The download of {url} stopped at {done:,} of {total:,} bytes ({error_text}). Run it again to resume "
        f"from {part}, {hand}."
    )


def _stream(
    response: http.client.HTTPResponse, part: Path, *, have: int, total: int | None, label: str, progress: bool
) -> str:
    """Write the body to ``part`` (appended after its first ``have`` bytes, or from scratch when ``have`` is 0).

    Returns why the body may have ended early (the caller compares the size with ``total``).
    """
    from tqdm.auto import tqdm

    with (
        open(part, "ab" if have else "wb") as file,
        tqdm(
            total=total,
            initial=have,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=label,
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        try:
            while chunk := response.read(1 << 16):
                file.write(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as error:
            return f"{type(error).__name__}: {error}"
    return "the connection closed early"


def sha256_of(path: Path) -> str:
    """The sha256 of the file at ``path``, as lowercase hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_zip(path: Path, *, size: int | None = None, sha256: str | None = None) -> list[str]:
    """The member names of the zip at ``path``, after checking its size, sha256 and every member's CRC.

    Args:
        size, sha256: the expected size in bytes and checksum (hex); None skips that check.

    Raises:
        ValueError: saying what is wrong ("it has ... bytes", "its sha256", a corrupt member, not a zip).
    """
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise ValueError(f"it has {actual:,} bytes, expected {size:,} (truncated or a different file)")
    if sha256 and sha256_of(path) != sha256.lower():
        raise ValueError(f"its sha256 is not the expected {sha256}")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise ValueError(f"the member {bad} is corrupt (CRC check failed)")
            return archive.namelist()
    except (zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise ValueError(
            f"it is not a readable zip archive ({type(error).__name__}: {error}); truncated or corrupt"
        ) from None


def extract_zip(archive: Path, into: Path) -> None:
    """Extract every member of ``archive`` into the folder ``into``.

    Raises:
        ValueError: a member's path is absolute or climbs out with ``..`` (nothing is written then).
    """
    with zipfile.ZipFile(archive) as zipped:
        for name in zipped.namelist():
            if name.startswith(("/", "\\")) or ".." in Path(name).parts:
                raise ValueError(f"{archive} holds an unsafe path {name!r}")
        zipped.extractall(into)


def install_folder(built: Path, target: Path) -> None:
    """Rename the finished folder ``built`` to ``target`` (replacing an old one) without a half-written state.

    ``built`` must lie on the same file system as ``target`` (make it next to ``target``).
    """
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(built, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
