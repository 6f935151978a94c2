"""Downloading a data set from mirrors: a local HTTP server stands in for the internet.

The shipped data/ folder is replaced by an empty one and the cache points into tmp (conftest), so every file
must come from the mirrors given to `load_dataset`.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from genzoo.data import datasets
from genzoo.data.datasets import MNIST, cache_dir, download, load_dataset, locate
from genzoo.errors import GenzooError
from genzoo.files import sha256_file

from conftest import MNIST_DIR, MNIST_FILES, flip_byte


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output clean
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` over HTTP on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def dead_url() -> str:
    """A URL on a port where nothing listens: the connection is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def no_local_data(tmp_path, monkeypatch):
    """Nothing to find locally: an empty shipped folder and an empty cache (XDG_CACHE_HOME is set by conftest)."""
    empty = tmp_path / "no-shipped-data"
    empty.mkdir()
    monkeypatch.setattr(datasets, "SHIPPED_DATA_DIR", empty)
    assert cache_dir().is_relative_to(tmp_path)
    return empty


@pytest.fixture
def mirror_folder(tmp_path) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    for name in MNIST_FILES:
        shutil.copy(MNIST_DIR / name, folder / name)
    return folder


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_load_dataset_downloads_every_file(no_local_data, mirror_folder, tmp_path, capsys):
    target = tmp_path / "target"
    target.mkdir()  # a data.data_dir must exist (a typo must not pass silently); its mnist/ sub-folder need not
    with serve(mirror_folder) as url:
        dataset = load_dataset("mnist", data_dir=target, mirrors=[url])
    assert dataset.train.images.shape == (60000, 1, 28, 28)
    assert dataset.train.labels.shape == (60000,)
    assert dataset.test.images.shape == (10000, 1, 28, 28)
    assert dataset.test.labels.shape == (10000,)
    assert leftovers(target / "mnist") == sorted(MNIST_FILES)  # in place, and no .part file left
    log = capsys.readouterr().err
    source = f"{url.rstrip('/')}/train-images-idx3-ubyte.gz"
    assert f"downloading train-images-idx3-ubyte.gz from {source} into {target}" in log
    for file in MNIST.files:
        assert sha256_file(target / "mnist" / file.name) == file.sha256
    # The downloaded files are found from now on: no mirror needed.
    again = load_dataset("mnist", data_dir=target, mirrors=[], test_size=10)
    assert torch.equal(again.test.labels, dataset.test.labels[:10])


def test_corrupted_mirror_file_is_refused_and_nothing_is_left(no_local_data, mirror_folder, tmp_path):
    flip_byte(mirror_folder / "train-images-idx3-ubyte.gz")
    target = tmp_path / "target"
    target.mkdir()
    with serve(mirror_folder) as url, pytest.raises(GenzooError) as info:
        load_dataset("mnist", data_dir=target, mirrors=[url])
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "SHA-256" in message and url in message
    assert leftovers(target / "mnist") == []  # neither the bad file nor a .part file


def test_truncated_mirror_file_is_refused(no_local_data, mirror_folder, tmp_path):
    path = mirror_folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])
    target = tmp_path / "target"
    with serve(mirror_folder) as url, pytest.raises(GenzooError, match="SHA-256"):
        download(MNIST.test_labels, [url], target)
    assert leftovers(target) == []


def test_dead_mirror_then_good_mirror(no_local_data, mirror_folder, tmp_path):
    target = tmp_path / "target"
    with serve(mirror_folder) as url:
        path = download(MNIST.train_labels, [dead_url(), url], target)
    assert path == target / "train-labels-idx1-ubyte.gz"
    assert sha256_file(path) == MNIST.train_labels.sha256
    assert leftovers(target) == ["train-labels-idx1-ubyte.gz"]


def test_missing_file_then_corrupt_then_good_mirror(no_local_data, mirror_folder, tmp_path):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    shutil.copy(mirror_folder / "t10k-labels-idx1-ubyte.gz", bad / "t10k-labels-idx1-ubyte.gz")
    flip_byte(bad / "t10k-labels-idx1-ubyte.gz")
    target = tmp_path / "target"
    with serve(empty) as url_404, serve(bad) as url_bad, serve(mirror_folder) as url_good:
        path = download(MNIST.test_labels, [url_404, url_bad, url_good], target)
    assert sha256_file(path) == MNIST.test_labels.sha256
    assert leftovers(target) == ["t10k-labels-idx1-ubyte.gz"]


def test_every_mirror_failing_names_each_one(no_local_data, tmp_path):
    dead_a, dead_b = dead_url(), dead_url()
    target = tmp_path / "target"
    with pytest.raises(GenzooError) as info:
        download(MNIST.test_labels, [dead_a, dead_b], target)
    message = str(info.value)
    assert message.startswith(f"could not download t10k-labels-idx1-ubyte.gz into {target}")
    assert dead_a in message and dead_b in message
    assert leftovers(target) == []


def test_without_data_dir_files_go_to_the_cache(no_local_data, mirror_folder):
    with serve(mirror_folder) as url:
        path = locate(MNIST, MNIST.test_labels, None, mirrors=[url])
    assert path == cache_dir() / "mnist" / "t10k-labels-idx1-ubyte.gz"
    assert sha256_file(path) == MNIST.test_labels.sha256
    # Found in the cache next time, with no mirror at all.
    assert locate(MNIST, MNIST.test_labels, None, mirrors=[]) == path
