"""The data set registry: where each data set's files live, their checksums, and how to load them as tensors.

A loaded split is one in-memory uint8 tensor of images (N, C, H, W) and one int64 tensor of labels (N,);
batching (`batches.py`) slices these. Files are looked for, in order, in `data_dir` (the `--data-dir` flag),
`$GENZOO_DATA_DIR`, the `data/` folder shipped in the repository, and the download cache; a file found nowhere
is downloaded from the data set's mirrors into `data_dir` (or the cache), checked against its SHA-256, and only
then moved into place. A file whose checksum does not match is refused, never used.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from genzoo import checks
from genzoo.data.folders import read_image_folder
from genzoo.data.idx import read_idx
from genzoo.data.types import DataFile, Dataset, DatasetSpec, FolderOptions, ImageSplit, cache_dir
from genzoo.errors import GenzooError, unknown
from genzoo.files import atomic_write_bytes, sha256_file, umask

SHIPPED_DATA_DIR = Path(__file__).resolve().parents[3] / "data"  # repo/data when run from a checkout


@dataclass(frozen=True, kw_only=True)
class FileDatasetSpec(DatasetSpec):
    """A data set of published files: located (or downloaded from `mirrors`), checked, then read."""

    folder: str  # sub-folder of a data directory holding the files
    mirrors: tuple[str, ...]

    @property
    @abc.abstractmethod
    def files(self) -> tuple[DataFile, ...]:
        """The files to locate (and download if missing), each checked against its size and SHA-256."""

    @abc.abstractmethod
    def read(self, paths: Sequence[Path]) -> tuple[ImageSplit, ImageSplit]:
        """(train, test) from the verified files, in the order of `files`."""

    def load(self, data_dir: Path | str | None, mirrors: Sequence[str] | None, options: FolderOptions) -> Dataset:
        train, test = self.read([locate(self, file, data_dir, mirrors) for file in self.files])
        if self.binarize:  # the whole test split before any subset, so a subset is a prefix of the same draw
            test = ImageSplit(binarize_once(test.images), test.labels)
        return Dataset(self, train, test)


@dataclass(frozen=True, kw_only=True)
class IdxDatasetSpec(FileDatasetSpec):
    """Four IDX files (LeCun's format, gzipped): train images and labels, test images and labels."""

    train_images: DataFile
    train_labels: DataFile
    test_images: DataFile
    test_labels: DataFile

    @property
    def files(self) -> tuple[DataFile, ...]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)

    def read(self, paths: Sequence[Path]) -> tuple[ImageSplit, ImageSplit]:
        return (
            _read_idx_split(self, decoded_idx(paths[0], self.train_images.sha256), read_idx(paths[1]), paths),
            _read_idx_split(self, decoded_idx(paths[2], self.test_images.sha256), read_idx(paths[3]), paths[2:]),
        )


@dataclass(frozen=True, kw_only=True)
class CifarSpec(FileDatasetSpec):
    """The binary version of CIFAR-10 (Krizhevsky 2009): one .tar.gz of six files of 3073-byte records, a label
    byte then 32x32 red, green and blue planes. The archive is read in memory, member by expected name: nothing is
    extracted to disk and nothing is unpickled (the Python version of the archive would need pickle)."""

    archive: DataFile
    train_members: tuple[str, ...]
    test_members: tuple[str, ...]
    records_per_member: int = 10_000

    @property
    def files(self) -> tuple[DataFile, ...]:
        return (self.archive,)

    def read(self, paths: Sequence[Path]) -> tuple[ImageSplit, ImageSplit]:
        record = 1 + 3 * 32 * 32
        try:
            with tarfile.open(paths[0], "r:gz") as archive:

                def split(members: tuple[str, ...]) -> ImageSplit:
                    parts = []
                    for name in members:
                        try:
                            member = archive.getmember(name)
                        except KeyError:
                            raise GenzooError(
                                f"{paths[0]}: no member {name}; not the CIFAR-10 binary archive"
                            ) from None
                        if not member.isfile() or member.size != record * self.records_per_member:
                            raise GenzooError(
                                f"{paths[0]}: {name} holds {member.size} bytes, expected "
                                f"{record * self.records_per_member} ({self.records_per_member} records)"
                            )
                        parts.append(np.frombuffer(archive.extractfile(member).read(), np.uint8).reshape(-1, record))
                    rows = np.concatenate(parts)  # (N, 3073)
                    labels = rows[:, 0].astype(np.int64)
                    if labels.max() >= len(self.classes):
                        raise GenzooError(
                            f"{paths[0]}: labels must lie in 0..{len(self.classes) - 1}, found {labels.max()}"
                        )
                    images = np.ascontiguousarray(rows[:, 1:]).reshape(-1, 3, 32, 32)  # planes R, G, B
                    return ImageSplit(torch.from_numpy(images), torch.from_numpy(labels))

                return split(self.train_members), split(self.test_members)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise GenzooError(f"{paths[0]}: not a readable .tar.gz ({exc})") from exc


