"""Differentiable augmentation for data-efficient GAN training, DiffAugment (Zhao et al. 2020, "Differentiable
Augmentation for Data-Efficient GAN Training").

A discriminator trained on few images memorises them and stops teaching the generator. DiffAugment shows it
transformed images, T(x) for the real ones and T(G(z)) for the fakes, in the discriminator's loss and in the
generator's, with transformations that are differentiable, so the generator's gradient flows back through T.
The three policies and their parameters are those of the paper's reference implementation (DiffAugment_pytorch.py),
written for images in [-1, 1]:

    color        brightness + U[-0.5, 0.5); saturation: deviation from the channel mean x U[0, 2);
                 contrast: deviation from the image mean x U[0.5, 1.5)           (per image)
    translation  a shift of up to 1/8 of the side in each direction, whole pixels, zeros filled in
    cutout       a square of half the side set to zero, its centre anywhere in the image

Everything is vectorised over the batch (index arithmetic and gathers; no per-image Python) and every random
parameter is drawn in one call per kind from the default generator, so a run that saves its RNG state resumes
with the same draws. Parameters are drawn apart from their use (`draw`, then `apply`), so the very same
transformation can be applied to several batches: a step applies one draw to its real and its fake images.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from genzoo import checks

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125  # the largest shift, as a fraction of the side (the reference implementation's)
CUTOUT_RATIO = 0.5  # the cut square's side, as a fraction of the image's


def parse_policy(key: str, text: str) -> tuple[str, ...]:
    """'color,translation,cutout' -> ('color', 'translation', 'cutout'); 'none' (or '') -> (). One line naming the
    key for anything else (an unknown or repeated name)."""
    if not isinstance(text, str):
        raise checks.invalid(key, text, f"none or a comma-separated list of {', '.join(POLICIES)}")
    if text.strip().lower() in ("", "none"):
        return ()
    names = tuple(name.strip() for name in text.split(","))
    if any(name not in POLICIES for name in names) or len(set(names)) != len(names):
        raise checks.invalid(
            key, text, f"none or a comma-separated list of {', '.join(POLICIES)}, each at most once (no spaces needed)"
        )
    return names


class AugmentParams(NamedTuple):
    """One draw of the random parameters for B images; None for a policy not in use."""

    color: torch.Tensor | None  # (3, B, 1, 1, 1): brightness offset, saturation factor, contrast factor
    shift: torch.Tensor | None  # (2, B, 1, 1, 1) int64: rows and columns to shift by, in [-s, s]
    cutout: torch.Tensor | None  # (2, B, 1, 1, 1) int64: the cut square's first row and column (may be < 0)


def shift_limit(side: int) -> int:
    return int(side * TRANSLATION_RATIO + 0.5)


def cutout_size(side: int) -> int:
    return int(side * CUTOUT_RATIO + 0.5)


def draw(policy: tuple[str, ...], n: int, height: int, width: int, device: torch.device) -> AugmentParams:
    """Random parameters for n images of height x width, from the default generator (one call per policy)."""
    color = shift = cut = None
    if "color" in policy:
        # U[0, 1) three times per image, mapped to the reference ranges: brightness -0.5 + u, saturation 2u,
        # contrast 0.5 + u.
        u = torch.rand(3, n, 1, 1, 1, device=device)
        color = u * torch.tensor([1.0, 2.0, 1.0], device=device).view(3, 1, 1, 1, 1) + torch.tensor(
            [-0.5, 0.0, 0.5], device=device
        ).view(3, 1, 1, 1, 1)
    if "translation" in policy:
        limit = torch.tensor([shift_limit(height), shift_limit(width)], device=device).view(2, 1, 1, 1, 1)
        # randint over [-s, s] for both sides at once: U[0, 1) scaled to 2s + 1 cells and floored
        shift = (torch.rand(2, n, 1, 1, 1, device=device) * (2 * limit + 1)).floor().long() - limit
    if "cutout" in policy:
        size = torch.tensor([cutout_size(height), cutout_size(width)], device=device).view(2, 1, 1, 1, 1)
        # the square's centre anywhere in the image (the reference: offset in [0, side + (1 - size % 2)) minus
        # size // 2), as its first row/column
        span = torch.tensor([height, width], device=device).view(2, 1, 1, 1, 1) + (1 - size % 2)
        cut = (torch.rand(2, n, 1, 1, 1, device=device) * span).floor().long() - size // 2
    return AugmentParams(color, shift, cut)


def apply(x: torch.Tensor, params: AugmentParams) -> torch.Tensor:
    """T(x) for images x (B, C, H, W) under one draw of parameters for B images; differentiable in x."""
    if params.color is not None:
        brightness, saturation, contrast = params.color.to(x.dtype)  # each (B, 1, 1, 1)
        x = x + brightness
        mean = x.mean(dim=1, keepdim=True)  # over channels (a no-op on grey images)
        x = (x - mean) * saturation + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * contrast + mean
    if params.shift is not None:
        x = translate(x, params.shift)
    if params.cutout is not None:
        x = cut_out(x, params.cutout)
    return x


def translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """out[b, :, i, j] = x[b, :, i + dy_b, j + dx_b], zero where that falls outside: two gathers from the image
    padded by one zero row/column on each side (indices clamped onto the padding, as the reference does)."""
    batch, channels, height, width = x.shape
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))  # (B, C, H + 2, W + 2)
    rows = (torch.arange(height, device=x.device).view(1, 1, height, 1) + shift[0] + 1).clamp(0, height + 1)
    cols = (torch.arange(width, device=x.device).view(1, 1, 1, width) + shift[1] + 1).clamp(0, width + 1)
    picked = padded.gather(2, rows.expand(batch, channels, height, width + 2))  # (B, C, H, W + 2)
    return picked.gather(3, cols.expand(batch, channels, height, width))  # (B, C, H, W)


def cut_out(x: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """x with the square [start, start + size) of rows and columns (clipped to the image) set to zero."""
    height, width = x.shape[-2:]
    rows = torch.arange(height, device=x.device).view(1, 1, height, 1) - start[0]  # (B, 1, H, 1)
    cols = torch.arange(width, device=x.device).view(1, 1, 1, width) - start[1]  # (B, 1, 1, W)
    inside = (rows >= 0) & (rows < cutout_size(height)) & (cols >= 0) & (cols < cutout_size(width))  # (B, 1, H, W)
    return x * (~inside).to(x.dtype)
