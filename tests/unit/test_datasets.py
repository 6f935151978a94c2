"""The data set registry: locating files, refusing damaged ones, and checking a split's content.

Content checks (count mismatch, label range, image rank) use a small fake data set registered for the test:
its DataFile entries carry the real SHA-256 and size of tiny IDX files built in tmp, so the files pass the same
checksum gate as the shipped ones and reach the content checks through the public `load_dataset`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from genzoo.data import datasets
from genzoo.data.datasets import DATASETS, MNIST, DataFile, get_spec, load_dataset, locate, verify
from genzoo.errors import GenzooError

from conftest import MNIST_DIR, flip_byte


def idx_bytes(array: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int32: 0x0C}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def data_file(folder: Path, name: str, array: np.ndarray) -> DataFile:
    data = idx_bytes(array)
    (folder / name).write_bytes(data)
    return DataFile(name, hashlib.sha256(data).hexdigest(), len(data))


@pytest.fixture
def fake_dataset(tmp_path, monkeypatch):
    """Register a data set 'fake' whose four files are built from the given arrays in tmp_path/fake."""

    def make(train_images, train_labels, test_images=None, test_labels=None):
        folder = tmp_path / "fake"
        folder.mkdir(exist_ok=True)
        test_images = train_images if test_images is None else test_images
        test_labels = train_labels if test_labels is None else test_labels
        spec = dataclasses.replace(
            MNIST,
            name="fake",
            folder="fake",
            mirrors=(),
            train_images=data_file(folder, "train-images", train_images),
            train_labels=data_file(folder, "train-labels", train_labels),
            test_images=data_file(folder, "test-images", test_images),
            test_labels=data_file(folder, "test-labels", test_labels),
        )
        monkeypatch.setitem(DATASETS, "fake", spec)
        return tmp_path, folder

    return make


def images(n: int, h: int = 4, w: int = 4) -> np.ndarray:
    return (np.arange(n * h * w) % 256).astype(np.uint8).reshape(n, h, w)


def test_fake_dataset_loads_as_tensors(fake_dataset):
    data_dir, _ = fake_dataset(images(6), np.array([0, 1, 2, 3, 4, 9], dtype=np.uint8))
    dataset = load_dataset("fake", data_dir, train_size=4)
    assert dataset.train.images.shape == (4, 1, 4, 4) and dataset.train.images.dtype == torch.uint8
    assert dataset.train.labels.dtype == torch.int64
    assert dataset.train.labels.tolist() == [0, 1, 2, 3]
    assert len(dataset.test) == 6
    assert dataset.image_shape == (1, 4, 4)
    assert dataset.train.images.is_contiguous()
    dataset.train.images[0, 0, 0, 0] = 7  # writable memory owned by torch


def test_image_label_count_mismatch_names_both_files(fake_dataset):
    data_dir, folder = fake_dataset(images(5), np.array([0, 1, 2, 3], dtype=np.uint8))
    with pytest.raises(GenzooError) as info:
        load_dataset("fake", data_dir)
    message = str(info.value)
    assert str(folder / "train-images") in message and str(folder / "train-labels") in message
    assert "5 images" in message and "4 labels" in message


def test_labels_out_of_range_are_refused(fake_dataset):
    data_dir, folder = fake_dataset(images(3), np.array([0, 10, 2], dtype=np.uint8))
    with pytest.raises(GenzooError, match="labels must lie in 0..9") as info:
        load_dataset("fake", data_dir)
    assert str(folder / "train-labels") in str(info.value)


def test_images_of_wrong_rank_are_refused(fake_dataset):
    data_dir, folder = fake_dataset(np.zeros((3, 16), dtype=np.uint8), np.array([0, 1, 2], dtype=np.uint8))
    with pytest.raises(GenzooError, match=r"expected uint8 images of shape \(N, H, W\)") as info:
        load_dataset("fake", data_dir)
    assert str(folder / "train-images") in str(info.value)


def test_labels_of_wrong_rank_are_refused(fake_dataset):
    data_dir, _folder = fake_dataset(images(2), np.zeros((2, 1), dtype=np.uint8))
    with pytest.raises(GenzooError, match=r"expected labels of shape \(N,\)"):
        load_dataset("fake", data_dir)


def test_test_split_mismatch_is_caught_too(fake_dataset):
    data_dir, folder = fake_dataset(
        images(3), np.array([0, 1, 2], dtype=np.uint8), images(2), np.array([0, 1, 2], dtype=np.uint8)
    )
    with pytest.raises(GenzooError) as info:
        load_dataset("fake", data_dir)
    assert str(folder / "test-images") in str(info.value)


# -- checksums of the shipped files ---------------------------------------------------------------------------


def copy_mnist_file(target_dir: Path, name: str) -> Path:
    (target_dir / "mnist").mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(MNIST_DIR / name, target_dir / "mnist" / name))


@pytest.mark.filterwarnings("ignore:.*is not in")  # the other three files: the shipped copies
def test_a_file_with_a_flipped_byte_is_refused(tmp_path):
    path = copy_mnist_file(tmp_path / "data", "t10k-labels-idx1-ubyte.gz")
    flip_byte(path)
    with pytest.raises(GenzooError, match="SHA-256") as info:
        load_dataset("mnist", tmp_path / "data")
    assert str(path) in str(info.value)


@pytest.mark.filterwarnings("ignore:.*is not in")  # the other three files: the shipped copies
def test_a_file_of_the_wrong_size_is_refused(tmp_path):
    path = copy_mnist_file(tmp_path / "data", "train-labels-idx1-ubyte.gz")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(GenzooError, match="bytes, expected") as info:
        load_dataset("mnist", tmp_path / "data")
    assert str(path) in str(info.value)


def test_verify_accepts_the_shipped_files():
    for file in MNIST.files:
        verify(MNIST_DIR / file.name, file)  # raises on any mismatch


def test_locate_search_order(tmp_path, monkeypatch):
    name = "t10k-labels-idx1-ubyte.gz"
    file = MNIST.test_labels
    # Nothing given: the shipped folder.
    assert locate(MNIST, file, None) == MNIST_DIR / name
    # $GENZOO_DATA_DIR beats the shipped folder; a flat layout (no mnist/ sub-folder) is accepted.
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    shutil.copy(MNIST_DIR / name, env_dir / name)
    monkeypatch.setenv("GENZOO_DATA_DIR", str(env_dir))
    assert locate(MNIST, file, None) == env_dir / name
    # data_dir beats both.
    given = copy_mnist_file(tmp_path / "given", name)
    assert locate(MNIST, file, tmp_path / "given") == given
    assert datasets.search_dirs(tmp_path / "given")[:2] == [tmp_path / "given", env_dir]


def test_a_named_folder_that_does_not_exist_is_refused_not_skipped(tmp_path, monkeypatch):
    file = MNIST.test_labels
    with pytest.raises(GenzooError, match=r"data.data_dir='.*missing'; expected a folder .* does not exist"):
        locate(MNIST, file, tmp_path / "missing")
    monkeypatch.setenv("GENZOO_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(GenzooError, match=r"\$GENZOO_DATA_DIR='.*missing'"):
        locate(MNIST, file, None)


def test_a_file_missing_from_the_named_folder_says_where_it_came_from(tmp_path):
    copy_mnist_file(tmp_path / "mine", "t10k-labels-idx1-ubyte.gz")  # one of the four files
    with pytest.warns(UserWarning) as record:
        dataset = load_dataset("mnist", tmp_path / "mine", test_size=8)
    said = [str(w.message) for w in record]
    assert len(said) == 3  # the three files the folder lacks, each with the copy used instead
    assert any("train-images-idx3-ubyte.gz is not in" in m and str(MNIST_DIR) in m for m in said)
    assert not any("t10k-labels" in m for m in said)
    assert len(dataset.test) == 8


def test_unknown_dataset_suggests_the_closest_name():
    with pytest.raises(GenzooError, match="did you mean 'mnist'"):
        get_spec("mnsit")


def test_mnist_subset_is_a_prefix(mnist_small):
    full_test = load_dataset("mnist", test_size=128).test
    assert torch.equal(mnist_small.test.images, full_test.images[:64])
    assert mnist_small.train.images.shape == (256, 1, 28, 28)
    assert mnist_small.num_classes == 10 and mnist_small.image_shape == (1, 28, 28)


def test_binarized_mnist_test_split_is_binary_and_fixed():
    a = load_dataset("binarized-mnist", train_size=32, test_size=64)
    b = load_dataset("binarized-mnist", train_size=32, test_size=128)
    values = set(a.test.images.unique().tolist())
    assert values <= {0, 255} and values == {0, 255}
    assert torch.equal(a.test.images, b.test.images[:64])  # one fixed draw; a subset is its prefix
    assert len(set(a.train.images.unique().tolist())) > 2  # training images stay grey (binarized per batch)


# -- the decoded cache: images inflated once per machine, checked at every read ---------------------------------


LABELS = np.arange(6, dtype=np.uint8) % 10


def decoded_copies() -> list[Path]:
    return sorted((datasets.cache_dir() / "decoded").glob("*.npy"))


def test_decoded_images_are_cached_and_read_back_identical(fake_dataset):
    root, _ = fake_dataset(images(6), LABELS, images(3, 5, 5), LABELS[:3])
    first = load_dataset("fake", root)
    assert len(decoded_copies()) == 2  # train and test images (labels are small: read each time)
    again = load_dataset("fake", root)
    assert torch.equal(first.train.images, again.train.images) and torch.equal(first.test.images, again.test.images)
    assert torch.equal(again.train.images[:, 0], torch.from_numpy(images(6)))
    again.train.images[0, 0, 0, 0] = 99  # a loaded split is writable, and nothing reaches the cached copy
    assert torch.equal(load_dataset("fake", root).train.images[:, 0], torch.from_numpy(images(6)))


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_cached_copy_is_dropped_and_decoded_again(fake_dataset, damage):
    root, _ = fake_dataset(images(6), LABELS, images(3, 5, 5), LABELS[:3])
    load_dataset("fake", root)
    for copy in decoded_copies():
        if damage == "flip":
            flip_byte(copy, copy.stat().st_size - 1)  # in the pixels: the CRC-32 in the name no longer matches
        else:
            copy.write_bytes(copy.read_bytes()[:-5])
    loaded = load_dataset("fake", root)
    assert torch.equal(loaded.train.images[:, 0], torch.from_numpy(images(6)))
    fresh = decoded_copies()
    assert len(fresh) == 2
    assert sorted(np.load(path).tobytes() for path in fresh) == sorted([images(6).tobytes(), images(3, 5, 5).tobytes()])


def test_an_unwritable_cache_only_costs_time(fake_dataset, monkeypatch, tmp_path):
    root, _ = fake_dataset(images(6), LABELS, images(3, 5, 5), LABELS[:3])
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setattr(datasets, "cache_dir", lambda: tmp_path / "not-a-folder")
    assert torch.equal(load_dataset("fake", root).train.images[:, 0], torch.from_numpy(images(6)))
