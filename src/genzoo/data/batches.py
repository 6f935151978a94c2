"""Batches as slices of an in-memory split: no DataLoader, no per-sample Python.

The split's uint8 images live on the training device once; an epoch is a permutation drawn from a generator
seeded by (seed, epoch), and a batch is a gather of `batch_size` rows converted to float in [0, 1]. Because the
order depends on nothing but (seed, epoch), a run resumed at batch i of epoch e sees exactly the batches the
uninterrupted run saw. Under data-parallel training each rank takes its own contiguous share of every global
batch, so the global batch is the same whatever the number of processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from genzoo.data.types import ImageSplit
from genzoo.errors import GenzooError


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed from any tuple of ints/strings; stable across runs, platforms and Python versions."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@dataclass
class Batch:
    x: torch.Tensor  # (B, C, H, W) float32 in [0, 1]
    y: torch.Tensor  # (B,) int64 labels

    def __len__(self) -> int:
        return self.x.shape[0]


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1]."""
    return images.to(torch.float32).div_(255.0)


class EpochBatches:
    """Shuffled training batches of one split, reproducible from (seed, epoch, batch index)."""

    def __init__(
        self,
        split: ImageSplit,
        batch_size: int,
        *,
        seed: int,
        device: torch.device | str = "cpu",
        binarize: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ):
        if batch_size % world_size:
            raise GenzooError(f"train.batch_size={batch_size} must be divisible by the {world_size} processes")
        if len(split) < batch_size:
            raise GenzooError(
                f"train.batch_size={batch_size} is larger than the {len(split)} training images; lower it"
            )
        self.device = torch.device(device)
        self.images = split.images.to(self.device)  # (N, C, H, W) uint8, resident for the whole run
        self.labels = split.labels.to(self.device)
        self.batch_size, self.seed, self.binarize = batch_size, seed, binarize
        self.local_size = batch_size // world_size
        self.offset = rank * self.local_size

    def __len__(self) -> int:
        """Batches per epoch; the last partial batch is dropped so every step sees the same batch size."""
        return self.images.shape[0] // self.batch_size

    def permutation(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(derive_seed(self.seed, "epoch", epoch))
        return torch.randperm(self.images.shape[0], generator=generator).to(self.device)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Batches start, start+1, ... of `epoch` (start > 0 when resuming in the middle of an epoch)."""
        order = self.permutation(epoch)
        for i in range(start, len(self)):
            lo = i * self.batch_size + self.offset
            index = order[lo : lo + self.local_size]
            x = to_float(self.images.index_select(0, index))
            if self.binarize:  # dynamic binarization: a fresh Bernoulli draw of every pixel, every time
                # Uniforms for the whole global batch, this rank's rows taken: the same draws whatever the
                # number of processes.
                generator = torch.Generator(self.device).manual_seed(derive_seed(self.seed, "binarize", epoch, i))
                u = torch.rand((self.batch_size, *x.shape[1:]), generator=generator, device=self.device)
                x = (u[self.offset : self.offset + self.local_size] < x).to(x.dtype)
            yield Batch(x, self.labels.index_select(0, index))


def eval_batches(split: ImageSplit, batch_size: int, device: torch.device | str = "cpu") -> Iterator[Batch]:
    """The split in order, in batches of `batch_size` (the last one may be smaller)."""
    for lo in range(0, len(split), batch_size):
        x = to_float(split.images[lo : lo + batch_size].to(device))
        yield Batch(x, split.labels[lo : lo + batch_size].to(device))
