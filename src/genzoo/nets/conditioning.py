"""Class conditioning by one-hot concatenation (Mirza & Osindero 2014), for every conditional network: a fully
connected layer reads [features, onehot(y)], a convolution reads its input with K constant label planes stacked
onto the channels. With `num_classes=0` (an unconditional network) the input passes unchanged.
"""

from __future__ import annotations

import torch
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
