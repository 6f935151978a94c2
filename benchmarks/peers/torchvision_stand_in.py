"""Stand-ins for the few torchvision pieces the classic scripts use, so they can be timed where torchvision is not
installed (it is not a genzoo dependency). Written for timing, not copied from torchvision: each piece does per
sample the work torchvision does, in the same order and with the same libraries (torch, numpy, PIL), so that a
`torch.utils.data.DataLoader` over it costs what the scripts' own data path costs.

  MNIST(root, train, transform)  datasets.MNIST: the split is held as a uint8 torch tensor (torchvision keeps
                                 it so after its first download); __getitem__ indexes it, makes a PIL 'L' image
                                 of the sample, applies the transform and returns (image, int label)
  Compose, Resize, ToTensor, Normalize
                                 transforms: PIL bilinear resize of the smaller edge (skipped when the size
                                 already matches, as torchvision's resize does); HWC uint8 -> CHW float / 255;
                                 (x - mean) / std on a copy, after checking std for zeros
  save_image(tensor, path, nrow, normalize)
                                 utils.save_image: a grid padded by 2 pixels, 3 channels, PNG through PIL

The data are the IDX files shipped in the repository's data/mnist (read with numpy, as the scripts' torchvision
would have read its own copy once at construction, outside any training loop).
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "mnist"
FILES = {
    True: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    False: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: Path, header: int) -> np.ndarray:
    """The payload of a gzip-compressed IDX file of unsigned bytes (images: 16 header bytes, labels: 8)."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


class MNIST(torch.utils.data.Dataset):
    """A map-style MNIST split: one PIL round trip and one transform call per sample, like torchvision's."""

    def __init__(self, root: str | Path | None = None, train: bool = True, transform=None):
        root = Path(root) if root is not None else DATA_DIR
        images, labels = FILES[train]
        self.data = torch.from_numpy(read_idx(root / images, 16).reshape(-1, 28, 28).copy())  # (N, 28, 28) uint8
        self.targets = torch.from_numpy(read_idx(root / labels, 8).astype(np.int64))  # (N,)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        img, target = self.data[index], int(self.targets[index])
        img = Image.fromarray(img.numpy(), mode="L")  # the PIL image every torchvision transform starts from
        if self.transform is not None:
            img = self.transform(img)
        return img, target


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class Resize:
    """An int size matches the smaller edge (MNIST is square: side x side), bilinear, as Resize(size) does."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, img: Image.Image) -> Image.Image:
        width, height = img.size
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(self.size * long / short)
        out = (self.size, new_long) if width <= height else (new_long, self.size)  # (w, h)
        if out == (width, height):
            return img
        return img.resize(out, Image.BILINEAR)


class ToTensor:
    """A PIL image -> (C, H, W) float tensor in [0, 1]."""

    def __call__(self, pic: Image.Image) -> torch.Tensor:
        array = np.array(pic, np.uint8, copy=True)  # (H, W) for mode L
        x = torch.from_numpy(array).view(pic.size[1], pic.size[0], len(pic.getbands()))
        return x.permute(2, 0, 1).contiguous().to(torch.get_default_dtype()).div(255)


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)
        std = torch.as_tensor(self.std, dtype=x.dtype, device=x.device)
        if (std == 0).any():
            raise ValueError("std evaluated to zero, leading to division by zero")
        return x.sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))


def save_image(
    tensor: torch.Tensor, path: str | Path, nrow: int = 8, normalize: bool = False, padding: int = 2
) -> None:
    """(B, C, H, W) images -> one PNG grid of nrow columns; normalize=True stretches the batch's [min, max] to
    [0, 1], otherwise values are clamped to [0, 1]."""
    x = tensor.detach().cpu().float()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.size(1) == 1:
        x = torch.cat([x, x, x], 1)
    if normalize:
        low, high = float(x.min()), float(x.max())
        x = (x.clamp(low, high) - low) / max(high - low, 1e-5)
    n, c, h, w = x.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = torch.zeros(c, rows * (h + padding) + padding, cols * (w + padding) + padding)
    for k in range(n):
        top, left = (k // cols) * (h + padding) + padding, (k % cols) * (w + padding) + padding
        grid[:, top : top + h, left : left + w] = x[k]
    pixels = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    Image.fromarray(pixels).save(path)
