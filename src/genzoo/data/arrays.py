"""Your own images as a data set: tensors, numpy arrays or a torch.utils.data.Dataset handed to `genzoo.train`, and
the arrays data set (`data.dataset: arrays`) that keeps them in a run folder so that every verb reads them again.

    genzoo.train(config, "runs/mine", data=images)                           # (N, H, W), (N, C, H, W) or (N, H, W, C)
    genzoo.train(config, "runs/mine", data=(images, labels))                 # labels (N,) int in 0..K-1
    genzoo.train(config, "runs/mine", data={"train": (x, y), "test": (x2, y2)})
    genzoo.train(config, "runs/mine", data=torch_dataset)                    # items: image or (image, label)

Images are uint8 in [0, 255] or floats in [0, 1], with 1 (grey) or 3 (RGB) channels. They are checked once, with
one line naming what was expected, and held as every data set is (types.ImageSplit: one uint8 tensor per split,
batched by slicing): floats are rounded to uint8 there. A torch Dataset is read item by item once, here, never on
the training path. Without a test split, a fixed draw (seed 0) of `data.test_fraction` of the images is held out,
as for an image folder. The run keeps the arrays as data.npz (uncompressed, no pickle) and its config names them:
`data: {dataset: arrays, data_dir: .../data.npz}`; `genzoo train MODEL --dataset arrays --data-dir x.npz` reads
such a file too (arrays train_images, optional train_labels, test_images, test_labels, classes).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo.data.folders import SPLIT_SEED
from genzoo.data.types import Dataset, DatasetSpec, FolderOptions, ImageSplit
from genzoo.errors import GenzooError
from genzoo.files import atomic_write_bytes

ARRAYS = "arrays"  # the data set name a run trained on arrays carries in its config
DATA_FILE = "data.npz"  # where such a run keeps them


# -- one array of images, whatever its layout ---------------------------------------------------------------------
def to_nchw(array: Any, where: str) -> np.ndarray:
    """An array of images (N, H, W), (N, C, H, W) or (N, H, W, C) with C 1 or 3 (numpy, torch or anything
    np.asarray takes) -> (N, C, H, W), values untouched; one line naming the shape otherwise."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    try:
        array = np.asarray(array)
    except ValueError as exc:  # a list of images of several shapes
        raise GenzooError(f"{where}: not one array ({exc}); expected images of one shape") from None
    shape = tuple(array.shape)
    if array.ndim == 3:
        return array[:, None]
    if array.ndim == 4 and shape[1] not in (1, 3) and shape[3] in (1, 3):  # channels last
        return array.transpose(0, 3, 1, 2)
    if array.ndim == 4 and shape[1] in (1, 3):
        return array
    raise GenzooError(
        f"{where}: images of shape {shape}; expected (N, H, W), (N, C, H, W) or (N, H, W, C) with 1 or 3 channels"
    )


def check_values(array: np.ndarray, where: str) -> None:
    """uint8, or floats that are finite and in [0, 1]; one line naming what was found otherwise."""
    if array.dtype == np.uint8:
        return
    if not np.issubdtype(array.dtype, np.floating):
        hint = " (convert 0..255 integers with .astype(np.uint8))" if np.issubdtype(array.dtype, np.integer) else ""
        raise GenzooError(
            f"{where}: images of dtype {array.dtype}; expected uint8 in [0, 255] or floats in [0, 1]{hint}"
        )
    if array.size == 0:
        return
    if not np.isfinite(array).all():
        raise GenzooError(f"{where}: the images hold NaN or infinite values; expected floats in [0, 1]")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        hint = " (for [-1, 1] images: (x + 1) / 2)" if low >= -1 and high <= 1 else ""
        raise GenzooError(f"{where}: values in [{low:.4g}, {high:.4g}]; expected floats in [0, 1]{hint} or uint8")


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Checked images -> uint8, floats rounded (x * 255 + 0.5, truncated: as image grids are written)."""
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    return (array.astype(np.float32) * 255 + 0.5).astype(np.uint8)


def check_labels(labels: Any, n: int, where: str, num_classes: int | None = None) -> np.ndarray:
    """Labels (n,) of integers >= 0 (and < num_classes when given) -> int64; one line otherwise (`where` names
    them: "data labels")."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.shape != (n,) or not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise GenzooError(f"{where}: shape {labels.shape} and dtype {labels.dtype}; expected ({n},) integers")
    if n and (labels.min() < 0 or (num_classes is not None and labels.max() >= num_classes)):
        expected = f"0..{num_classes - 1}" if num_classes is not None else "integers >= 0"
        raise GenzooError(f"{where}: values in {labels.min()}..{labels.max()}; expected {expected}")
    return labels.astype(np.int64)


