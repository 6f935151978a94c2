"""Class conditioning by one-hot concatenation (Mirza & Osindero 2014), for every conditional network: a fully
connected layer reads [features, onehot(y)], a convolution reads its input with K constant label planes stacked
onto the channels. With `num_classes=0` (an unconditional network) the input passes unchanged.

`Projection` is the other way into a discriminator (Miyato & Koyama 2018): the label enters at the output, as an
inner product of a class embedding with the last hidden features, instead of at the input.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def with_labels(x: torch.Tensor, labels: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """(B, F) features -> (B, F + K) with the one-hot labels appended (unchanged when K = 0)."""
    if not num_classes:
        return x
    return torch.cat([x, F.one_hot(labels, num_classes).to(x.dtype)], dim=1)


def with_label_planes(x: torch.Tensor, labels: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C + K, H, W): K constant planes, plane y all ones (unchanged when K = 0). The concat
    comes out contiguous; a channels_last convolution after it converts (its weights decide the layout)."""
    if not num_classes:
        return x
    planes = F.one_hot(labels, num_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[-2:])
    return torch.cat([x, planes], dim=1)


class Projection(nn.Module):
    """The class term of a projection discriminator (Miyato & Koyama 2018, "cGANs with Projection Discriminator",
    eq. 3): D(x, y) = psi(phi(x)) + <embed(y), phi(x)>, where phi(x) is the discriminator's last hidden features
    and psi its output layer. This block is the inner product: features (B, ...) flattened to (B, F) and labels
    (B,) -> (B,) scores, to add to the unconditional logit psi(phi(x)). The embedding V (K, F) is Glorot-uniform
    initialised, as the paper's code (pfnet-research/sngan_projection) does; spectral normalisation applies to it
    like to any discriminator weight (nets/gan_nets.spectral_normalize)."""

    def __init__(self, num_classes: int, features: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features)
        nn.init.xavier_uniform_(self.embed.weight)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        phi = features.flatten(1)  # (B, F)
        return (self.embed(labels).to(phi.dtype) * phi).sum(dim=1)  # (B,)
