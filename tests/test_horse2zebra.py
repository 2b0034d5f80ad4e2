"""Unit tests for helpers.data.horse2zebra and the modules it is built from.

helpers.data.download (checked, resumable download against a real HTTP server on 127.0.0.1),
helpers.data.horse_zebra_standin (the drawn stand-in), helpers.data.unpaired_images (resize cache, on-device batches)
and helpers.data.horse2zebra (which data).
"""

from __future__ import annotations

import http.server
import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.data import horse2zebra as h2z
from helpers.data.download import DownloadError
from helpers.data.horse2zebra import (
    ARCHIVE,
    FOLDER,
    STANDIN_FOLDER,
    check_folder,
    download_horse2zebra,
    load_horse2zebra,
    make_standin,
)
from helpers.data.unpaired_images import DatasetError, UnpairedImages, cache_path, load_folder

SMALL = {"trainA": 3, "trainB": 4, "testA": 2, "testB": 2}  # the official layout with small counts
TINY_STANDIN = {"trainA": 6, "trainB": 6, "testA": 2, "testB": 2}


def _jpeg(seed: int, size: int = 20) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def _zip(counts: dict[str, int], top: str = f"{FOLDER}/") -> bytes:
    """A zip laid out as the official one: horse2zebra/<trainA|...>/<n>.jpg (stored, so bytes can be damaged)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        seed = 0
        for name, n in counts.items():
            for i in range(n):
                seed += 1
                archive.writestr(f"{top}{name}/n{i:05d}.jpg", _jpeg(seed))
    return buffer.getvalue()


GOOD = _zip(SMALL)


def _corrupt(data: bytes) -> bytes:
    """Flip bytes inside the first member's image data: the zip directory stays readable, a CRC fails."""
    damaged = bytearray(data)
    start = data.index(b"\xff\xd8")  # the first JPEG's start marker, inside the first member
    for i in range(start + 100, start + 140):
        damaged[i] ^= 0xFF
    return bytes(damaged)