# -- what genzoo.train(data=...) takes -------------------------------------------------------------------------------
def as_split(data: Any, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(images (N, C, H, W) uint8, labels (N,) int64 or None) from images, (images, labels) or a torch Dataset."""
    if isinstance(data, torch.utils.data.Dataset):
        data = _materialise(data, where)
    if isinstance(data, tuple):
        if len(data) != 2:
            raise GenzooError(f"{where}: a tuple of {len(data)}; expected (images, labels)")
        images, labels = data
    else:
        images, labels = data, None
    images = to_nchw(images, f"{where} images")
    check_values(images, f"{where} images")
    if len(images) == 0:
        raise GenzooError(f"{where}: no images; expected at least one")
    labels = None if labels is None else check_labels(labels, len(images), f"{where} labels")
    return to_uint8(images), labels


def _materialise(dataset: torch.utils.data.Dataset, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A map-style Dataset read once, item by item: items are images (tensor, array or PIL picture) or (image,
    label) pairs; images stacked as they are (their layout and values are checked by the caller)."""
    try:
        n = len(dataset)
    except TypeError:
        raise GenzooError(f"{where}: a Dataset without len(); expected a map-style Dataset (items by index)") from None
    images, labels = [], []
    for i in range(n):  # once, before training: per-item Python by nature of a Dataset
        item = dataset[i]
        has_label = isinstance(item, (tuple, list))
        if has_label and len(item) < 2:
            raise GenzooError(f"{where}[{i}]: an item of length {len(item)}; expected an image or (image, label)")
        image = item[0] if has_label else item
        image = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        if i and image.shape != images[0].shape:
            raise GenzooError(f"{where}[{i}]: an image of shape {image.shape}, item 0's is {images[0].shape}")
        images.append(image)
        if has_label:
            label = item[1]
            try:
                labels.append(int(label.item() if isinstance(label, torch.Tensor) else label))
            except (TypeError, ValueError, RuntimeError):
                raise GenzooError(f"{where}[{i}]: a label {label!r}; expected a class index (an integer)") from None
        elif labels:
            raise GenzooError(f"{where}[{i}]: an image without a label, where item 0 has one")
    if not images:
        raise GenzooError(f"{where}: an empty Dataset; expected images")
    stacked = np.stack(images)
    # One image of (C, H, W) or (H, W, C) stacked is (N, C, H, W) / (N, H, W, C); an (H, W) one gives (N, H, W).
    return stacked, (np.array(labels, dtype=np.int64) if labels else None)


def as_dataset(
    data: Any, test_fraction: float = 0.1, classes: Sequence[str] | None = None, name: str = ARRAYS
) -> Dataset:
    """A Dataset in memory from what genzoo.train(data=...) takes (module docstring): a dict {"train": ..., "test":
    ...} or one set, whose test split is then a fixed draw of `test_fraction` of it. Labels default to 0 (one
    class); class names to the Dataset's `classes` attribute where it has one, else "0", "1", ..."""
    if classes is None and isinstance(data, torch.utils.data.Dataset):
        classes = getattr(data, "classes", None)
    if isinstance(data, dict):
        unknown = set(data) - {"train", "test"}
        if unknown or "train" not in data:
            raise GenzooError(
                f"data={{{', '.join(map(repr, data))}}}; expected {{'train': ..., 'test': ...}} (test optional)"
            )
        train = as_split(data["train"], "data['train']")
        test = as_split(data["test"], "data['test']") if data.get("test") is not None else None
        if classes is None and isinstance(data["train"], torch.utils.data.Dataset):
            classes = getattr(data["train"], "classes", None)
    else:
        train, test = as_split(data, "data"), None
    if test is None:
        if len(train[0]) < 2:
            raise GenzooError("data: 1 image; expected at least two (one to train on, one to test)")
        train, test = _hold_out(train, test_fraction)
    elif train[0].shape[1:] != test[0].shape[1:]:
        raise GenzooError(
            f"data['test'] images of shape {test[0].shape[1:]}, data['train'] ones {train[0].shape[1:]}; expected one"
        )
    if (train[1] is None) != (test[1] is None):
        raise GenzooError("data: labels for one split only; give labels for both train and test, or for neither")
    labels = [split[1] for split in (train, test) if split[1] is not None]
    count = max(int(y.max()) + 1 for y in labels) if labels else 1
    if classes is not None:
        classes = tuple(map(str, classes))
        if len(classes) < count:
            raise GenzooError(f"data: labels up to {count - 1}, but {len(classes)} class names; expected one per label")
    spec = ArraysSpec(name=name, summary="your own arrays", classes=classes or tuple(str(c) for c in range(count)))
    return Dataset(spec, _split(*train), _split(*test))


def _hold_out(train: tuple[np.ndarray, np.ndarray | None], fraction: float):
    images, labels = train
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(SPLIT_SEED)).numpy()
    n_test = min(len(images) - 1, max(1, round(fraction * len(images))))
    test, kept = np.sort(order[:n_test]), np.sort(order[n_test:])
    pick = lambda rows: (images[rows], None if labels is None else labels[rows])
    return pick(kept), pick(test)


