"""Recurrent networks that read an image as a sequence of rows: (B, C, H, W) -> H steps of C*W values."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def rows(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H, C*W): row t of every channel is step t."""
    b, c, h, w = x.shape
    return x.permute(0, 2, 1, 3).reshape(b, h, c * w)


class RowLSTMEncoder(nn.Module):
    """Many-to-one: an LSTM reads the rows; its last hidden state, through a linear layer, is the code."""

    def __init__(self, image_shape: Sequence[int], hidden: Sequence[int], latent_dim: int):
        super().__init__()
        c, _, w = image_shape
        self.lstm = nn.LSTM(c * w, hidden[0], num_layers=len(hidden), batch_first=True)
        self.head = nn.Linear(hidden[0], latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(rows(x))  # h_n: (layers, B, hidden)
        return self.head(h_n[-1])  # (B, latent)


class RowLSTMDecoder(nn.Module):
    """One-to-many: the code sets the LSTM's initial state and is repeated as its input at every step; each
    step's output becomes one row's logits. (With the repeated input alone, training first settles on the mean
    image for several epochs; starting from a code-dependent state breaks that symmetry at once.)"""

    def __init__(self, latent_dim: int, image_shape: Sequence[int], hidden: Sequence[int]):
        super().__init__()
        self.image_shape = tuple(image_shape)
        c, _h, w = image_shape
        self.layers, self.units = len(hidden), hidden[0]
        self.initial = nn.Linear(latent_dim, 2 * self.layers * self.units)  # -> (h_0, c_0) of every layer
        self.lstm = nn.LSTM(latent_dim, hidden[0], num_layers=len(hidden), batch_first=True)
        self.head = nn.Linear(hidden[0], c * w)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c, h, w = self.image_shape
        state = torch.tanh(self.initial(z)).view(-1, 2, self.layers, self.units).permute(1, 2, 0, 3)
        h0, c0 = state[0].contiguous(), state[1].contiguous()  # (layers, B, units) each
        out, _ = self.lstm(z.unsqueeze(1).expand(-1, h, -1), (h0, c0))  # (B, H, units)
        return self.head(out).view(-1, h, c, w).permute(0, 2, 1, 3)  # (B, H, C*W) -> (B, C, H, W)
