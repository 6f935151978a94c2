"""A small gated PixelCNN over a grid of discrete symbols (van den Oord et al. 2016, "Conditional Image Generation
with PixelCNN Decoders"): an autoregressive model p(c) = prod_i p(c_i | c_<i) in raster order (row by row, left
to right), used as the learned prior over a VQ-VAE's code grid.

Two stacks avoid the blind spot of a plain masked PixelCNN (sec. 2.2):

    vertical stack    k x k convolutions masked to the rows above: its features at (i, j) see every input in
                      rows < i within the widening window, never row i itself
    horizontal stack  1 x k convolutions masked to the columns left of (first layer) or up to (later layers) j,
                      plus the vertical features at (i, j) through a 1 x 1 link: sees row i left of j and, through
                      the vertical stack, the rows above

The first layer excludes the current position from both stacks ("mask A"); later layers may include their own
position ("mask B"), whose features already exclude the current input. Each layer is gated,
tanh(W_f * x) * sigmoid(W_g * x) (eq. 4), and the horizontal stack is residual after the first layer (fig. 2).
Rather than multiplying full k x k kernels by 0/1 masks, each convolution holds only the taps its mask would
keep (a (k//2 [+1]) x k kernel over zero-padded rows above, a 1 x (k//2 [+1]) one over columns to the left):
the same function without computing the zeros, a third cheaper on a 7x7 grid. The causal structure is checked by
gradients in tests/unit/test_vq.py.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class CausalConv2d(nn.Conv2d):
    """A same-size convolution that reads, at (i, j), the rows above i (`vertical`: rows i - k//2 .. i - 1, all
    columns j - k//2 .. j + k//2) or the columns left of j in row i (horizontal: j - k//2 .. j - 1), and also row
    i / column j itself when `include_centre`: the nonzero taps of van den Oord et al.'s masks."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, vertical: bool, include_centre: bool):
        reach = kernel // 2
        taps = reach + int(include_centre)  # rows (vertical) or columns (horizontal) read, ending at i or i - 1
        super().__init__(in_channels, out_channels, (taps, kernel) if vertical else (1, taps))
        self.vertical, self.reach, self.include_centre = vertical, reach, include_centre

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.reach
        if self.vertical:  # (B, F, H, W): zero rows above, the last row dropped when row i is excluded
            x = x if self.include_centre else x[:, :, :-1]
            x = F.pad(x, (r, r, r, 0))
        else:  # zero columns to the left, the last column dropped when column j is excluded
            x = x if self.include_centre else x[:, :, :, :-1]
            x = F.pad(x, (r, 0, 0, 0))
        return super().forward(x)


def gate(x: torch.Tensor) -> torch.Tensor:
    """(B, 2F, H, W) -> (B, F, H, W): tanh of the first half times sigmoid of the second (eq. 4)."""
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    def __init__(self, channels: int, kernel: int, first: bool):
        super().__init__()
        self.first = first
        self.vertical = CausalConv2d(channels, 2 * channels, kernel, vertical=True, include_centre=not first)
        self.horizontal = CausalConv2d(channels, 2 * channels, kernel, vertical=False, include_centre=not first)
        self.link = nn.Conv2d(2 * channels, 2 * channels, 1)  # vertical -> horizontal, at the same position
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v_pre = self.vertical(v)  # (B, 2F, H, W), from rows < i only
        h_new = self.out(gate(self.horizontal(h) + self.link(v_pre)))
        # The first layer's input at (i, j) is the symbol at (i, j) itself: a residual there would leak it.
        return gate(v_pre), h_new if self.first else h + h_new


class GatedPixelCNN(nn.Module):
    """Symbols (B, H, W) in 0..K-1 -> logits (B, K, H, W) of p(c_ij | the symbols before (i, j) in raster order).

    `first_kernel` should be large enough that the stacks see the whole width of a small grid: the vertical
    window widens by kernel // 2 columns on each side per layer."""

    def __init__(self, symbols: int, channels: int = 32, layers: int = 5, first_kernel: int = 5, kernel: int = 3):
        super().__init__()
        self.symbols = symbols
        self.embed = nn.Embedding(symbols, channels)
        self.layers = nn.ModuleList(
            [GatedLayer(channels, first_kernel, first=True)]
            + [GatedLayer(channels, kernel, first=False) for _ in range(layers - 1)]
        )
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, 2 * channels, 1), nn.ReLU(), nn.Conv2d(2 * channels, symbols, 1)
        )

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.logits_of(self.embed(codes).permute(0, 3, 1, 2))  # (B, H, W) -> (B, F, H, W) -> (B, K, H, W)

    def logits_of(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, K, H, W) from embedded inputs (B, F, H, W) (what the causality test differentiates)."""
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)

    def nll(self, codes: torch.Tensor) -> torch.Tensor:
        """-log p(c) per grid, in nats: (B, H, W) -> (B,), in fp32."""
        logits = self(codes).float()
        return F.cross_entropy(logits, codes, reduction="none").flatten(1).sum(1)

    @torch.no_grad()
    def sample(
        self, n: int, shape: tuple[int, int], generator: torch.Generator | None, device: torch.device
    ) -> torch.Tensor:
        """n grids (n, H, W) drawn ancestrally, one position at a time in raster order, batched over the n grids.
        The logits of row i depend on rows <= i only, so each pass reads the rows up to i (a causal net gives the
        same distribution as on the whole grid, at about half the cost)."""
        height, width = shape
        codes = torch.zeros(n, height, width, dtype=torch.long, device=device)
        for i in range(height):
            for j in range(width):
                logits = self(codes[:, : i + 1])[:, :, i, j].float()  # (n, K)
                draw = torch.multinomial(logits.softmax(1), 1, generator=generator)  # (n, 1)
                codes[:, i, j] = draw[:, 0]
        return codes
