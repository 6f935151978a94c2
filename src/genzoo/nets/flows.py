"""Normalizing flows on a posterior: inverse autoregressive flow (Kingma et al. 2016, "Improved Variational
Inference with Inverse Autoregressive Flow") built from MADE networks (Germain et al. 2015, "MADE: Masked
Autoencoder for Distribution Estimation").

A draw z_0 ~ q(z_0|x) (B, D) goes through T invertible steps; each step reads the current z and a context h (B, H)
the encoder emits beside the posterior's parameters, and returns

    m, s  = MADE(z, h)                          output i sees z_1..z_{i-1} only (and all of h)
    sigma = sigmoid(s)
    z    <- sigma * z + (1 - sigma) * m         Kingma et al. 2016, eq. 14 (the numerically stable form)

Output i depends on z_i only through sigma_i * z_i, so the Jacobian dz'/dz is lower triangular with diagonal
sigma and log|det| = sum_i log sigma_i. The density of the result is log q(z_T|x) = log q(z_0|x) - sum_t log|det_t|.
Between steps the order of the coordinates is reversed (a permutation, |det| = 1), so that every coordinate
gets to read every other one after two steps.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# Kingma et al. 2016, sec. 4: s is initialised "sufficiently positive, such as close to +1 or +2", so that each
# step starts near the identity (sigma = sigmoid(1) ~ 0.73 of the old z kept).
FORGET_BIAS = 1.0


def made_degrees(dim: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input/output degrees 1..dim (dim,), hidden degrees (hidden,) cycling over 1..max(dim - 1, 1))."""
    return torch.arange(1, dim + 1), torch.arange(hidden) % max(dim - 1, 1) + 1


class MaskedLinear(nn.Linear):
    """A linear layer whose weight (out, in) is multiplied by a fixed 0/1 mask (a buffer, saved with the model)."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor):
        super().__init__(in_features, out_features)
        self.register_buffer("mask", mask.to(torch.get_default_dtype()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """(..., D) z and (B, H) context -> (m, s), each (..., D), with output i a function of z_{<i} and the context.

    Two masked hidden layers of width `hidden` (ELU): a hidden unit of degree k sees inputs of degree <= k, an
    output of degree i sees hidden units of degree < i (Germain et al. 2015, eqs. 12-13). The context enters the
    first hidden layer through an unmasked linear map, as in Kingma et al. 2016, sec. 4 (it carries x, not z)."""

    def __init__(self, dim: int, hidden: int, context: int):
        super().__init__()
        degree_in, degree_hidden = made_degrees(dim, hidden)
        self.dim = dim
        self.first = MaskedLinear(dim, hidden, degree_hidden[:, None] >= degree_in[None, :])  # (hidden, D)
        self.context = nn.Linear(context, hidden, bias=False)
        self.second = MaskedLinear(hidden, hidden, degree_hidden[:, None] >= degree_hidden[None, :])
        out_mask = degree_in[:, None] > degree_hidden[None, :]  # (D, hidden): strict, so output i skips z_i
        self.out = MaskedLinear(hidden, 2 * dim, out_mask.repeat(2, 1))  # rows: D for m, then D for s
        with torch.no_grad():
            self.out.bias[dim:].fill_(FORGET_BIAS)

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = F.elu(self.first(z) + self.context(h))  # (..., B, hidden): h (B, H) broadcasts over leading draws
        a = F.elu(self.second(a))
        m, s = self.out(a).split(self.dim, dim=-1)
        return m, s


class IAFStep(nn.Module):
    """One IAF step: z (..., B, D), h (B, H) -> (z', log|det dz'/dz| (..., B))."""

    def __init__(self, dim: int, hidden: int, context: int):
        super().__init__()
        self.made = MADE(dim, hidden, context)

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, s = self.made(z, h)
        sigma = torch.sigmoid(s)
        return sigma * z + (1 - sigma) * m, F.logsigmoid(s).sum(-1)  # log sigma, stable for very negative s


class InverseAutoregressiveFlow(nn.Module):
    """T IAF steps with the coordinate order reversed between steps: (z_0 (..., B, D), h (B, H)) ->
    (z_T (..., B, D), sum_t log|det_t| (..., B))."""

    def __init__(self, dim: int, steps: int, hidden: int, context: int):
        super().__init__()
        self.steps = nn.ModuleList(IAFStep(dim, hidden, context) for _ in range(steps))

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = z.new_zeros(z.shape[:-1])
        for t, step in enumerate(self.steps):
            if t:
                z = z.flip(-1)  # reverse the order: the next step's first coordinate is this one's last
            z, step_log_det = step(z, h)
            log_det = log_det + step_log_det
        return z, log_det