class Server:
    """A real ThreadingHTTPServer on 127.0.0.1 serving byte strings by path, with HTTP Range support.

    ``short_once``: paths whose first GET announces the full length but sends only half and closes.
    ``ranges``: whether Range requests are honoured (206) or ignored (200 with the whole file).
    ``requests``: (path, Range header) of every request, in order.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.short_once: set[str] = set()
        self.ranges = True
        self.range_shift = 0  # > 0: answer a Range request with a later part than asked (a broken server)
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                server.requests.append((self.path, self.headers.get("Range")))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                wanted = self.headers.get("Range")
                if wanted and server.ranges:
                    start = int(wanted.removeprefix("bytes=").split("-")[0]) + server.range_shift
                    if start >= len(data):
                        self.send_error(416, "Range Not Satisfiable")
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.short_once:
                    server.short_once.discard(self.path)
                    body = body[: len(body) // 2]
                    self.close_connection = True
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    s.files = {
        "/good.zip": GOOD,
        "/truncated.zip": GOOD[: len(GOOD) * 2 // 3],
        "/corrupt.zip": _corrupt(GOOD),
        "/incomplete.zip": _zip({**SMALL, "trainB": 3}),
    }
    yield s
    s.close()


def _leftovers(root: Path) -> list[str]:
    """Everything in the data root apart from a finished folder or archive (temp folders, .part files)."""
    return sorted(p.name for p in root.iterdir() if p.name not in (FOLDER, ARCHIVE))


def _download(root, server, path, **kwargs):
    return download_horse2zebra(root, url=server.url(path), counts=SMALL, progress=False, **kwargs)


def test_the_public_names_stay_importable_from_horse2zebra():
    import helpers.data.download
    import helpers.data.unpaired_images

    for name in (
        "load_horse2zebra",
        "UnpairedImages",
        "DatasetError",
        "DownloadError",
        "FOLDER",
        "STANDIN_FOLDER",
        "make_standin",
        "download_horse2zebra",
        "load_folder",
        "cache_path",
        "check_folder",
    ):
        assert name in h2z.__all__ and hasattr(h2z, name)
    assert (
        h2z.UnpairedImages is helpers.data.unpaired_images.UnpairedImages
        and h2z.DatasetError is helpers.data.unpaired_images.DatasetError
    )
    assert h2z.DownloadError is helpers.data.download.DownloadError


# --- download ------------------------------------------------------------------------------------


def test_download_extracts_a_checked_folder(tmp_path, server):
    folder = _download(tmp_path, server, "/good.zip")
    assert folder == tmp_path / FOLDER
    assert {name: len(list((folder / name).glob("*.jpg"))) for name in SMALL} == SMALL
    assert (tmp_path / ARCHIVE).read_bytes() == GOOD
    assert _leftovers(tmp_path) == []
    # a second call finds the folder and does not touch the network
    assert _download(tmp_path, server, "/good.zip") == folder
    assert len(server.requests) == 1


def test_download_resumes_an_interrupted_transfer_with_a_range_request(tmp_path, server):
    server.short_once.add("/good.zip")
    folder = _download(tmp_path, server, "/good.zip")
    half = len(GOOD) // 2
    assert server.requests == [("/good.zip", None), ("/good.zip", f"bytes={half}-")]
    assert (tmp_path / ARCHIVE).read_bytes() == GOOD
    check_folder(folder, SMALL)
    assert _leftovers(tmp_path) == []


def test_interrupted_download_keeps_the_partial_file_and_the_next_call_resumes(tmp_path, server):
    server.short_once.add("/good.zip")
    with pytest.raises(DownloadError, match=r"stopped at .* Run it again to resume"):
        _download(tmp_path, server, "/good.zip", retries=0)
    part = tmp_path / (ARCHIVE + ".part")
    assert part.stat().st_size == len(GOOD) // 2
    assert not (tmp_path / FOLDER).exists() and not (tmp_path / ARCHIVE).exists()
    _download(tmp_path, server, "/good.zip", retries=0)
    assert server.requests[-1] == ("/good.zip", f"bytes={len(GOOD) // 2}-")
    assert (tmp_path / ARCHIVE).read_bytes() == GOOD and not part.exists()


def test_server_without_range_support_restarts_from_zero(tmp_path, server):
    server.ranges = False
    server.short_once.add("/good.zip")
    _download(tmp_path, server, "/good.zip")
    assert len(server.requests) == 2 and server.requests[1][1] is not None  # asked for a range, got the whole file
    assert (tmp_path / ARCHIVE).read_bytes() == GOOD


def test_a_range_other_than_asked_for_restarts_from_zero(tmp_path, server):
    server.range_shift = 7
    server.short_once.add("/good.zip")
    _download(tmp_path, server, "/good.zip")
    assert [r for _, r in server.requests] == [None, f"bytes={len(GOOD) // 2}-", None]
    assert (tmp_path / ARCHIVE).read_bytes() == GOOD


@pytest.mark.parametrize(
    "path, reason",
    [
        ("/truncated.zip", "truncated or corrupt"),
        ("/corrupt.zip", "corrupt"),
        ("/incomplete.zip", "trainB: 3 images, expected 4"),
    ],
)
def test_bad_archive_is_refused_and_nothing_is_left(tmp_path, server, path, reason):
    with pytest.raises(DatasetError, match=reason) as error:
        _download(tmp_path, server, path)
    message = str(error.value)
    assert "run again" in message and str(tmp_path / ARCHIVE) in message  # what to do, where to put it by hand
    assert list(tmp_path.iterdir()) == []


def test_expected_size_and_checksum_are_checked(tmp_path, server):
    with pytest.raises(DownloadError, match="announces"):
        _download(tmp_path, server, "/good.zip", size=len(GOOD) + 1)
    with pytest.raises(DatasetError, match="sha256"):
        _download(tmp_path, server, "/good.zip", sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []
    import hashlib

    _download(tmp_path, server, "/good.zip", sha256=hashlib.sha256(GOOD).hexdigest(), size=len(GOOD))
    check_folder(tmp_path / FOLDER, SMALL)


def test_http_error_names_the_status_and_the_manual_route(tmp_path, server):
    with pytest.raises(DownloadError, match=r"HTTP 404") as error:
        _download(tmp_path, server, "/missing.zip")
    assert str(tmp_path / ARCHIVE) in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_fails_fast_with_a_clear_error(tmp_path):
    probe = Server()
    dead = probe.url("/good.zip")
    probe.close()  # nothing listens on that port any more
    with pytest.raises(DownloadError, match="Could not reach"):
        download_horse2zebra(tmp_path, url=dead, counts=SMALL, progress=False, timeout=5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("top", [f"{FOLDER}/", ""])
def test_archive_put_by_hand_is_extracted_without_network(tmp_path, top):
    (tmp_path / ARCHIVE).write_bytes(_zip(SMALL, top))  # with or without the top folder
    folder = download_horse2zebra(tmp_path, url="http://127.0.0.1:9/never", counts=SMALL, progress=False)
    assert folder == tmp_path / FOLDER
    check_folder(folder, SMALL)
    assert _leftovers(tmp_path) == []


def test_corrupt_archive_put_by_hand_says_to_delete_it(tmp_path):
    (tmp_path / ARCHIVE).write_bytes(_corrupt(GOOD))
    with pytest.raises(DatasetError, match=r"Delete it and run again"):
        download_horse2zebra(tmp_path, url="http://127.0.0.1:9/never", counts=SMALL, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE]  # the user's file is theirs; no folder


def test_archive_with_an_unsafe_path_is_refused_before_anything_is_written(tmp_path):
    buffer = io.BytesIO(GOOD)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("../outside.txt", "x")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / ARCHIVE).write_bytes(buffer.getvalue())
    with pytest.raises(DatasetError, match="unsafe path"):
        download_horse2zebra(tmp_path / "root", url="http://127.0.0.1:9/never", counts=SMALL, progress=False)
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == [ARCHIVE]  # no folder, no temporary folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


def test_incomplete_folder_is_reported(tmp_path, server):
    folder = _download(tmp_path, server, "/good.zip")
    next((folder / "testB").iterdir()).unlink()
    with pytest.raises(DatasetError, match=r"testB: 1 images, expected 2.*Delete"):
        check_folder(folder, SMALL)


# --- load_horse2zebra: which data -----------------------------------------------------------------


@pytest.fixture(scope="module")
def standin_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("standin")
    make_standin(root, counts=TINY_STANDIN, size=64)
    return root


def test_load_uses_the_real_folder_and_says_so(tmp_path, server, capsys):
    _download(tmp_path, server, "/good.zip")
    images = load_horse2zebra(tmp_path, load_size=24, counts=SMALL, url=server.url("/good.zip"))
    assert images.a.shape == (3, 3, 24, 24) and images.b.shape == (4, 3, 24, 24)
    assert images.a.dtype == torch.uint8 and images.device == torch.device("cpu")
    assert images.source.startswith("horse2zebra (official)") and not images.is_standin
    assert "horse2zebra (official)" in capsys.readouterr().out
    test = load_horse2zebra(tmp_path, split="test", load_size=24, counts=SMALL, verbose=False)
    assert len(test.a) == 2 and len(test.b) == 2


def test_load_refuses_an_incomplete_real_folder_instead_of_switching_data(tmp_path, server):
    folder = _download(tmp_path, server, "/good.zip")
    next((folder / "trainA").iterdir()).unlink()
    with pytest.raises(DatasetError, match=r"trainA: 2 images, expected 3"):
        load_horse2zebra(tmp_path, load_size=24, counts=SMALL, offline=True, verbose=False)


def test_load_falls_back_to_the_standin_when_the_download_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(h2z, "STANDIN_COUNTS", TINY_STANDIN)
    monkeypatch.delenv(h2z.OFFLINE_ENV, raising=False)
    images = load_horse2zebra(tmp_path, load_size=32, url="http://127.0.0.1:9/never")
    assert images.is_standin and images.source.startswith("procedural stand-in")
    assert "download failed" in images.source
    out = capsys.readouterr().out
    assert "procedural stand-in" in out and "6 A (horses), 6 B (zebras)" in out
    assert (tmp_path / STANDIN_FOLDER).is_dir() and not (tmp_path / FOLDER).exists()


@pytest.mark.parametrize("environ", [{}, {"GAN_COURSE_OFFLINE": "1"}, {"NBGRADER_EXECUTION": "autograde"}, {"CI": "1"}])
def test_offline_never_touches_the_network(tmp_path, server, monkeypatch, environ):
    monkeypatch.setattr(h2z, "STANDIN_COUNTS", TINY_STANDIN)
    from helpers.profiles import get_profile

    offline = get_profile(environ).offline or True  # what a lesson passes (profile.offline), or offline=True
    images = load_horse2zebra(tmp_path, load_size=32, url=server.url("/good.zip"), offline=offline, verbose=False)
    assert images.is_standin and "offline" in images.source
    if environ:
        assert next(iter(environ)) in images.source  # the reason is named
    assert server.requests == []


def test_standin_chosen_is_used_even_with_the_photos_there_and_never_touches_the_network(
    tmp_path, server, monkeypatch, capsys
):
    # lesson 5's cpu profile: the same drawn images for every student, whether or not the photos could be had
    monkeypatch.setattr(h2z, "STANDIN_COUNTS", TINY_STANDIN)
    _download(tmp_path, server, "/good.zip")
    requests = len(server.requests)
    with_photos = load_horse2zebra(tmp_path, load_size=24, data="standin", url=server.url("/good.zip"))
    assert with_photos.is_standin and "data='standin'" in with_photos.source
    assert with_photos.name == "drawn stand-in" and "procedural stand-in" in capsys.readouterr().out
    offline = load_horse2zebra(tmp_path / "other", load_size=24, data="standin", offline=True, verbose=False)
    assert torch.equal(offline.a, with_photos.a) and torch.equal(offline.b, with_photos.b)  # the same for everyone
    assert len(server.requests) == requests
    photos = load_horse2zebra(tmp_path, load_size=24, counts=SMALL, data="photos", verbose=False)
    assert not photos.is_standin and photos.name == "horse2zebra photos"


def test_photos_chosen_but_not_available_says_how_to_get_them(tmp_path, server):
    with pytest.raises(DatasetError, match=r"photos are not available \(offline.*horse2zebra\.zip.*data='standin'"):
        load_horse2zebra(tmp_path, load_size=24, data="photos", url=server.url("/good.zip"), offline=True)
    assert server.requests == [] and not (tmp_path / STANDIN_FOLDER).exists()
    with pytest.raises(ValueError, match=r"data must be one of .*'standin' for the drawn"):
        load_horse2zebra(tmp_path, load_size=24, data="zebras")


# --- the stand-in ---------------------------------------------------------------------------------


def _pixels(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) for p in sorted(folder.glob("*.jpg"))])


def test_standin_layout_and_counts(standin_root):
    folder = standin_root / STANDIN_FOLDER
    check_folder(folder, TINY_STANDIN)
    with Image.open(next((folder / "trainA").iterdir())) as image:
        assert image.size == (64, 64) and image.mode == "RGB"


def test_standin_is_deterministic_and_depends_on_the_seed(standin_root, tmp_path):
    again = make_standin(tmp_path / "again", counts=TINY_STANDIN, size=64)
    other = make_standin(tmp_path / "other", counts=TINY_STANDIN, size=64, seed=1)
    first = standin_root / STANDIN_FOLDER
    for name in TINY_STANDIN:
        assert np.array_equal(_pixels(first / name), _pixels(again / name))
    assert not np.array_equal(_pixels(first / "trainB"), _pixels(other / "trainB"))


def test_standin_is_reused_and_redrawn_when_settings_change(standin_root, tmp_path):
    folder = make_standin(tmp_path, counts=TINY_STANDIN, size=64)
    stamp = (folder / "trainA" / "horse_0000.jpg").stat().st_mtime_ns
    assert make_standin(tmp_path, counts=TINY_STANDIN, size=64) == folder
    assert (folder / "trainA" / "horse_0000.jpg").stat().st_mtime_ns == stamp
    make_standin(tmp_path, counts={**TINY_STANDIN, "testA": 3}, size=48)
    assert len(list((folder / "testA").glob("*.jpg"))) == 3
    with Image.open(folder / "testA" / "horse_0000.jpg") as image:
        assert image.size == (48, 48)
    assert sorted(p.name for p in tmp_path.iterdir()) == [STANDIN_FOLDER]  # no temporary folders left


def test_zebras_have_stripes_horses_do_not(tmp_path):
    """High-frequency energy (difference between neighbouring pixels) is much larger in B than in A."""
    folder = make_standin(tmp_path, counts={"trainA": 16, "trainB": 16, "testA": 1, "testB": 1}, size=96)

    def detail(images):
        grey = images.mean(-1)
        return np.abs(np.diff(grey, axis=2)).mean() + np.abs(np.diff(grey, axis=1)).mean()

    horses, zebras = _pixels(folder / "trainA"), _pixels(folder / "trainB")
    assert detail(zebras) > 1.5 * detail(horses)
    # and the animals are not just noise: the mean colours of the two domains' backgrounds agree
    assert abs(horses[:, :8].mean() - zebras[:, :8].mean()) < 25


def test_standin_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="counts"):
        make_standin(tmp_path, counts={"trainA": 3})
    with pytest.raises(ValueError, match="size"):
        make_standin(tmp_path, size=8)


# --- the preprocessing cache ---------------------------------------------------------------------


def test_cache_is_written_once_reused_and_rebuilt_when_files_change(standin_root, tmp_path):
    import shutil

    folder = tmp_path / "data"
    shutil.copytree(standin_root / STANDIN_FOLDER, folder)
    first = load_folder(folder, load_size=40)
    cache = cache_path(folder, "train", 40)
    assert cache.exists() and sorted(p.name for p in cache.parent.iterdir()) == [cache.name]  # no temp file left
    stamp = cache.stat().st_mtime_ns
    second = load_folder(folder, load_size=40)
    assert cache.stat().st_mtime_ns == stamp
    assert torch.equal(first.a, second.a) and torch.equal(first.b, second.b)
    # the cache holds what the images give when resized with PIL's bicubic filter
    with Image.open(sorted((folder / "trainA").glob("*.jpg"))[0]) as image:
        expected = np.asarray(image.convert("RGB").resize((40, 40), Image.BICUBIC))
    assert np.array_equal(first.a[0].permute(1, 2, 0).numpy(), expected)
    # another size: another cache file; a removed image: the cache is rebuilt
    assert load_folder(folder, load_size=36).a.shape[-1] == 36
    next((folder / "trainB").iterdir()).unlink()
    third = load_folder(folder, load_size=40)
    assert len(third.b) == len(first.b) - 1 and cache.stat().st_mtime_ns != stamp


def test_unreadable_cache_is_rebuilt(standin_root, tmp_path):
    import shutil

    folder = tmp_path / "data"
    shutil.copytree(standin_root / STANDIN_FOLDER, folder)
    reference = load_folder(folder, split="test", load_size=32)
    cache_path(folder, "test", 32).write_bytes(b"not a tensor file")
    assert torch.equal(load_folder(folder, split="test", load_size=32).a, reference.a)


def test_load_errors_say_what_to_change(tmp_path, standin_root):
    with pytest.raises(ValueError, match="split"):
        load_folder(standin_root / STANDIN_FOLDER, split="val")
    with pytest.raises(ValueError, match="load_size"):
        load_folder(standin_root / STANDIN_FOLDER, load_size=4)
    (tmp_path / "trainA").mkdir()
    with pytest.raises(DatasetError, match="No images"):
        load_folder(tmp_path)


# --- UnpairedImages.sample ------------------------------------------------------------------------


def _coded(n: int, size: int) -> torch.Tensor:
    """uint8 images whose pixels encode (image, row, column): channel 0 = image, 1 = row, 2 = column."""
    rows = torch.arange(size).view(1, size, 1).expand(n, size, size)
    cols = torch.arange(size).view(1, 1, size).expand(n, size, size)
    index = torch.arange(n).view(n, 1, 1).expand(n, size, size)
    return torch.stack([index, rows, cols], 1).to(torch.uint8)


def _decode(batch: torch.Tensor) -> torch.Tensor:
    return ((batch + 1.0) * 127.5).round().long()


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_sample_gives_float_crops_in_range_on_the_device(standin_root, device):
    images = load_folder(standin_root / STANDIN_FOLDER, load_size=40, device=device)
    if device == "cuda":  # drawing a batch must not wait for the GPU: any host sync raises here
        torch.cuda.set_sync_debug_mode("error")
    try:
        real_a, real_b = images.sample(5, 32)
    finally:
        if device == "cuda":
            torch.cuda.set_sync_debug_mode("default")
    for batch in (real_a, real_b):
        assert batch.shape == (5, 3, 32, 32) and batch.dtype == torch.float32
        assert batch.device.type == torch.device(device).type
        assert batch.min() >= -1.0 and batch.max() <= 1.0
    assert real_a.min() < -0.5 and real_a.max() > 0.5  # the uint8 range is mapped, not squashed


def test_sample_crops_are_real_crops_with_flips():
    images = UnpairedImages(_coded(7, 20), _coded(5, 20), "coded")
    gen = torch.Generator().manual_seed(0)
    a, b = images.sample(400, 12, generator=gen)
    for batch, n in ((a, 7), (b, 5)):
        code = _decode(batch)
        index, rows, cols = code[:, 0], code[:, 1], code[:, 2]
        assert (index == index[:, :1, :1]).all() and set(index[:, 0, 0].tolist()) == set(range(n))
        assert (rows[:, 1:] - rows[:, :-1] == 1).all()  # rows never flipped, contiguous
        step = cols[:, :, 1:] - cols[:, :, :-1]
        forward = (step == 1).all(dim=(1, 2))
        backward = (step == -1).all(dim=(1, 2))
        assert (forward | backward).all() and 0.35 < backward.float().mean() < 0.65  # about half flipped
        assert set(rows[:, 0, 0].tolist()) == set(range(20 - 12 + 1))  # every offset occurs
    # A and B are drawn independently (not the same positions in both)
    assert not torch.equal(_decode(a)[:, :, 0, 0], _decode(b)[:, :, 0, 0])


def test_sample_without_flip_and_reproducible_with_a_generator():
    images = UnpairedImages(_coded(4, 16), _coded(4, 16), "coded")
    a, _ = images.sample(200, 16, flip=False)
    assert (_decode(a)[:, 2, :, 1:] - _decode(a)[:, 2, :, :-1] == 1).all()
    first = images.sample(3, 8, generator=torch.Generator().manual_seed(5))
    second = images.sample(3, 8, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip(first, second))


def test_sample_and_constructor_errors():
    images = UnpairedImages(_coded(2, 16), _coded(2, 16), "coded")
    with pytest.raises(ValueError, match=r"crop_size .*load_size \(16\)"):
        images.sample(1, 17)
    with pytest.raises(ValueError, match="batch_size"):
        images.sample(0, 8)
    with pytest.raises(ValueError, match="uint8"):
        UnpairedImages(torch.zeros(2, 3, 8, 8), _coded(2, 8), "x")
    with pytest.raises(ValueError, match="same size"):
        UnpairedImages(_coded(2, 8), _coded(2, 16), "x")
