"""Image grids and GIFs written with Pillow (no torchvision)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def image_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> one (rows*(H+p)+p, nrow*(W+p)+p, C) uint8 picture, row-major."""
    images = images.detach().float().clamp(0, 1).cpu()
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad_value)
    for i in range(n):  # at most a few hundred tiles: a picture, not a hot path
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return (grid * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()


def to_pil(array: np.ndarray) -> Image.Image:
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def save_grid(images: torch.Tensor, path: Path | str, nrow: int | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pil(image_grid(images, nrow)).save(path)
    return path


def interleave_rows(top: torch.Tensor, bottom: torch.Tensor, nrow: int) -> torch.Tensor:
    """Pairs of rows: nrow originals above their nrow reconstructions, and so on. Both (N, C, H, W)."""
    n = (top.shape[0] // nrow) * nrow
    a = top[:n].reshape(-1, nrow, *top.shape[1:])
    b = bottom[:n].reshape(-1, nrow, *bottom.shape[1:])
    return torch.stack([a, b], dim=1).reshape(-1, *top.shape[1:])  # (rows, 2, nrow, C, H, W) -> (2n, C, H, W)


def save_gif(frames: Sequence[Path], path: Path | str, duration_ms: int = 400, scale: int = 2) -> Path | None:
    """Animate PNG frames (e.g. one sample grid per epoch); the last frame is held longer. None when no frames."""
    if not frames:
        return None
    images = []
    for frame in frames:
        with Image.open(frame) as im:
            im = im.convert("L") if im.mode in ("L", "1") else im.convert("RGB")
            images.append(im.resize((im.width * scale, im.height * scale), Image.NEAREST))
    durations = [duration_ms] * (len(images) - 1) + [duration_ms * 4]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path