@dataclass(frozen=True, kw_only=True)
class ImageFolderSpec(DatasetSpec):
    """Your own pictures: `data.data_dir` names a folder with one sub-folder per class (their names, sorted, are
    the labels) or with the pictures directly (one class). Decoded once with Pillow and cached as arrays."""

    extensions: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

    def load(self, data_dir: Path | str | None, mirrors: Sequence[str] | None, options: FolderOptions) -> Dataset:
        if data_dir is None:
            raise GenzooError(
                "data.dataset=image-folder needs data.data_dir: the folder of pictures (one "
                "sub-folder per class, or the pictures directly), e.g. --data-dir ~/pictures"
            )
        train, test, classes = read_image_folder(Path(data_dir), self.extensions, options)
        return Dataset(replace(self, classes=classes), train, test)


_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_MNIST_FILES = dict(
    train_images=DataFile(
        "train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422
    ),
    train_labels=DataFile(
        "train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881
    ),
    test_images=DataFile(
        "t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877
    ),
    test_labels=DataFile(
        "t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542
    ),
)
_DIGITS = tuple(str(d) for d in range(10))

MNIST = IdxDatasetSpec(
    name="mnist",
    summary="MNIST handwritten digits, 28x28 grey, 60k train / 10k test",
    folder="mnist",
    mirrors=_MNIST_MIRRORS,
    classes=_DIGITS,
    **_MNIST_FILES,
)
BINARIZED_MNIST = replace(
    MNIST,
    name="binarized-mnist",
    summary="MNIST with each pixel drawn as Bernoulli(intensity): anew per batch in training, once (seed 0) for test",
    binarize=True,
)
FASHION_MNIST = IdxDatasetSpec(
    name="fashion-mnist",
    summary="Fashion-MNIST clothing images (Zalando), 28x28 grey, 60k train / 10k test",
    folder="fashion-mnist",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    train_images=DataFile(
        "train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880
    ),
    train_labels=DataFile(
        "train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515
    ),
    test_images=DataFile(
        "t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102
    ),
    test_labels=DataFile(
        "t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148
    ),
)

CIFAR10 = CifarSpec(
    name="cifar10",
    summary="CIFAR-10 (Krizhevsky 2009), 32x32 colour, 10 classes, 50k train / 10k test; downloaded (162 MB)",
    folder="cifar10",
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    # Size and MD5 (c32a1d4ab5d03f1284b67883e8d87530) as published on the data set's page; SHA-256 of those bytes.
    archive=DataFile(
        "cifar-10-binary.tar.gz", "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171
    ),
    train_members=tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)),
    test_members=("cifar-10-batches-bin/test_batch.bin",),
)
IMAGE_FOLDER = ImageFolderSpec(
    name="image-folder",
    summary="your own pictures: --data-dir FOLDER (a sub-folder per class), data.image_size (32), data.channels (3)",
    classes=(),  # the folder's class sub-folders, found when it is loaded
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (MNIST, BINARIZED_MNIST, FASHION_MNIST, CIFAR10, IMAGE_FOLDER)
}
TEST_BINARIZATION_SEED = 0  # the fixed draw that turns the test split into binary images (Burda et al. protocol)


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise unknown("data set", name, DATASETS)
    return DATASETS[name]


def verify(path: Path, file: DataFile) -> None:
    """Refuse a file whose size or SHA-256 differs from the registry's."""
    size = path.stat().st_size
    if size != file.size:
        raise GenzooError(f"{path}: {size} bytes, expected {file.size}; the file is damaged or not {file.name}")
    actual = sha256_file(path)
    if actual != file.sha256:
        raise GenzooError(f"{path}: SHA-256 {actual} does not match the expected {file.sha256}; the file is damaged")


