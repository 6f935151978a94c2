"""The distribution objects models compose: closed forms checked against estimates and textbook formulas."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.nets.distributions import (
    BernoulliLikelihood,
    DiagonalGaussian,
    GaussianLikelihood,
    make_likelihood,
    standard_normal_log_prob,
)


def gaussian(batch: int = 4, dim: int = 3, dtype=torch.float64) -> DiagonalGaussian:
    gen = torch.Generator().manual_seed(0)
    mean = torch.randn(batch, dim, generator=gen, dtype=dtype)
    logvar = torch.randn(batch, dim, generator=gen, dtype=dtype) * 0.8
    return DiagonalGaussian(mean, logvar)


def test_kl_closed_form_matches_monte_carlo():
    q = gaussian()
    closed = q.kl().sum(1)  # (B,)
    n = 200_000
    batch, _dim = q.mean.shape
    many = DiagonalGaussian(q.mean.repeat(n, 1), q.logvar.repeat(n, 1))  # (n*B, D), row r is example r % B
    z = many.sample(generator=torch.Generator().manual_seed(1))
    log_ratio = (many.log_prob(z) - standard_normal_log_prob(z)).view(n, batch)
    estimate = log_ratio.mean(0)
    stderr = log_ratio.std(0) / math.sqrt(n)
    assert torch.all((estimate - closed).abs() < 5 * stderr + 1e-3), (estimate, closed, stderr)
    assert torch.all(closed > 0)


def test_kl_is_zero_for_the_prior_and_shaped_per_dimension():
    q = DiagonalGaussian(torch.zeros(2, 5), torch.zeros(2, 5))
    assert q.kl().shape == (2, 5)
    assert torch.equal(q.kl(), torch.zeros(2, 5))


def test_log_prob_matches_torch_normal():
    q = gaussian()
    z = torch.randn(q.mean.shape, generator=torch.Generator().manual_seed(2), dtype=q.mean.dtype)
    reference = torch.distributions.Normal(q.mean, q.std).log_prob(z).sum(1)
    assert torch.allclose(q.log_prob(z), reference, atol=1e-10)
    standard = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    assert torch.allclose(standard_normal_log_prob(z), standard, atol=1e-10)


def test_sample_is_reparameterised_and_reproducible():
    mean = torch.randn(3, 2, requires_grad=True)
    logvar = torch.zeros(3, 2, requires_grad=True)
    q = DiagonalGaussian(mean, logvar)
    a = q.sample(torch.Generator().manual_seed(5))
    b = q.sample(torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    a.sum().backward()
    assert mean.grad is not None and torch.equal(mean.grad, torch.ones(3, 2))
    assert logvar.grad is not None
    assert torch.equal(q.mode(), mean)


def test_from_params_splits_mean_then_logvar():
    params = torch.arange(8.0).view(2, 4)
    q = DiagonalGaussian.from_params(params)
    assert torch.equal(q.mean, torch.tensor([[0.0, 1.0], [4.0, 5.0]]))
    assert torch.equal(q.logvar, torch.tensor([[2.0, 3.0], [6.0, 7.0]]))


def test_extreme_logvar_stays_finite():
    q = DiagonalGaussian(torch.zeros(1, 2), torch.tensor([[-1e4, 1e4]]))
    assert torch.isfinite(q.std).all()
    assert torch.isfinite(q.kl()).all()


@pytest.mark.parametrize("binary", [True, False])
def test_bernoulli_nll_equals_manual_cross_entropy(binary):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 1, 5, 5, generator=gen, dtype=torch.float64) * 3
    x = torch.rand(4, 1, 5, 5, generator=gen, dtype=torch.float64)
    if binary:
        x = (x > 0.5).to(torch.float64)
    p = torch.sigmoid(logits)
    manual = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)
    nll = BernoulliLikelihood().nll(logits.float(), x.float())
    assert nll.shape == (4,)
    assert torch.allclose(nll.double(), manual, rtol=1e-5, atol=1e-4)


def test_bernoulli_nll_is_finite_for_saturated_logits():
    logits = torch.tensor([[100.0, -100.0, 100.0, -100.0]])
    x = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    nll = BernoulliLikelihood().nll(logits, x)
    assert torch.isfinite(nll).all()
    assert torch.allclose(nll, torch.tensor([200.0]), rtol=1e-4)  # two confident mistakes, 100 nats each


def test_bernoulli_mean_is_sigmoid():
    logits = torch.linspace(-4, 4, 9).view(1, 9)
    assert torch.equal(BernoulliLikelihood().mean(logits), torch.sigmoid(logits))


def test_gaussian_nll_matches_torch_normal():
    gen = torch.Generator().manual_seed(0)
    out = torch.randn(3, 1, 4, 4, generator=gen)
    x = torch.rand(3, 1, 4, 4, generator=gen)
    likelihood = GaussianLikelihood(sigma=0.2)
    reference = -torch.distributions.Normal(torch.sigmoid(out), 0.2).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(likelihood.nll(out, x), reference, atol=1e-4)
    assert torch.equal(likelihood.mean(out), torch.sigmoid(out))


def test_make_likelihood_picks_by_name():
    assert isinstance(make_likelihood("bernoulli", 0.1), BernoulliLikelihood)
    gaussian_likelihood = make_likelihood("gaussian", 0.3)
    assert isinstance(gaussian_likelihood, GaussianLikelihood) and gaussian_likelihood.sigma == 0.3
