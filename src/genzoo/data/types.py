"""The data layer's vocabulary: what a loaded data set is (splits of uint8 tensors), what a registered one
declares, and where the data layer keeps its caches. The registry (`datasets.py`) and the image-folder reader
(`folders.py`) both build on these; neither imports the other for them.
"""

from __future__ import annotations

import abc
import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from genzoo import checks


def cache_dir() -> Path:
    """Downloads and decoded arrays: $XDG_CACHE_HOME/genzoo/data (other caches sit beside it, in its parent)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "genzoo" / "data"


@dataclass(frozen=True)
class DataFile:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class FolderOptions:
    """How `image-folder` turns a folder of pictures into tensors (other data sets ignore these)."""

    image_size: int = 32  # every picture is centre-cropped to a square and resized to this side
    channels: int = 3  # 3: RGB, 1: grey
    test_fraction: float = 0.1  # share of the pictures held out as the test split (a fixed draw, seed 0)


@dataclass(frozen=True, kw_only=True)
class DatasetSpec(abc.ABC):
    """A registered data set: its classes, and how it becomes two in-memory splits."""

    name: str
    summary: str
    classes: tuple[str, ...]
    binarize: bool = False  # dynamic binarization of training batches; the test split is binarized once

    @abc.abstractmethod
    def load(self, data_dir: Path | str | None, mirrors: Sequence[str] | None, options: FolderOptions) -> Dataset:
        """Both splits in memory. `data_dir`: where to look first; `mirrors`: replace the registered ones."""


@dataclass
class ImageSplit:
    """One split in memory: images (N, C, H, W) uint8 in [0, 255], labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, n: int | None) -> ImageSplit:
        """The first n examples (all when n is None)."""
        return self if n is None else ImageSplit(self.images[:n], self.labels[:n])


@dataclass
class Dataset:
    spec: DatasetSpec
    train: ImageSplit
    test: ImageSplit
    validation: ImageSplit | None = None  # held out from the end of train (holding_out), never from test

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])  # (C, H, W)

    @property
    def num_classes(self) -> int:
        return len(self.spec.classes)

    def holding_out(self, n: int) -> Dataset:
        """The same data with the last n training images moved to a validation split (n = 0: unchanged)."""
        if n == 0:
            return self
        if n >= len(self.train):
            raise checks.out_of_range("data.validation_size", n, f"fewer than the {len(self.train)} training images")
        keep = len(self.train) - n
        train = ImageSplit(self.train.images[:keep], self.train.labels[:keep])
        validation = ImageSplit(self.train.images[keep:], self.train.labels[keep:])
        return dataclasses.replace(self, train=train, validation=validation)