def _split(images: np.ndarray, labels: np.ndarray | None) -> ImageSplit:
    labels = np.zeros(len(images), np.int64) if labels is None else labels
    return ImageSplit(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels))


# -- kept in a run folder --------------------------------------------------------------------------------------------
def save_arrays(dataset: Dataset, path: Path) -> Path:
    """Both splits and the class names in one .npz (uncompressed: written and read at disk speed; no pickle)."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        train_images=dataset.train.images.numpy(),
        train_labels=dataset.train.labels.numpy(),
        test_images=dataset.test.images.numpy(),
        test_labels=dataset.test.labels.numpy(),
        classes=np.array(dataset.spec.classes, dtype=str),
    )
    atomic_write_bytes(path, buffer.getvalue())
    return path


@dataclass(frozen=True, kw_only=True)
class ArraysSpec(DatasetSpec):
    """`data.dataset: arrays`: the .npz that `data.data_dir` names (save_arrays' arrays)."""

    def load(self, data_dir: Path | str | None, mirrors: Sequence[str] | None, options: FolderOptions) -> Dataset:
        if data_dir is None:
            raise GenzooError("data.dataset=arrays needs data.data_dir: the .npz file of the arrays")
        path = Path(data_dir)
        if not path.is_file():
            raise GenzooError(f"data.data_dir={str(path)!r}: no such file; expected the .npz of the arrays")
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
        except (OSError, ValueError) as exc:
            raise GenzooError(f"{path}: not a readable .npz ({exc})") from exc
        missing = {"train_images", "test_images"} - arrays.keys()
        if missing:
            raise GenzooError(f"{path}: no {', '.join(sorted(missing))}; expected train_images and test_images")
        train = arrays["train_images"], arrays.get("train_labels")
        test = arrays["test_images"], arrays.get("test_labels")
        classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else None
        dataset = as_dataset({"train": train, "test": test}, classes=classes, name=self.name)
        return replace(dataset, spec=replace(self, classes=dataset.spec.classes))


ARRAYS_SPEC = ArraysSpec(
    name=ARRAYS,
    summary="your own arrays: genzoo.train(config, data=...), or --data-dir FILE.npz (train_images, test_images, ...)",
    classes=(),  # the arrays' own, found when they are loaded
)
