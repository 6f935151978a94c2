"""Drawing images from a trained model other than through its own prior.

`MixtureSampler` is ex-post density estimation (Ghosh et al. 2020, "From variational to deterministic
autoencoders", sec. 4): fit a Gaussian mixture to the codes of training images and decode draws from it. It lets
a plain autoencoder sample at all, and it often sharpens a VAE's samples, because the codes a VAE's encoder
actually uses (its aggregate posterior) rarely fill N(0, I): prior draws land in holes the decoder never learned.
The mixture is fitted here by EM in float64 (full covariances), so the core needs no scikit-learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import MultivariateNormal

from genzoo.errors import GenzooError
from genzoo.models.base import CONDITIONAL, DECODE, ENCODE, SAMPLE, GenerativeModel

SAMPLERS = ("prior", "gmm")


@dataclass
class GaussianMixture:
    weights: torch.Tensor  # (K,) summing to 1
    means: torch.Tensor  # (K, D)
    scale_tril: torch.Tensor  # (K, D, D): Cholesky factors of the covariances
    log_likelihood: float  # mean log-density of the fitted codes, nats
    iterations: int

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> GaussianMixture:
        return GaussianMixture(
            self.weights.to(device, dtype),
            self.means.to(device, dtype),
            self.scale_tril.to(device, dtype),
            self.log_likelihood,
            self.iterations,
        )

    def components(self) -> MultivariateNormal:
        return MultivariateNormal(self.means, scale_tril=self.scale_tril)  # batch shape (K,)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D) -> (N,) log-density."""
        return torch.logsumexp(self.components().log_prob(x[:, None, :]) + self.weights.log(), dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, D) draws: a component by weight, then a Gaussian draw from it."""
        which = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        noise = torch.randn(
            n, self.means.shape[1], 1, generator=generator, device=self.means.device, dtype=self.means.dtype
        )
        return self.means[which] + (self.scale_tril[which] @ noise).squeeze(-1)


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k starting centres (k, D) spread over x (N, D) (Arthur & Vassilvitskii 2007): each next centre is drawn
    with probability proportional to its squared distance from the nearest centre so far."""
    centres = [x[torch.randint(len(x), (1,), generator=generator)].squeeze(0)]
    nearest = torch.full((len(x),), math.inf, dtype=x.dtype)
    for _ in range(k - 1):
        nearest = torch.minimum(nearest, (x - centres[-1]).pow(2).sum(1))
        centres.append(x[torch.multinomial(nearest / nearest.sum(), 1, generator=generator)].squeeze(0))
    return torch.stack(centres)


def fit_gaussian_mixture(
    x: torch.Tensor,
    components: int = 10,
    iterations: int = 200,
    seed: int = 0,
    tolerance: float = 1e-5,
    ridge: float = 1e-6,
) -> GaussianMixture:
    """Maximum-likelihood mixture of `components` full-covariance Gaussians for points x (N, D), by EM from a
    k-means++ start; stops when the mean log-likelihood gains less than `tolerance` nats. `ridge` (times the
    data's mean variance) keeps every covariance positive definite."""
    x = x.detach().double().cpu()
    n, d = x.shape
    if not 1 <= components <= n:
        raise GenzooError(f"a mixture of {components} components needs at least that many codes; got {n}")
    generator = torch.Generator().manual_seed(seed)
    jitter = ridge * x.var(0).mean().clamp_min(1e-12) * torch.eye(d, dtype=x.dtype)
    means = kmeans_plus_plus(x, components, generator)
    covariances = (torch.cov(x.T).reshape(d, d) + jitter).expand(components, d, d).clone()
    weights = torch.full((components,), 1.0 / components, dtype=x.dtype)
    previous = -math.inf
    for step in range(1, iterations + 1):
        mixture = GaussianMixture(weights, means, torch.linalg.cholesky(covariances), previous, step)
        joint = mixture.components().log_prob(x[:, None, :]) + weights.log()  # (N, K)
        log_likelihood = torch.logsumexp(joint, dim=1)  # (N,)
        current = float(log_likelihood.mean())
        if current - previous < tolerance:
            break
        previous = current
        resp = (joint - log_likelihood[:, None]).exp()  # (N, K) responsibilities
        counts = resp.sum(0).clamp_min(1e-10)  # (K,)
        weights = counts / n
        means = resp.T @ x / counts[:, None]  # (K, D)
        centred = x[None] - means[:, None]  # (K, N, D)
        covariances = torch.einsum("kn,knd,kne->kde", resp.T, centred, centred) / counts[:, None, None] + jitter
    return GaussianMixture(weights, means, torch.linalg.cholesky(covariances), current, step)


class MixtureSampler:
    """Samples of `model` decoded from a Gaussian mixture fitted to `codes` (N, D), the model's codes of
    training images. Same call as `GenerativeModel.sample`."""

    def __init__(self, model: GenerativeModel, codes: torch.Tensor, components: int = 10, seed: int = 0):
        if not {ENCODE, DECODE} <= model.capabilities:
            raise GenzooError(
                f"--sampler gmm fits codes and decodes them: model {model.name!r} needs to encode "
                f"and decode (it can: {', '.join(sorted(model.capabilities))})"
            )
        if CONDITIONAL in model.capabilities:
            raise GenzooError(
                f"--sampler gmm is for unconditional models; {model.name!r} draws codes per class "
                "from its own prior (use the default --sampler prior)"
            )
        self.model = model
        fitted = fit_gaussian_mixture(codes, components, seed=seed)
        self.protocol = {
            "sampler": "gmm",
            "components": components,
            "fit_codes": len(codes),
            "fit_log_likelihood": fitted.log_likelihood,
            "em_iterations": fitted.iterations,
        }
        self.mixture = fitted.to(model.device)  # draws happen where the model lives, from the caller's generator

    @property
    def capabilities(self) -> frozenset[str]:
        return (self.model.capabilities | {SAMPLE}) - {CONDITIONAL}  # it samples, even for a plain autoencoder

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.model.decode(self.mixture.sample(n, generator))
