"""Priors p(z) over a VAE's latent space, as swappable modules.

Each scores draws z (..., D) with `log_prob` -> (...,) and `log_prob_per_dim` -> (..., D) (the marginal of each
coordinate, for KL-per-dimension diagnostics), draws with `sample`, and gives the KL of a diagonal Gaussian
posterior per dimension in closed form where one exists (`kl_per_dim`, else None: the model then estimates the
KL by Monte Carlo, log q(z|x) - log p(z)). Every method takes the images' class `labels` (B,); only a
class-conditional prior reads them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from genzoo.nets.distributions import LOG_2PI, DiagonalGaussian, gaussian_log_prob_per_dim


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I)."""

    factorised = True

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def log_prob_per_dim(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return -0.5 * (LOG_2PI + z.pow(2))

    def log_prob(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.log_prob_per_dim(z).sum(-1)

    def kl_per_dim(self, q: DiagonalGaussian, labels: torch.Tensor | None = None) -> torch.Tensor:
        return q.kl()  # (B, D), Kingma & Welling 2014, appendix B

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator, device=device)


class ClassConditionalPrior(nn.Module):
    """p(z | y) = N(m_y, diag(exp(v_y))) with a learned mean and log-variance per class: the prior network of the
    conditional VAE of Sohn et al. 2015, for a class label. With p(z) = N(0, I) for every class, whatever class
    information the encoder leaves in z makes z ~ p(z) draw other classes' styles whatever label is asked for;
    a per-class prior can follow the class-conditional aggregate posterior instead. Starts at N(0, I)."""

    factorised = True

    def __init__(self, latent_dim: int, num_classes: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.mean = nn.Parameter(torch.zeros(num_classes, latent_dim))
        self.logvar = nn.Parameter(torch.zeros(num_classes, latent_dim))

    def of(self, labels: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(self.mean[labels], self.logvar[labels])  # (B, D)

    def log_prob_per_dim(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.of(labels).log_prob_per_dim(z)  # (..., B, D): draws (..., B, D) broadcast against (B, D)

    def log_prob(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.log_prob_per_dim(z, labels).sum(-1)

    def kl_per_dim(self, q: DiagonalGaussian, labels: torch.Tensor | None = None) -> torch.Tensor:
        return q.kl_to(self.of(labels))  # (B, D), closed form

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.of(labels).sample(generator)  # (n, D) with labels (n,)


class VampPrior(nn.Module):
    """The VampPrior (Tomczak & Welling 2018): p(z) = (1/K) sum_k q(z | u_k), a uniform mixture of the encoder's
    own posteriors at K learned pseudo-inputs u_k, so the prior is learned with, and shaped like, the aggregate
    posterior.

    The pseudo-inputs are images sigmoid(v_k) with v_k ~ N(0, 1) at the start: distinct random images in (0, 1).
    The paper's code maps them through hardtanh(0, 1), initialised N(-0.05, 0.01), where most start clamped at
    0 with no gradient; a sigmoid keeps every pixel trainable. `posterior` is the owning model's encoder,
    images (K, C, H, W) -> DiagonalGaussian (K, D); it is kept as a plain callable, not a submodule, so the
    encoder's weights are not registered twice.
    """

    factorised = False

    def __init__(
        self,
        latent_dim: int,
        image_shape: Sequence[int],
        components: int,
        posterior: Callable[[torch.Tensor], DiagonalGaussian],
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.pseudo_logits = nn.Parameter(torch.randn(components, *image_shape))  # (K, C, H, W)
        self.posterior = posterior

    def pseudo_inputs(self) -> torch.Tensor:
        return torch.sigmoid(self.pseudo_logits)  # (K, C, H, W) in (0, 1)

    def components(self) -> DiagonalGaussian:
        return self.posterior(self.pseudo_inputs())  # (K, D)

    def log_prob(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """log (1/K) sum_k N(z; m_k, v_k) for z (..., D) -> (...,).

        The (N, K) table of component log-densities is built from two matmuls instead of an (N, K, D) tensor:
        sum_d (z_d - m_kd)^2 / v_kd = z^2 . (1/v_k) - 2 z . (m_k / v_k) + sum_d m_kd^2 / v_kd. The expansion
        cancels large terms when a component is narrow, so it runs in float64."""
        comps = self.components()
        mean, logvar = comps.mean.double(), comps.logvar.double()  # (K, D)
        precision = torch.exp(-logvar)
        flat = z.reshape(-1, z.shape[-1]).double()  # (N, D)
        quad = flat.pow(2) @ precision.T - 2 * flat @ (mean * precision).T + (mean.pow(2) * precision).sum(1)  # (N, K)
        log_components = -0.5 * (z.shape[-1] * LOG_2PI + logvar.sum(1) + quad)
        log_p = torch.logsumexp(log_components, dim=1) - math.log(log_components.shape[1])
        return log_p.to(z.dtype).view(z.shape[:-1])

    def log_prob_per_dim(self, z: torch.Tensor, labels: torch.Tensor | None = None, chunk: int = 256) -> torch.Tensor:
        """The marginal log-density of each coordinate, a 1-D mixture: (..., D). Diagnostics only (it builds
        (chunk, K, D) tensors)."""
        comps = self.components()
        flat = z.reshape(-1, z.shape[-1])
        out = [
            torch.logsumexp(gaussian_log_prob_per_dim(part[:, None, :], comps.mean, comps.logvar), dim=1)
            for part in flat.split(chunk)
        ]
        return (torch.cat(out) - math.log(comps.mean.shape[0])).view(z.shape)

    def kl_per_dim(self, q: DiagonalGaussian, labels: torch.Tensor | None = None) -> None:
        return None  # KL to a mixture has no closed form

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        comps = self.components()
        pick = torch.randint(comps.mean.shape[0], (n,), generator=generator, device=device)  # uniform mixture weight
        eps = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return comps.mean[pick] + comps.std[pick] * eps
