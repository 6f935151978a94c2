"""The players of the adversarial models: generators (noise -> image logits/pre-activations) and discriminators
(image or code -> one logit per example), fully connected or convolutional, optionally conditioned on a class.

Conditioning is by one-hot concatenation (nets/conditioning.py): a generator reads [z, onehot(y)], a fully
connected discriminator reads [x, onehot(y)], a convolutional one reads x with K constant label planes stacked
onto its channels. With `num_classes=0` nothing is concatenated. A discriminator built with
`conditioning="projection"` reads x alone and adds <embed(y), phi(x)> to its logit instead (Miyato & Koyama 2018;
nets/conditioning.Projection), phi(x) being its last hidden features. Every discriminator splits into
`features(x, labels)` (phi, every layer but the last) and `output(phi, labels)` (the logit), so a model can add
heads on phi (acgan's class head, `ClassHead`). Fully connected players are `mlp`s; their
activation names come from its table (the adversarial configs resolve a bare leaky_relu to slope 0.2).

The convolutional layout is DCGAN's (Radford et al. 2016): a transposed convolution from the 1x1 noise to a
base x base map, then stride-2 stages (kernel 4, padding 1) that double the side and halve the channels, batch
norm and ReLU in the generator; the discriminator mirrors it with LeakyReLU(0.2), no norm on its first layer,
and a base x base convolution to one logit. For a 64x64 image with width 64 this is exactly the PyTorch
examples' dcgan network; 28x28 starts from 7x7, 32x32 from 4x4.

`spectral_normalize` turns any discriminator into an SN-GAN one (Miyato et al. 2018): every linear, convolutional
and embedding weight W is used as W / sigma(W), sigma estimated by one power iteration per training forward.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from genzoo.errors import GenzooError
from genzoo.nets.conditioning import Projection, with_label_planes, with_labels
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


CONDITIONINGS = ("concat", "projection")  # how a conditional discriminator reads its labels


class MLPDiscriminator(nn.Module):
    """(B, ...) images or codes [+ (B,) labels] -> (B,) logits. With `conditioning="projection"` (and K > 0 classes)
    the labels enter at the output: logit = psi(phi) + <embed(y), phi>, phi (B, hidden[-1]) the last hidden layer."""

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        activation: str,
        num_classes: int = 0,
        conditioning: str = "concat",
    ):
        super().__init__()
        projection = conditioning == "projection" and num_classes > 0
        self.num_classes = 0 if projection else num_classes  # one-hot features concatenated to the input
        self.net = mlp([in_features + self.num_classes, *hidden, 1], activation)
        if projection:  # built after the layers: the concat networks' draws (and weights) stay as they were
            self.projection = Projection(num_classes, hidden[-1] if hidden else in_features)
        else:
            self.projection = None

    def features(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """phi: (B, ...) -> (B, hidden[-1]), every layer but the last (the input's one-hot labels with concat)."""
        return self.net[:-1](with_labels(x.flatten(1), labels, self.num_classes))

    def output(self, phi: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The logit (B,) from phi: the last layer psi, + <embed(y), phi> with projection."""
        logits = self.net[-1](phi).squeeze(1)
        return logits if self.projection is None else logits + self.projection(phi, labels)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.output(self.features(x, labels), labels)


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

    def __init__(
        self,
        image_shape: Sequence[int],
        width: int,
        norm: str = "batch",
        num_classes: int = 0,
        conditioning: str = "concat",
    ):
        super().__init__()
        channels, side = image_shape[0], image_shape[1]
        base, stages = conv_layout(side)
        projection = conditioning == "projection" and num_classes > 0
        self.num_classes = 0 if projection else num_classes  # label planes stacked onto the input
        widths = [width * 2**i for i in range(stages)]  # e.g. 64, 128, 256, 512 for 64x64
        # First layer: no normalisation (DCGAN: normalising the input layer made training unstable).
        layers: list[nn.Module] = [
            nn.Conv2d(channels + self.num_classes, widths[0], 4, 2, 1, bias=False),
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
        # Projection: the last conv (a linear map of the whole base x base map) is psi, so phi is that map
        # flattened, (B, widths[-1] * base * base), and the embedding has one such vector per class.
        self.projection = Projection(num_classes, widths[-1] * base * base) if projection else None

    def features(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """phi: (B, C, S, S) -> (B, widths[-1], base, base), every layer but the last (label planes with concat)."""
        return self.net[:-1](with_label_planes(x, labels, self.num_classes))

    def output(self, phi: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The logit (B,) from phi: the last conv psi ((B, 1, 1, 1) -> (B,)), + <embed(y), phi> with projection."""
        logits = self.net[-1](phi).flatten()
        return logits if self.projection is None else logits + self.projection(phi, labels)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.output(self.features(x, labels), labels)


class ClassHead(nn.Module):
    """A K-way classifier on a discriminator's phi (acgan, Odena et al. 2017: the discriminator's second output, a
    softmax over the classes beside the real/fake sigmoid): a layer of the kind of the discriminator's last one
    with K outputs. Conv phi (B, C, b, b): a b x b convolution (DCGAN init), MLP phi (B, F): a linear layer.
    -> (B, K) class logits."""

    def __init__(self, discriminator: MLPDiscriminator | DCDiscriminator, num_classes: int):
        super().__init__()
        last = discriminator.net[-1]
        if isinstance(last, nn.Conv2d):
            self.layer: nn.Module = nn.Conv2d(last.in_channels, num_classes, last.kernel_size)
            dcgan_init(self)
        else:
            self.layer = nn.Linear(last.in_features, num_classes)

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        return self.layer(phi).flatten(1)  # conv: (B, K, 1, 1) -> (B, K)


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
    """Spectral normalisation (Miyato et al. 2018) of every Linear, Conv2d and Embedding weight in `module`, in place:
    the layer computes with W / sigma(W), sigma(W) the largest singular value of W reshaped to (out, in * k * k)
    (an embedding: a projection discriminator's (K, F) class vectors, normalised as the paper's code's SNEmbedID
    does, Miyato & Koyama 2018), estimated by power iteration (one step per forward in training mode, as the paper's
    Algorithm 1; none in eval mode).
    PyTorch's parametrization keeps W as `...parametrizations.weight.original` and the power iteration's vectors
    u and v as buffers `..._u`, `..._v`: all in the state dict, so a checkpoint restores the estimate exactly and a
    resumed run continues the same iteration. Applied after initialisation (the init only sets the direction)."""
    for layer in [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding))]:
        nn.utils.parametrizations.spectral_norm(layer)
    return module
