"""A folder of the user's own pictures as an in-memory data set (`data.dataset: image-folder`).

Layout: one sub-folder per class, whose sorted names become labels 0, 1, ... (the convention of most image-folder
loaders), or the pictures directly in the folder (one class, named after it). Every picture is converted to RGB
or grey, centre-cropped to a square and resized to `image_size` with Pillow, once: the decoded arrays are cached
(keyed by the pictures' names, sizes and modification times and the options), so later runs start at once and an
edited folder is decoded anew. The test split is a fixed draw (seed 0) of `test_fraction` of the pictures, the
same for every run and model.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from genzoo.data.types import FolderOptions, ImageSplit, cache_dir
from genzoo.errors import GenzooError
from genzoo.files import atomic_write_bytes

SPLIT_SEED = 0


def list_pictures(root: Path, extensions: tuple[str, ...]) -> tuple[list[tuple[Path, int]], tuple[str, ...]]:
    """[(picture, label)] sorted by path, and the class names. Hidden files and folders are skipped."""

    def pictures_under(folder: Path) -> list[Path]:
        return sorted(
            p
            for p in folder.rglob("*")
            if p.suffix.lower() in extensions
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )

    if not root.is_dir():
        raise GenzooError(f"data.data_dir={str(root)!r}: not a folder of pictures")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and pictures_under(d))
    if class_dirs:
        items = [(p, label) for label, d in enumerate(class_dirs) for p in pictures_under(d)]
        classes = tuple(d.name for d in class_dirs)
    else:
        items, classes = [(p, 0) for p in pictures_under(root)], (root.resolve().name or "pictures",)
    if len(items) < 2:
        raise GenzooError(
            f"{root}: found {len(items)} pictures ({', '.join(extensions)}); a data set needs at "
            "least two (one for training, one for testing)"
        )
    return items, classes


def decode(path: Path, size: int, channels: int) -> np.ndarray:
    """One picture -> (C, size, size) uint8: converted, centre-cropped to a square, resized (bicubic)."""
    try:
        with Image.open(path) as picture:
            picture = picture.convert("RGB" if channels == 3 else "L")
            picture = ImageOps.fit(picture, (size, size), method=Image.Resampling.BICUBIC)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise GenzooError(f"{path}: not a picture Pillow can read ({exc})") from exc
    array = np.asarray(picture, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)


def cache_key(root: Path, items: list[tuple[Path, int]], classes: tuple[str, ...], options: FolderOptions) -> str:
    digest = hashlib.sha256(json.dumps([str(root.resolve()), options.image_size, options.channels, classes]).encode())
    for path, label in items:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def read_image_folder(
    root: Path, extensions: tuple[str, ...], options: FolderOptions
) -> tuple[ImageSplit, ImageSplit, tuple[str, ...]]:
    if options.channels not in (1, 3):
        raise GenzooError(f"data.channels={options.channels}; expected 1 (grey) or 3 (RGB)")
    items, classes = list_pictures(root, extensions)
    cache = cache_dir().parent / "image-folder" / f"{cache_key(root, items, classes, options)}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            images, labels = stored["images"], stored["labels"]
    else:  # decoding is per picture by nature: done once, here, never on the training path
        images = np.stack([decode(path, options.image_size, options.channels) for path, _ in items])
        labels = np.array([label for _, label in items], dtype=np.int64)
        buffer = io.BytesIO()
        np.savez(buffer, images=images, labels=labels)
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cache, buffer.getvalue())
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = min(len(items) - 1, max(1, round(options.test_fraction * len(items))))
    images, labels = torch.from_numpy(images), torch.from_numpy(labels)
    test, train = order[:n_test].sort().values, order[n_test:].sort().values
    return ImageSplit(images[train], labels[train]), ImageSplit(images[test], labels[test]), classes
