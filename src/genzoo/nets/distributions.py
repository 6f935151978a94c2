"""Distributions as small objects: the posterior (sample / mode / kl) and the decoder likelihoods.

Models compose these instead of re-deriving formulas: a VAE variant swaps a likelihood or a prior, not its
`training_step`. All log-densities are in nats and summed over every non-batch dimension, giving shape (B,).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

LOG_2PI = math.log(2 * math.pi)


def sum_except_batch(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)


class DiagonalGaussian:
    """N(mean, diag(exp(logvar))): the usual amortised posterior q(z|x). mean, logvar: (B, D)."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean = mean
        self.logvar = logvar.clamp(-30.0, 20.0)  # keeps exp() finite in fp32 and bf16
        self.std = torch.exp(0.5 * self.logvar)

    @classmethod
    def from_params(cls, params: torch.Tensor) -> DiagonalGaussian:
        """Split a (B, 2D) network output into mean and log-variance."""
        mean, logvar = params.chunk(2, dim=1)
        return cls(mean, logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterised draw mean + std * eps (Kingma & Welling 2014), differentiable in mean and logvar."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per latent dimension, shape (B, D): closed form from Kingma & Welling, appendix B."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z), summed over latent dimensions: (B,)."""
        return -0.5 * sum_except_batch(LOG_2PI + self.logvar + (z - self.mean).pow(2) / self.logvar.exp())


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over non-batch dimensions: (B,)."""
    return -0.5 * sum_except_batch(LOG_2PI + z.pow(2))


class BernoulliLikelihood:
    """p(x|z) = Bernoulli(sigmoid(logits)) per pixel; the right model for binary or near-binary images."""

    def nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z), (B,). BCE on logits is exact for every logit (no clamping of log(0))."""
        return sum_except_batch(F.binary_cross_entropy_with_logits(logits.float(), x, reduction="none"))

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)


class GaussianLikelihood:
    """p(x|z) = N(sigmoid(out), sigma^2) per pixel, with a fixed sigma (in pixel units of [0, 1])."""

    def __init__(self, sigma: float):
        self.sigma = sigma

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        mean = torch.sigmoid(out.float())
        per_pixel = 0.5 * ((x - mean) / self.sigma).pow(2) + math.log(self.sigma) + 0.5 * LOG_2PI
        return sum_except_batch(per_pixel)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out)


def make_likelihood(name: str, sigma: float) -> BernoulliLikelihood | GaussianLikelihood:
    return BernoulliLikelihood() if name == "bernoulli" else GaussianLikelihood(sigma)
