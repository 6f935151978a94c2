"""genzoo.kl_divergence for discrete distributions: values, exact zeros, batching, and one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import genzoo
from genzoo.errors import GenzooError


def test_matches_the_definition_in_nats():
    p, q = [0.5, 0.25, 0.25], [0.25, 0.5, 0.25]
    expected = 0.5 * math.log(2) + 0.25 * math.log(0.5)
    value = genzoo.kl_divergence(p, q)
    assert value.shape == () and value.dtype == torch.float64
    assert value.item() == pytest.approx(expected, abs=1e-15)
    assert genzoo.kl_divergence([0.9, 0.1], [0.5, 0.5]).item() == pytest.approx(
        0.9 * math.log(1.8) + 0.1 * math.log(0.2)
    )
    assert genzoo.kl_divergence([0.5, 0.5], [0.9, 0.1]).item() == pytest.approx(
        0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(5)
    )
    assert genzoo.kl_divergence(p, p).item() == 0.0


def test_zero_probabilities_are_exact():
    # 0 log 0 = 0 and 0 log(0 / q) = 0: outcomes p never takes cost nothing, even where q is 0 too.
    assert genzoo.kl_divergence([1.0, 0.0], [0.5, 0.5]).item() == pytest.approx(math.log(2), abs=1e-15)
    assert genzoo.kl_divergence([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]).item() == 0.0
    # p > 0 where q = 0: infinite, not NaN.
    assert genzoo.kl_divergence([0.5, 0.5], [1.0, 0.0]).item() == math.inf


def test_batched_over_leading_axes():
    gen = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(2, 3, 5, generator=gen), -1)
    q = torch.softmax(torch.randn(2, 3, 5, generator=gen), -1)
    q[1, 2, 0] = 0.0
    q[1, 2] /= q[1, 2].sum()
    out = genzoo.kl_divergence(p, q)
    assert out.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            expected = sum(
                pk * math.log(pk / qk) if qk > 0 else math.inf for pk, qk in zip(p[i, j].tolist(), q[i, j].tolist())
            )
            assert out[i, j].item() == pytest.approx(expected, rel=1e-6)
    assert out[1, 2].item() == math.inf and torch.isfinite(out[0]).all()


def test_accepts_numpy_and_integer_one_hot_rows():
    p = np.array([[0, 1, 0], [1, 0, 0]])
    q = np.array([[0.2, 0.5, 0.3], [0.6, 0.2, 0.2]])
    assert genzoo.kl_divergence(p, q).tolist() == pytest.approx([-math.log(0.5), -math.log(0.6)])


@pytest.mark.parametrize(
    "p,q,match",
    [
        ([0.5, 0.5], [0.2, 0.3, 0.5], r"p has shape \(2,\) but q has shape \(3,\)"),
        ([[0.5, 0.5]], [0.5, 0.5], r"p has shape \(1, 2\) but q has shape \(2,\)"),
        ([1.2, -0.2], [0.5, 0.5], r"p\[1\] = -0.2 is negative"),
        ([0.5, 0.5], [[0.5, 0.5], [0.7, 0.4]], r"q\[1\] sums to 1.1, not 1"),
        ([0.5, 0.6], [0.5, 0.5], r"p sums to 1.1, not 1"),
        ([math.nan, 1.0], [0.5, 0.5], r"p\[0\] = nan; expected finite"),
        (0.5, 0.5, "scalar"),
        ([], [], "no outcomes"),
        (["a", "b"], [0.5, 0.5], "p"),
    ],
)
def test_bad_inputs_are_one_line_errors(p, q, match):
    with pytest.raises(GenzooError, match=match) as info:
        genzoo.kl_divergence(p, q)
    assert "\n" not in str(info.value)


def test_normalisation_tolerance_is_adjustable():
    p, q = [0.5, 0.5001], [0.5, 0.5]
    with pytest.raises(GenzooError, match="sums to"):
        genzoo.kl_divergence(p, q)
    assert math.isfinite(genzoo.kl_divergence(p, q, atol=1e-3).item())
