"""Images in and out of genzoo in the forms other tools read and write, and the scoring of images genzoo did not
make with the protocol of `genzoo evaluate`.

Out (`genzoo sample RUN -o samples.npz` or `-o DIR/`): uint8 arrays in an .npz, `images` (N, C, H, W) and, for a
conditional model, `labels` (N,); or a folder of numbered PNGs (000000.png, 000001.png, ...) with `labels.csv`
(file,label) beside them for a conditional model. torch-fidelity, clean-fid and most papers' FID scripts read
either. Pixels are rounded as the grids round them (x * 255 + 0.5, truncated).

In (`genzoo evaluate --images PATH --dataset mnist`): a folder of pictures, an .npy array, or an .npz (its
`images` array, or its only array, and `labels` when present), of shape (N, H, W), (N, C, H, W) or (N, H, W, C),
uint8 in [0, 255] or floats in [0, 1]. Everything is checked against the data set before any feature is
computed: the size must be the data set's (nothing is resized: resampling would move the figures), the channels
its channels (three equal channels count as grey, as tools often save grey pictures in RGB), the values in range.
The figures are those of `genzoo evaluate`'s "quality" section (evaluate/quality.py: FD-lenet, KID, precision /
recall, density / coverage, classifier score, and the conditional accuracy when labels come with the images)
against the same test set and real-data floor, so `genzoo compare` ranks them beside genzoo's runs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from genzoo.data import arrays
from genzoo.data.arrays import check_values, to_nchw
from genzoo.data.types import Dataset
from genzoo.errors import GenzooError
from genzoo.evaluate.quality import PROTOCOL, score_samples

ARRAY_SUFFIXES = (".npz", ".npy")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
LABELS_FILE = "labels.csv"  # beside a folder of samples from a conditional model: file,label per picture
MIN_IMAGES = PROTOCOL["classifier_score_splits"]  # the classifier score splits the images in 10


# -- out ------------------------------------------------------------------------------------------------------------
def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> the same uint8 array, rounded as image grids are (explore/grids.py)."""
    return (images.detach().float().clamp(0, 1).cpu() * 255 + 0.5).to(torch.uint8).numpy()


def write_npz(path: Path, images: torch.Tensor, labels: torch.Tensor | None) -> Path:
    """`images` (N, C, H, W) uint8 and, when given, `labels` (N,) int64 into one compressed .npz."""
    arrays = {"images": to_uint8(images)}
    if labels is not None:
        arrays["labels"] = labels.cpu().numpy().astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def picture_names(n: int) -> list[str]:
    """000000.png ... : zero-padded to six digits (more when n needs them), so names sort in drawing order."""
    width = max(6, len(str(n - 1)))
    return [f"{i:0{width}d}.png" for i in range(n)]


def write_png_folder(folder: Path, images: torch.Tensor, labels: torch.Tensor | None) -> Path:
    """One PNG per image (grey or RGB, at the model's size) and, with labels, labels.csv. The folder must be new or
    empty (check_empty_folder): stale pictures of an earlier draw would join the next tool's count."""
    pixels = to_uint8(images).transpose(0, 2, 3, 1)  # (N, H, W, C)
    folder.mkdir(parents=True, exist_ok=True)
    names = picture_names(len(pixels))
    for name, picture in zip(names, pixels):  # a file per image: I/O by nature, not a hot path
        Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(folder / name)
    if labels is not None:
        with open(folder / LABELS_FILE, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["file", "label"])
            writer.writerows(zip(names, labels.cpu().tolist()))
    return folder


def check_empty_folder(folder: Path, option: str = "-o") -> None:
    if folder.exists() and not folder.is_dir():
        raise GenzooError(f"{option} {folder}/: {folder} is a file; expected a new or empty folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise GenzooError(
            f"{option} {folder}/: the folder is not empty; pick a new or empty folder (pictures left from another "
            "draw would be counted with these)"
        )


# -- in -------------------------------------------------------------------------------------------------------------
def read_images(
    path: Path | str, image_shape: tuple[int, int, int], dataset: str, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, Any]]:
    """(images (N, C, H, W) float32 in [0, 1], labels (N,) int64 or None, what was read) from a folder of pictures,
    an .npy or an .npz, checked against the data set's `image_shape`; a GenzooError of one line naming the file
    and what was expected otherwise."""
    path = Path(path)
    if path.is_dir():
        array, labels, source = _read_folder(path)
    elif path.is_file() and path.suffix.lower() in ARRAY_SUFFIXES:
        array, labels, source = _read_array_file(path)
    elif path.exists():
        raise GenzooError(
            f"--images {path}: expected a folder of pictures, an .npy or an .npz file "
            f"(got a {path.suffix or 'suffix-less'} file)"
        )
    else:
        raise GenzooError(f"--images {path}: no such file or folder")
    images = images_from_array(array, image_shape, dataset, str(path))
    if labels is not None:
        labels = check_labels(labels, len(images), num_classes, str(path))
    return images, labels, {**source, "path": str(path.resolve()), "n_images": len(images)}


