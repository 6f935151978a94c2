"""Convolutional encoders and decoders sized from the image shape (28x28 or 32x32, 1 or 3 channels, or any
square size divisible by 2 ** number of stages).

Strided stages halve the side: a 28x28 image with channels (32, 64) goes (B, 1, 28, 28) -> (B, 32, 14, 14)
-> (B, 64, 7, 7) -> flatten -> Linear -> (B, out). The decoder mirrors it with transposed convolutions.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from genzoo.errors import GenzooError
from genzoo.nets.mlp import ACTIVATIONS


def bottom_side(image_shape: Sequence[int], stages: int) -> int:
    """Side of the smallest feature map, after `stages` halvings; refuses sizes that do not halve cleanly."""
    _, height, width = image_shape
    if height != width or height % (2**stages):
        raise GenzooError(
            f"image size {height}x{width} does not fit a conv network with {stages} stride-2 stages: "
            f"expected a square side divisible by {2**stages} (e.g. 28 or 32)"
        )
    return height // 2**stages


def halving_stages(in_channels: int, channels: Sequence[int], activation: str, batch_norm: bool = False) -> list:
    """Strided conv stages, each halving the side (kernel 4, stride 2, padding 1), each followed by its activation:
    (B, in_channels, S, S) -> (B, channels[-1], S / 2 ** len(channels), ...)."""
    layers: list[nn.Module] = []
    previous = in_channels
    for width in channels:
        layers.append(nn.Conv2d(previous, width, 4, stride=2, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers.append(ACTIVATIONS[activation]())
        previous = width
    return layers


def doubling_stages(channels: Sequence[int], out_channels: int, activation: str, batch_norm: bool = False) -> list:
    """The mirror of `halving_stages`: transposed convs from channels[0] (widest first) that double the side, the
    last one to `out_channels` with no activation (pre-activation outputs, e.g. logits)."""
    layers: list[nn.Module] = []
    for width, next_width in itertools.pairwise(channels):
        layers.append(nn.ConvTranspose2d(width, next_width, 4, stride=2, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(next_width))
        layers.append(ACTIVATIONS[activation]())
    layers.append(nn.ConvTranspose2d(channels[-1], out_channels, 4, stride=2, padding=1))
    return layers


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_features)."""

    def __init__(
        self,
        image_shape: Sequence[int],
        channels: Sequence[int],
        out_features: int,
        activation: str = "relu",
        batch_norm: bool = False,
    ):
        super().__init__()
        side = bottom_side(image_shape, len(channels))
        self.features = nn.Sequential(*halving_stages(image_shape[0], channels, activation, batch_norm))
        self.head = nn.Linear(channels[-1] * side * side, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class ConvDecoder(nn.Module):
    """(B, in_features) -> (B, C, H, W) pre-activation outputs (logits for a Bernoulli likelihood)."""

    def __init__(
        self,
        in_features: int,
        image_shape: Sequence[int],
        channels: Sequence[int],
        activation: str = "relu",
        batch_norm: bool = False,
    ):
        super().__init__()
        channels = list(channels)[::-1]  # widest first, e.g. (64, 32)
        self.side = bottom_side(image_shape, len(channels))
        self.first = channels[0]
        self.head = nn.Sequential(nn.Linear(in_features, channels[0] * self.side**2), ACTIVATIONS[activation]())
        self.features = nn.Sequential(*doubling_stages(channels, image_shape[0], activation, batch_norm))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z).view(-1, self.first, self.side, self.side)  # (B, 64, 7, 7) for 28x28
        return self.features(h)


class ResidualBlock(nn.Module):
    """x + conv1x1(act(conv3x3(act(x)))) at a fixed side (van den Oord et al. 2017, sec. 4.1: "ReLU, 3x3 conv,
    ReLU, 1x1 conv"), with a bottleneck of `hidden` channels."""

    def __init__(self, channels: int, hidden: int, activation: str = "relu"):
        super().__init__()
        self.net = nn.Sequential(
            ACTIVATIONS[activation](),
            nn.Conv2d(channels, hidden, 3, padding=1),
            ACTIVATIONS[activation](),
            nn.Conv2d(hidden, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class GridEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_channels, H / 2**s, W / 2**s): a grid of code vectors, no flattening (a VQ-VAE's
    encoder). The halving stages of ConvEncoder, `residual` blocks at the bottom side, then a 1x1 conv."""

    def __init__(
        self, image_shape: Sequence[int], channels: Sequence[int], out_channels: int, residual: int, activation: str
    ):
        super().__init__()
        bottom_side(image_shape, len(channels))
        width = channels[-1]
        blocks = [ResidualBlock(width, max(1, width // 2), activation) for _ in range(residual)]
        self.net = nn.Sequential(
            *halving_stages(image_shape[0], channels, activation),
            *blocks,
            ACTIVATIONS[activation](),
            nn.Conv2d(width, out_channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class GridDecoder(nn.Module):
    """The mirror of GridEncoder: (B, in_channels, h, w) -> 3x3 conv, residual blocks, doubling stages ->
    (B, C, H, W) pre-activation outputs (logits)."""

    def __init__(
        self, in_channels: int, image_shape: Sequence[int], channels: Sequence[int], residual: int, activation: str
    ):
        super().__init__()
        channels = list(channels)[::-1]  # widest first
        width = channels[0]
        blocks = [ResidualBlock(width, max(1, width // 2), activation) for _ in range(residual)]
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            *blocks,
            ACTIVATIONS[activation](),
            *doubling_stages(channels, image_shape[0], activation),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ClassicConvEncoder(nn.Module):
    """The small conv autoencoder of the classic tutorials: (B, C, 28, 28) -> (B, 8, 2, 2) -> (B, 32).

    conv 16 k3 s3 p1 -> (16, 10, 10), max-pool 2 -> (16, 5, 5), conv 8 k3 s2 p1 -> (8, 3, 3),
    max-pool 2 stride 1 -> (8, 2, 2). Its code is that 8x2x2 map, flattened.
    """

    def __init__(self, channels: int = 1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 16, 3, stride=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, stride=2),
            nn.Conv2d(16, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, stride=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class ClassicConvDecoder(nn.Module):
    """(B, 32) -> (8, 2, 2) -> three transposed convs -> (C, 28, 28) -> bilinear resize to (H, W); no output
    activation here (the model applies tanh)."""

    def __init__(self, image_shape: Sequence[int]):
        super().__init__()
        self.size = tuple(image_shape[1:])
        self.net = nn.Sequential(
            nn.ConvTranspose2d(8, 16, 3, stride=2),
            nn.ReLU(),  # (16, 5, 5)
            nn.ConvTranspose2d(16, 8, 5, stride=3, padding=1),
            nn.ReLU(),  # (8, 15, 15)
            nn.ConvTranspose2d(8, image_shape[0], 2, stride=2, padding=1),  # (C, 28, 28)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z.view(-1, 8, 2, 2))
        if out.shape[-2:] != self.size:
            out = F.interpolate(out, size=self.size, mode="bilinear", align_corners=False)
        return out


CLASSIC_CODE_SIZE = 32  # 8 channels x 2 x 2
