"""Divergences between discrete distributions.

import genzoo
genzoo.kl_divergence([0.5, 0.5], [0.9, 0.1])           # tensor(0.5108...) nats
genzoo.kl_divergence(p_rows, q_rows)                    # (B, K) against (B, K) -> (B,)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from genzoo.errors import GenzooError
from genzoo.nets.distributions import categorical_kl

ArrayLike = torch.Tensor | np.ndarray | Sequence


def _as_distributions(name: str, value: ArrayLike, atol: float) -> torch.Tensor:
    """A float64 tensor (..., K) whose rows are checked to be probability vectors."""
    try:
        t = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
    except (TypeError, ValueError) as exc:
        raise GenzooError(f"kl_divergence: {name} is not an array of numbers ({exc})") from None
    if (
        t.is_complex()
        or t.dtype == torch.bool
        or not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8))
    ):
        raise GenzooError(f"kl_divergence: {name} has dtype {t.dtype}; expected real numbers")
    t = t.detach().to("cpu", torch.float64)
    if t.ndim == 0:
        raise GenzooError(
            f"kl_divergence: {name} is a scalar; expected probabilities over the last axis, shape (K,) or (B, K)"
        )
    if t.shape[-1] == 0:
        raise GenzooError(f"kl_divergence: {name} has shape {tuple(t.shape)}: no outcomes on the last axis")
    if not torch.isfinite(t).all():
        index = tuple(int(i) for i in torch.nonzero(~torch.isfinite(t))[0])
        raise GenzooError(f"kl_divergence: {name}{list(index)} = {t[index].item()}; expected finite probabilities")
    if (t < 0).any():
        index = tuple(int(i) for i in torch.nonzero(t < 0)[0])
        raise GenzooError(
            f"kl_divergence: {name}{list(index)} = {t[index].item():.6g} is negative; probabilities must be >= 0"
        )
    sums = t.sum(-1)
    bad = (sums - 1).abs() > atol
    if bad.any():
        row = tuple(int(i) for i in torch.nonzero(bad)[0]) if sums.ndim else ()
        where = f"{name}{list(row)}" if row else name
        raise GenzooError(
            f"kl_divergence: {where} sums to {sums[row].item():.6g}, not 1 (tolerance {atol:g}); normalise it first"
        )
    return t


def kl_divergence(p: ArrayLike, q: ArrayLike, *, atol: float = 1e-6) -> torch.Tensor:
    """KL(p || q) = sum_k p_k log(p_k / q_k) in nats, over the last axis; leading axes are a batch.

    p and q: probability vectors of the same shape (K,) or (..., K) (tensors, arrays or nested lists), each row
    summing to 1 within `atol`. Zeros are exact: a term with p_k = 0 is 0 (0 log 0 = 0, whatever q_k is), and a
    term with p_k > 0 = q_k makes the divergence +inf. Returns a float64 tensor of shape p.shape[:-1] (a 0-d
    tensor for single vectors). Raises GenzooError on mismatched shapes, negative or non-finite entries, or rows
    that do not sum to 1.
    """
    if not atol >= 0:
        raise GenzooError(f"kl_divergence: atol={atol}; expected a tolerance >= 0")
    p_t = _as_distributions("p", p, atol)
    q_t = _as_distributions("q", q, atol)
    if p_t.shape != q_t.shape:
        raise GenzooError(
            f"kl_divergence: p has shape {tuple(p_t.shape)} but q has shape {tuple(q_t.shape)}; "
            "expected the same shape (..., K)"
        )
    # The formula lives beneath the models (nets/distributions.py), which train on it: one helper, two callers.
    return categorical_kl(p_t, q_t)
