"""Distributions as small objects: the posterior (sample / mode / kl) and the decoder likelihoods.

Models compose these instead of re-deriving formulas: a VAE variant swaps a likelihood or a prior, not its
`training_step`. All log-densities are in nats. Tensors may carry leading sample dimensions: a posterior with
parameters (B, D) scores draws (k, B, D) by broadcasting, and a likelihood sums over every dimension after the
first `batch_dims`, giving (B,) by default or (k, B) for k draws per image.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

LOG_2PI = math.log(2 * math.pi)
LOGVAR_RANGE = (-30.0, 20.0)  # keeps exp() finite in fp32 and bf16


def sum_except_batch(t: torch.Tensor, batch_dims: int = 1) -> torch.Tensor:
    """Sum over every dimension after the first `batch_dims`: (B, ...) -> (B,), or (k, B, ...) -> (k, B)."""
    return t.flatten(batch_dims).sum(-1)


def gaussian_log_prob_per_dim(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, exp(logvar)) per coordinate, broadcast: -(log 2 pi + logvar + (z - mean)^2 / var) / 2."""
    return -0.5 * (LOG_2PI + logvar + (z - mean).pow(2) * torch.exp(-logvar))


class DiagonalGaussian:
    """N(mean, diag(exp(logvar))): the usual amortised posterior q(z|x). mean, logvar: (B, D)."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean = mean
        self.logvar = logvar.clamp(*LOGVAR_RANGE)
        self.std = torch.exp(0.5 * self.logvar)

    @classmethod
    def from_params(cls, params: torch.Tensor) -> DiagonalGaussian:
        """Split a (B, 2D) network output into mean and log-variance."""
        mean, logvar = params.chunk(2, dim=-1)
        return cls(mean, logvar)

    def sample(self, generator: torch.Generator | None = None, n: int | None = None) -> torch.Tensor:
        """Reparameterised draw mean + std * eps (Kingma & Welling 2014), differentiable in mean and logvar:
        shaped like `mean`, or (n, *mean.shape) for n independent draws per row."""
        shape = self.mean.shape if n is None else (n, *self.mean.shape)
        eps = torch.randn(shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per latent dimension, shape (B, D): closed form from Kingma & Welling, appendix B."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar)

    def kl_to(self, other: DiagonalGaussian) -> torch.Tensor:
        """KL(self || other) per dimension for two diagonal Gaussians of the same shape:
        log(s_p / s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2 (the ladder VAE's per-layer term)."""
        return 0.5 * (
            other.logvar
            - self.logvar
            + (self.logvar.exp() + (self.mean - other.mean).pow(2)) * torch.exp(-other.logvar)
            - 1.0
        )

    def log_prob_per_dim(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z) per latent dimension: (..., B, D) for draws z (..., B, D)."""
        return gaussian_log_prob_per_dim(z, self.mean, self.logvar)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z), summed over latent dimensions: (B,) for z (B, D), (k, B) for z (k, B, D)."""
        return self.log_prob_per_dim(z).sum(-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over non-batch dimensions: (B,)."""
    return -0.5 * sum_except_batch(LOG_2PI + z.pow(2))


def categorical_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) = sum_k p_k log(p_k / q_k) in nats over the last axis, for probability vectors p, q (..., K) of
    the same shape -> (...,). The one formula behind `genzoo.kl_divergence` (evaluate/divergence.py adds the input
    checks) and the categorical VAE's KL (models/cat_vae.py), differentiable on any device and dtype.

    Zeros are exact: a term with p_k = 0 is 0 (0 log 0 = 0, whatever q_k is), and p_k > 0 = q_k makes the result
    +inf. The logs are taken of values floored at the dtype's smallest normal number, so p_k = 0 multiplies a
    finite number: the value is exact and the gradient finite (torch.xlogy(p, p) would give 0 / 0 = NaN in the
    backward pass where a softmax underflows to 0)."""
    tiny = torch.finfo(p.dtype).tiny
    kl = (p * (p.clamp(min=tiny).log() - q.clamp(min=tiny).log())).sum(-1)
    impossible = ((p > 0) & (q == 0)).any(-1)  # support of p outside that of q
    return kl.masked_fill(impossible, math.inf)


def gumbel_softmax(logits: torch.Tensor, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A relaxed one-hot draw softmax((logits + g) / tau) over the last axis, g ~ Gumbel(0, 1) i.i.d. (Jang et al.
    2017; Maddison et al. 2017, the Concrete distribution): differentiable in the logits, and as tau -> 0 it tends
    to the one-hot of a draw from Categorical(softmax(logits)). logits (..., K) -> (..., K) on the simplex.
    torch's own gumbel_softmax takes no generator; this one does, so fixed noise gives fixed draws."""
    u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=torch.float32)
    tiny = torch.finfo(torch.float32).tiny
    exponential = (-torch.log(u.clamp(min=tiny))).clamp(min=tiny)  # -log u ~ Exp(1), in [tiny, 87]: finite logs
    gumbel = -torch.log(exponential)
    return torch.softmax((logits.float() + gumbel) / tau, dim=-1)


# -- decoder likelihoods p(x|z) ---------------------------------------------------------------------------------
# Each maps the decoder's raw output `out` and images `x` to -log p(x|z) summed over pixels. `out` may carry a
# leading sample dimension that `x` lacks, (k, B, C, H, W) against (B, C, H, W): x is broadcast, never copied k
# times. They are modules so that a learned variance is a parameter of the model that owns them.


class BernoulliLikelihood(nn.Module):
    """p(x|z) = Bernoulli(sigmoid(logits)) per pixel; the right model for binary or near-binary images."""

    def nll(self, logits: torch.Tensor, x: torch.Tensor, batch_dims: int = 1) -> torch.Tensor:
        """-log p(x|z) = sum softplus(l) - x l: the cross-entropy on logits, exact for every logit (no log(0)),
        and it broadcasts x against logits with extra leading dimensions. -> (B,) or (k, B)."""
        logits = logits.float()
        return sum_except_batch(F.softplus(logits) - x * logits, batch_dims)

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)


class GaussianLikelihood(nn.Module):
    """p(x|z) = N(sigmoid(out), sigma^2) per pixel, sigma in pixel units of [0, 1].

    Fixed sigma, or (`learn=True`) one shared learned sigma, as in the sigma-VAE of Rybkin et al. 2021 ("Simple
    and effective VAE training with calibrated decoders"): a single scale cannot collapse on the always-black
    border pixels of MNIST the way a per-pixel variance can. It starts at `sigma` and is floored at MIN_SIGMA.
    """

    MIN_SIGMA = 1e-3

    def __init__(self, sigma: float, learn: bool = False):
        super().__init__()
        self.learn = learn
        if learn:
            self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma)))
        else:
            self.fixed_sigma = sigma

    @property
    def sigma(self) -> float | torch.Tensor:
        if self.learn:
            return self.log_sigma.clamp(min=math.log(self.MIN_SIGMA)).exp()
        return self.fixed_sigma

    def nll(self, out: torch.Tensor, x: torch.Tensor, batch_dims: int = 1) -> torch.Tensor:
        mean = torch.sigmoid(out.float())
        if self.learn:
            log_sigma = self.log_sigma.clamp(min=math.log(self.MIN_SIGMA))
            per_pixel = 0.5 * (x - mean).pow(2) * torch.exp(-2 * log_sigma) + log_sigma + 0.5 * LOG_2PI
        else:
            per_pixel = 0.5 * ((x - mean) / self.fixed_sigma).pow(2) + math.log(self.fixed_sigma) + 0.5 * LOG_2PI
        return sum_except_batch(per_pixel, batch_dims)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out)


def make_likelihood(name: str, sigma: float, learn_sigma: bool = False) -> BernoulliLikelihood | GaussianLikelihood:
    return BernoulliLikelihood() if name == "bernoulli" else GaussianLikelihood(sigma, learn=learn_sigma)


def pixel_reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, loss: str) -> torch.Tensor:
    """A deterministic autoencoder's reconstruction loss: per-pixel BCE on logits ("bce") or squared error of
    sigmoid(logits) ("mse") against x in [0, 1], summed per image, averaged over the batch, in fp32 whatever the
    autocast. logits, x: (B, C, H, W)."""
    logits = logits.float()
    if loss == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    else:
        per_pixel = (torch.sigmoid(logits) - x).pow(2)
    return per_pixel.flatten(1).sum(1).mean()
