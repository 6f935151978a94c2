"""A validating reader for the IDX format of MNIST-style files (plain or gzip-compressed).

Layout (LeCun's description of the format): two zero bytes, one byte for the element type, one byte for the
number of dimensions, then one big-endian uint32 per dimension, then the data in row-major order, big-endian.
Every check names the file, so a truncated download or a swapped file is caught with a message that says which.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from genzoo.errors import GenzooError

# IDX element-type byte -> big-endian numpy dtype.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IDXError(GenzooError):
    """A file that is not a well-formed IDX file."""


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when its name ends in .gz."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IDXError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise IDXError(f"{path}: corrupt or truncated gzip data ({exc})") from exc


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array with the file's shape and a native-endian dtype."""
    if len(data) < 4:
        raise IDXError(f"{name}: {len(data)} bytes is too short for an IDX header (4 bytes at least)")
    zero0, zero1, type_code, ndim = data[0], data[1], data[2], data[3]
    magic = int.from_bytes(data[:4], "big")
    if zero0 != 0 or zero1 != 0 or type_code not in IDX_TYPES:
        raise IDXError(
            f"{name}: bad magic number 0x{magic:08x}; expected 0x0000TTNN with type TT in "
            f"{{{', '.join(f'{t:02x}' for t in IDX_TYPES)}}} (0x00000803 for images, 0x00000801 for labels)"
        )
    if ndim == 0:
        raise IDXError(f"{name}: magic 0x{magic:08x} declares 0 dimensions; expected at least 1")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{name}: truncated header: {ndim} dimensions need {header} bytes, file has {len(data)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_TYPES[type_code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise IDXError(
            f"{name}: {what}: shape {shape} of {dtype.itemsize}-byte elements needs {expected} bytes, "
            f"file has {len(data)}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: Path | str) -> np.ndarray:
    """Read and validate one IDX file (`.gz` or not). Raises IDXError naming the file on any defect."""
    path = Path(path)
    return parse_idx(read_bytes(path), str(path))
