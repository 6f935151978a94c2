"""Fully connected building blocks: the one MLP builder every network uses, and the one activation table.

A LeakyReLU's name carries its slope. Configs still accept the bare `leaky_relu`, which has always meant
different slopes in the two halves of the zoo: PyTorch's default 0.01 in the autoencoders and VAEs, 0.2 in the
adversarial players (DCGAN, WGAN-GP and the AAE scripts use 0.2). A config resolves the bare name to its family's
slope (`explicit_activation`), so networks and config.yaml only ever see the explicit names.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu_0.01": partial(nn.LeakyReLU, 0.01),
    "leaky_relu_0.2": partial(nn.LeakyReLU, 0.2),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}
LEAKY_RELU = "leaky_relu"  # the bare name a config may still give; see explicit_activation
DEFAULT_LEAKY_SLOPE = 0.01  # what the autoencoders and VAEs mean by a bare leaky_relu (nets/gan_nets.py: 0.2)

# What a config may name: every entry of the table, and the bare leaky_relu.
Activation = Literal[
    "relu", "tanh", "sigmoid", "leaky_relu", "leaky_relu_0.01", "leaky_relu_0.2", "elu", "gelu", "silu"
]


def explicit_activation(name: str | None, leaky_slope: float) -> str | None:
    """The table's name for `name`: a bare leaky_relu takes the slope its model family means by it."""
    return f"{LEAKY_RELU}_{leaky_slope}" if name == LEAKY_RELU else name


def mlp(sizes: Sequence[int], activation: str = "relu", final_activation: bool = False) -> nn.Sequential:
    """Linear layers sizes[0] -> sizes[1] -> ... -> sizes[-1], with `activation` between them
    (and after the last one when `final_activation`). Modules are numbered Linear, activation, Linear, ... so
    state_dict keys read net.0.weight, net.2.weight, ..."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or final_activation:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class TiedDecoder(nn.Module):
    """The mirror image of an MLP encoder that reuses its weight matrices transposed (tied autoencoder).

    Only the biases are new parameters: decoding layer i computes h @ W_i + b_i' for encoder weight W_i of shape
    (out, in), so the decoder has about half the parameters of an untied one. Activations follow the encoder's
    pattern: one between layers, none on the output (the caller applies its likelihood's link).
    """

    def __init__(self, encoder: nn.Sequential, activation: str = "relu"):
        super().__init__()
        # Keep the encoder's Linear layers without registering them again (their parameters belong to the encoder).
        self._linears = [m for m in encoder if isinstance(m, nn.Linear)][::-1]
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(lin.in_features)) for lin in self._linears)
        self.activation = ACTIVATIONS[activation]()
        for lin, bias in zip(self._linears, self.biases):  # same scale as nn.Linear's default bias init
            bound = 1 / math.sqrt(lin.out_features)
            nn.init.uniform_(bias, -bound, bound)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        last = len(self._linears) - 1
        for i, (lin, bias) in enumerate(zip(self._linears, self.biases)):
            h = F.linear(h, lin.weight.t(), bias)  # (B, out) -> (B, in)
            if i < last:
                h = self.activation(h)
        return h
