"""The IDX reader: hand-built files read back exactly; every defect is an IDXError that names the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from genzoo.data.idx import IDXError, parse_idx, read_idx
from genzoo.errors import GenzooError

MNIST = Path(__file__).resolve().parents[2] / "data" / "mnist"


def idx_bytes(array: np.ndarray) -> bytes:
    """Build an IDX file by hand: 0, 0, type, ndim, big-endian uint32 dims, big-endian data."""
    code = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}[
        array.dtype.type
    ]
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


ARRAYS = {
    "uint8-images": np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
    "uint8-labels": np.array([0, 9, 3, 255], dtype=np.uint8),
    "int8": np.array([[-128, 127], [0, -1]], dtype=np.int8),
    "int16": np.array([-300, 300, 12345], dtype=np.int16),
    "int32": np.array([[1, -2, 70000]], dtype=np.int32),
    "float32": np.array([1.5, -2.25, 3e10], dtype=np.float32),
    "float64": np.linspace(-1, 1, 6).reshape(3, 2),
}


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("key", ARRAYS)
def test_round_trip(tmp_path, key, suffix):
    array = ARRAYS[key]
    path = write(tmp_path / f"{key}-idx{suffix}", idx_bytes(array))
    result = read_idx(path)
    assert result.shape == array.shape
    assert result.dtype == array.dtype  # native byte order
    assert result.dtype.isnative
    np.testing.assert_array_equal(result, array)


def test_reads_the_shipped_mnist_test_files():
    images = read_idx(MNIST / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(MNIST / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,)
    assert labels.min() == 0 and labels.max() == 9


def test_zero_length_dimension_is_an_empty_array(tmp_path):
    path = write(tmp_path / "empty-idx", bytes([0, 0, 0x08, 3]) + (0).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
    assert read_idx(path).shape == (0, 28, 28)


GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))


def header(*raw: int) -> bytes:
    return bytes(raw)


BAD = {
    "truncated-data": (GOOD[:-1], "truncated"),
    "trailing-bytes": (GOOD + b"\x00\x00", "trailing bytes"),
    "wrong-magic-first-byte": (b"\x01" + GOOD[1:], "bad magic"),
    "wrong-magic-type": (header(0, 0, 0x07, 2) + GOOD[4:], "bad magic"),
    "png-file": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "bad magic"),
    "zero-dims": (header(0, 0, 0x08, 0) + b"\x01\x02", "0 dimensions"),
    "truncated-header": (header(0, 0, 0x08, 3) + (5).to_bytes(4, "big"), "truncated header"),
    "too-short": (b"\x00\x00", "too short"),
    "empty": (b"", "too short"),
}


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("case", BAD)
def test_bad_input_raises_idx_error_naming_the_file(tmp_path, case, suffix):
    data, phrase = BAD[case]
    path = write(tmp_path / f"bad-{case}-idx{suffix}", data)
    with pytest.raises(IDXError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert phrase in str(info.value)
    assert isinstance(info.value, GenzooError)  # the CLI turns it into a one-line exit 2


def test_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(GOOD)[:-12])
    with pytest.raises(IDXError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_gz_name_that_is_not_gzip_names_the_file(tmp_path):
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(GOOD)  # plain IDX under a .gz name
    with pytest.raises(IDXError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nowhere-idx1-ubyte"
    with pytest.raises(IDXError, match="cannot read") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_parse_idx_uses_the_given_name():
    with pytest.raises(IDXError, match="^my-name: "):
        parse_idx(GOOD[:-3], "my-name")


def test_big_endian_values_are_decoded():
    data = header(0, 0, 0x0C, 1) + (2).to_bytes(4, "big") + (1).to_bytes(4, "big") + (256).to_bytes(4, "big")
    np.testing.assert_array_equal(parse_idx(data), [1, 256])