def images_from_array(array: Any, image_shape: tuple[int, int, int], dataset: str, where: str) -> torch.Tensor:
    """An array (N, H, W), (N, C, H, W) or (N, H, W, C), uint8 or floats in [0, 1] (numpy or torch) -> (N, C, H, W)
    float32 in [0, 1] of the data set's shape, or one line saying what was expected."""
    array = to_nchw(array, where)
    check_values(array, where)
    n, channels, height, width = array.shape
    c, h, w = image_shape
    if (height, width) != (h, w):
        raise GenzooError(
            f"{where}: images of {height}x{width}; {dataset} is {h}x{w}: resize them first (genzoo does not resize: "
            "resampling would change the figures)"
        )
    images = torch.from_numpy(np.ascontiguousarray(array)).float()
    if array.dtype == np.uint8:
        images /= 255
    if channels != c:
        if c == 1 and channels == 3 and bool((images[:, 1:] == images[:, :1]).all()):
            images = images[:, :1]  # grey pictures saved as RGB: the three channels are one
        else:
            colour = " (colour)" if channels == 3 else ""
            raise GenzooError(f"{where}: {channels}-channel images{colour}; {dataset} has {c} channel{'s' * (c > 1)}")
    if n < MIN_IMAGES:
        raise GenzooError(
            f"{where}: {n} images; the metrics need at least {MIN_IMAGES} ({PROTOCOL['samples']:,} is the protocol)"
        )
    return images


def check_labels(labels: Any, n: int, num_classes: int, where: str) -> torch.Tensor:
    return torch.from_numpy(arrays.check_labels(labels, n, f"{where} labels", num_classes))


def _read_array_file(path: Path) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    source = {"format": path.suffix.lower().lstrip("."), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    try:
        stored = np.load(path, allow_pickle=False)  # never unpickles: object arrays are refused
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise GenzooError(f"{path}: not a readable {path.suffix} file ({exc})") from exc
    if isinstance(stored, np.ndarray):
        return stored, None, source
    with stored:
        names = list(stored.files)
        candidates = ["images"] if "images" in names else [k for k in names if k != "labels"]
        if len(candidates) != 1:
            raise GenzooError(
                f"{path}: holds arrays {', '.join(names) or '(none)'}; expected one named 'images' (or a single "
                "array), with 'labels' beside it optionally"
            )
        try:
            return stored[candidates[0]], stored["labels"] if "labels" in names else None, source
        except ValueError as exc:  # an object array would need pickle
            raise GenzooError(f"{path}: {exc}") from exc


def _read_folder(folder: Path) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """The folder's pictures (not its sub-folders), sorted by name, as one uint8 array: (N, H, W) when all are grey,
    else (N, 3, H, W); labels from labels.csv when it is there."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file())
    if not files:
        raise GenzooError(f"--images {folder}: no pictures ({', '.join(PICTURE_SUFFIXES)}) in the folder")
    pictures = []
    for file in files:  # decoding is per picture by nature: once, before anything is measured
        try:
            with Image.open(file) as picture:
                mode = picture.mode
                if mode.startswith(("I", "F")):  # 16-bit or float pixels: no one scale to read them on
                    raise GenzooError(f"{file}: a {mode} picture; expected 8-bit grey or colour pictures")
                array = np.asarray(picture.convert("L" if mode in ("1", "L", "LA") else "RGB"), dtype=np.uint8)
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            raise GenzooError(f"{file}: not a picture Pillow can read ({exc})") from exc
        # array: (H, W) grey or (H, W, 3)
        if pictures and array.shape[:2] != pictures[0].shape[:2]:
            (h, w), (h0, w0) = array.shape[:2], pictures[0].shape[:2]
            raise GenzooError(f"{file}: a {w}x{h} picture; the folder's first ({files[0].name}) is {w0}x{h0}")
        pictures.append(array)
    if any(p.ndim == 3 for p in pictures):  # grey and colour mixed: all in RGB (equal channels count as grey later)
        pictures = [p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2) for p in pictures]
        images = np.stack(pictures).transpose(0, 3, 1, 2)  # (N, 3, H, W)
    else:
        images = np.stack(pictures)  # (N, H, W): unambiguous whatever H and W are
    labels = None
    if (folder / LABELS_FILE).is_file():
        labels = _read_labels_csv(folder / LABELS_FILE, [f.name for f in files])
    return images, labels, {"format": "folder", "pictures": len(files)}


def _read_labels_csv(path: Path, names: list[str]) -> np.ndarray:
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        by_name = {row["file"]: int(row["label"]) for row in rows}
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise GenzooError(f"{path}: expected a CSV with columns file,label ({exc})") from exc
    missing = [name for name in names if name not in by_name]
    if missing:
        raise GenzooError(
            f"{path}: no label for {missing[0]} (and {len(missing) - 1} more pictures); expected one per picture"
        )
    return np.array([by_name[name] for name in names], dtype=np.int64)


# -- scoring ----------------------------------------------------------------------------------------------------------
def score_images(
    images: torch.Tensor, labels: torch.Tensor | None, dataset: Dataset, source: dict[str, Any], device: str = "cpu"
) -> dict[str, Any]:
    """eval.json's "quality" section for images (N, C, H, W) in [0, 1]: the figures `genzoo evaluate` gives a run
    with N samples, against the same test set and floor (quality.reference), with `source` (what was read) beside
    them. `dataset` must be the whole data set (both splits)."""
    started = time.perf_counter()
    section = score_samples(images, labels, dataset, device, {"sampler": "images"})  # not drawn by genzoo
    section.update(images=source, seconds=round(time.perf_counter() - started, 1))
    return section
