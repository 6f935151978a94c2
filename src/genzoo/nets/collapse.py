"""Posterior-collapse figures from a model's view of a data set: how much each latent dimension carries.

- KL per dimension: E_x KL(q(z_d|x) || p(z_d)) in nats; a collapsed dimension sits at 0 (its posterior is the prior).
- Active units (Burda et al. 2015, sec. 5.2): dimension d is active when A_d = Cov_x(E_{q(z|x)}[z_d]) > 0.01,
  i.e. when its posterior mean moves with the input.

Models log these after every epoch (`diagnostics` in models/vae.py) and evaluate/posterior.py reports and plots
them; both read them from here, below either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2015: Cov_x(E_q[u]) > 10^-2


def collapse_summary(
    means: torch.Tensor, kl: torch.Tensor, layers: Sequence[int] | None = None, threshold: float = ACTIVE_THRESHOLD
) -> dict[str, Any]:
    """means, kl: (N, D) posterior means and KL per dimension of N images -> the figures logged each epoch.
    `layers` splits D into stochastic layers (bottom first) for a per-layer count."""
    variance = means.double().var(0, correction=0)  # (D,) Cov_x(E_q[z])'s diagonal
    active = variance > threshold
    out: dict[str, Any] = {
        "active_units": int(active.sum()),
        "kl_per_dim": kl.double().mean(0).tolist(),  # (D,) nats
        "mean_variance_per_dim": variance.tolist(),
    }
    if layers is not None and len(layers) > 1:
        out["active_units_per_layer"] = [int(part.sum()) for part in active.split(list(layers))]
    return out