def download(file: DataFile, mirrors: Sequence[str], target_dir: Path, timeout: float = 30.0) -> Path:
    """Fetch `file` from the first mirror that serves the right bytes; atomic: a partial file is never in place."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / file.name
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + file.name
        print(f"genzoo: downloading {file.name} from {url} into {target_dir}", file=sys.stderr)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".part", dir=target_dir)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            os.fchmod(fd, 0o666 & ~umask())
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != file.sha256:
                raise GenzooError(f"SHA-256 {digest.hexdigest()} != expected {file.sha256}")
            os.replace(tmp, target)
            return target
        except (OSError, urllib.error.URLError, GenzooError) as exc:
            failures.append(f"{url}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise GenzooError(f"could not download {file.name} into {target_dir}: " + "; ".join(failures))


def chosen_dirs(data_dir: Path | str | None) -> list[Path]:
    """The folders the user named (data.data_dir / --data-dir, then $GENZOO_DATA_DIR), each checked to be a
    folder: a typo must not fall back silently to another copy of the data."""
    chosen = []
    for key, value in (("data.data_dir", data_dir), ("$GENZOO_DATA_DIR", os.environ.get("GENZOO_DATA_DIR") or None)):
        if value is None:
            continue
        path = Path(value)
        if not path.is_dir():
            what = "is not a folder" if path.exists() else "does not exist"
            raise checks.invalid(key, str(value), f"a folder that holds the data set's files ({str(value)!r} {what})")
        chosen.append(path)
    return chosen


def search_dirs(data_dir: Path | str | None) -> list[Path]:
    """Where files are looked for, in order (see the module docstring)."""
    return [*chosen_dirs(data_dir), SHIPPED_DATA_DIR, cache_dir()]


def locate(
    spec: FileDatasetSpec, file: DataFile, data_dir: Path | str | None, mirrors: Sequence[str] | None = None
) -> Path:
    """The verified path of one of a data set's files, downloading it if it is found nowhere. A file missing from
    the folder the user named is taken from the next place with a warning that says which file and where from."""
    chosen = chosen_dirs(data_dir)
    for root in search_dirs(data_dir):
        for candidate in (root / spec.folder / file.name, root / file.name):
            if candidate.is_file():
                verify(candidate, file)
                if chosen and root not in chosen:
                    warnings.warn(
                        f"{file.name} is not in {chosen[0]} (nor {chosen[0] / spec.folder}); using {candidate}",
                        stacklevel=2,
                    )
                return candidate
    target = (Path(data_dir) if data_dir is not None else cache_dir()) / spec.folder
    return download(file, spec.mirrors if mirrors is None else mirrors, target)


def decoded_idx(path: Path, sha256: str) -> np.ndarray:
    """read_idx(path) of a verified file, decoded once per machine. The array is kept uncompressed in the cache
    folder, named by the SHA-256 of its source (so it cannot stand for another file) and the CRC-32 of its bytes
    (checked at every read: a damaged copy is dropped and decoded again), and mapped copy-on-write: a process then
    reads MNIST's 47 MB of images from the page cache instead of inflating 10 MB of gzip (about 0.5 s)."""
    folder = cache_dir() / "decoded"
    for copy in sorted(folder.glob(f"{sha256}-*.npy")):
        with contextlib.suppress(OSError, ValueError):
            array = np.load(copy, mmap_mode="c")  # writable, and nothing written ever reaches the file
            if f"{zlib.crc32(array):08x}" == copy.stem.rpartition("-")[2]:
                return array
        copy.unlink(missing_ok=True)
    array = read_idx(path)
    buffer = io.BytesIO()
    np.save(buffer, array)
    with contextlib.suppress(OSError):  # a cache that cannot be written slows the next start, nothing more
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / f"{sha256}-{zlib.crc32(array):08x}.npy", buffer.getvalue())
    return array


def _read_idx_split(spec: FileDatasetSpec, x: np.ndarray, y: np.ndarray, paths: Sequence[Path]) -> ImageSplit:
    """A split from its IDX arrays, images (N, H, W) uint8 and labels (N,), as read from `paths` (images, labels)."""
    image_path, label_path = paths[:2]
    if x.ndim != 3 or x.dtype != np.uint8:
        raise GenzooError(f"{image_path}: expected uint8 images of shape (N, H, W), got {x.dtype} {x.shape}")
    if y.ndim != 1:
        raise GenzooError(f"{label_path}: expected labels of shape (N,), got {y.shape}")
    if len(x) != len(y):
        raise GenzooError(f"{image_path} holds {len(x)} images but {label_path} holds {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() >= len(spec.classes)):
        raise GenzooError(f"{label_path}: labels must lie in 0..{len(spec.classes) - 1}, found {y.min()}..{y.max()}")
    # (N, H, W) -> (N, 1, H, W). Arrays parsed from bytes are read-only: copied, so torch owns writable memory.
    images = x[:, None] if x.flags.writeable else np.array(x[:, None])
    return ImageSplit(torch.from_numpy(images), torch.from_numpy(y.astype(np.int64)))


def binarize_once(images: torch.Tensor, seed: int = TEST_BINARIZATION_SEED) -> torch.Tensor:
    """Draw each pixel as Bernoulli(intensity / 255) with a fixed seed; returns uint8 in {0, 255}."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.bernoulli(images.float() / 255, generator=generator) * 255).to(torch.uint8)


def load_dataset(
    name: str,
    data_dir: Path | str | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    options: FolderOptions = FolderOptions(),
) -> Dataset:
    """Load a registered data set into memory. `train_size`/`test_size` keep the first n of each split."""
    dataset = get_spec(name).load(data_dir, mirrors, options)
    return Dataset(dataset.spec, dataset.train.subset(train_size), dataset.test.subset(test_size))
