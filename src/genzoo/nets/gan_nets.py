"""The players of the adversarial models: generators (noise -> image logits/pre-activations) and discriminators
(image or code -> one logit per example), fully connected or convolutional, optionally conditioned on a class.

Conditioning is by one-hot concatenation (nets/conditioning.py): a generator reads [z, onehot(y)], a fully
connected discriminator reads [x, onehot(y)], a convolutional one reads x with K constant label planes stacked
onto its channels. With `num_classes=0` nothing is concatenated. Fully connected players are `mlp`s; their
activation names come from its table (the adversarial configs resolve a bare leaky_relu to slope 0.2).

The convolutional layout is DCGAN's (Radford et al. 2016): a transposed convolution from the 1x1 noise to a
base x base map, then stride-2 stages (kernel 4, padding 1) that double the side and halve the channels, batch
norm and ReLU in the generator; the discriminator mirrors it with LeakyReLU(0.2), no norm on its first layer,
and a base x base convolution to one logit. For a 64x64 image with width 64 this is exactly the PyTorch
examples' dcgan network; 28x28 starts from 7x7, 32x32 from 4x4.

`spectral_normalize` turns any discriminator into an SN-GAN one (Miyato et al. 2018): every linear and
convolutional weight W is used as W / sigma(W), sigma estimated by one power iteration per training forward.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from genzoo.errors import GenzooError
from genzoo.nets.conditioning import with_label_planes, with_labels
from genzoo.nets.mlp import mlp

LEAKY_SLOPE = 0.2  # of every GAN in the literature this follows (DCGAN, WGAN-GP, AAE scripts); a bare leaky_relu in
# an adversarial config means it (nets/mlp.py)


# -- fully connected ----------------------------------------------------------------------------------------------


class MLPGenerator(nn.Module):
    """(B, noise_dim) noise [+ (B,) labels] -> (B, C, H, W) pre-activations (the model applies sigmoid/tanh)."""

    def __init__(
        self, noise_dim: int, hidden: Sequence[int], image_shape: Sequence[int], activation: str, num_classes: int = 0
    ):
        super().__init__()
        self.num_classes = num_classes
        self.net = mlp([noise_dim + num_classes, *hidden, math.prod(image_shape)], activation)
        self.unflatten = nn.Unflatten(1, tuple(image_shape))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.unflatten(self.net(with_labels(z, labels, self.num_classes)))


class MLPDiscriminator(nn.Module):
    """(B, ...) images or codes [+ (B,) labels] -> (B,) logits."""

    def __init__(self, in_features: int, hidden: Sequence[int], activation: str, num_classes: int = 0):
        super().__init__()
        self.num_classes = num_classes
        self.net = mlp([in_features + num_classes, *hidden, 1], activation)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(with_labels(x.flatten(1), labels, self.num_classes)).squeeze(1)


# -- convolutional (DCGAN) ----------------------------------------------------------------------------------------


def conv_layout(side: int) -> tuple[int, int]:
    """(base side, stride-2 stages) with side = base * 2**stages: halve while the side is even and above 7.
    28 -> (7, 2), 32 -> (4, 3), 48 -> (6, 3), 64 -> (4, 4); refuses sides that leave no stage (7 or less) or
    an odd base above 7 (e.g. 30 -> 15)."""
    base, stages = side, 0
    while base > 7 and base % 2 == 0:
        base, stages = base // 2, stages + 1
    if stages == 0 or base > 7:
        raise GenzooError(
            f"image side {side} does not fit the DCGAN layout: expected a side that halves evenly down to 7 or "
            "less (e.g. 28, 32, 64)"
        )
    return base, stages


def norm_layer(kind: str, channels: int) -> nn.Module:
    """batch: BatchNorm2d; layer: normalisation over (C, H, W) of each image with a per-channel affine (GroupNorm
    with one group), which keeps examples independent as a gradient penalty needs; none: identity."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class DCGenerator(nn.Module):
    """(B, noise_dim) [+ labels] -> (B, C, S, S) pre-activations. For S = 28, width 64:
    (B, 100, 1, 1) -> ConvT k7 -> (B, 128, 7, 7) -> (B, 64, 14, 14) -> (B, C, 28, 28)."""

    def __init__(self, noise_dim: int, image_shape: Sequence[int], width: int, num_classes: int = 0):
        super().__init__()
        channels, side = image_shape[0], image_shape[1]
        base, stages = conv_layout(side)
        self.num_classes = num_classes
        widths = [width * 2 ** (stages - 1 - i) for i in range(stages)]  # e.g. 512, 256, 128, 64 for 64x64
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(noise_dim + num_classes, widths[0], base, 1, 0, bias=False),  # 1x1 -> base x base
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        for w_in, w_out in itertools.pairwise(widths):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False))  # last stage: -> S x S
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        z = with_labels(z, labels, self.num_classes)
        return self.net(z[:, :, None, None])  # (B, nz + K) -> (B, nz + K, 1, 1) -> (B, C, S, S)


class DCDiscriminator(nn.Module):
    """(B, C, S, S) [+ labels] -> (B,) logits. For S = 28, width 64:
    (B, C, 28, 28) -> (B, 64, 14, 14) -> (B, 128, 7, 7) -> conv k7 -> (B, 1, 1, 1)."""

    def __init__(self, image_shape: Sequence[int], width: int, norm: str = "batch", num_classes: int = 0):
        super().__init__()
        channels, side = image_shape[0], image_shape[1]
        base, stages = conv_layout(side)
        self.num_classes = num_classes
        widths = [width * 2**i for i in range(stages)]  # e.g. 64, 128, 256, 512 for 64x64
        # First layer: no normalisation (DCGAN: normalising the input layer made training unstable).
        layers: list[nn.Module] = [
            nn.Conv2d(channels + num_classes, widths[0], 4, 2, 1, bias=False),
            nn.LeakyReLU(LEAKY_SLOPE),
        ]
        for w_in, w_out in itertools.pairwise(widths):
            layers += [
                nn.Conv2d(w_in, w_out, 4, 2, 1, bias=norm == "none"),
                norm_layer(norm, w_out),
                nn.LeakyReLU(LEAKY_SLOPE),
            ]
        layers.append(nn.Conv2d(widths[-1], 1, base, 1, 0, bias=False))  # base x base -> 1x1
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(with_label_planes(x, labels, self.num_classes)).flatten()  # (B, 1, 1, 1) -> (B,)


def dcgan_init(module: nn.Module) -> None:
    """Radford et al. 2016, sec. 4: weights from N(0, 0.02); batch norm scales from N(1, 0.02), shifts 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def spectral_normalize(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every Linear and Conv2d weight in `module`, in place: the layer
    computes with W / sigma(W), sigma(W) the largest singular value of W reshaped to (out, in * k * k), estimated
    by power iteration (one step per forward in training mode, as the paper's Algorithm 1; none in eval mode).
    PyTorch's parametrization keeps W as `...parametrizations.weight.original` and the power iteration's vectors
    u and v as buffers `..._u`, `..._v`: all in the state dict, so a checkpoint restores the estimate exactly and a
    resumed run continues the same iteration. Applied after initialisation (the init only sets the direction)."""
    for layer in [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]:
        nn.utils.parametrizations.spectral_norm(layer)
    return module
