"""A hierarchical VAE with L >= 2 stochastic layers and ladder-style top-down inference (Sonderby et al. 2016,
"Ladder variational autoencoders").

Generative model, top down:  p(z_L) = N(0, I),  p(z_i | z_{i+1}) = N(mu_p, sigma_p^2) from an MLP,  p(x | z_1).
Inference shares the top-down path: a deterministic bottom-up pass d_i = MLP_i(d_{i-1}) gives every layer its
own estimate (mu_hat_i, sigma_hat_i); then, from the top, q(z_L|x) = N(mu_hat_L, sigma_hat_L^2) and each lower
layer combines its bottom-up estimate with the generative p(z_i | z_{i+1}) by precision weighting:

    sigma_q^-2 = sigma_hat^-2 + sigma_p^-2,    mu_q = sigma_q^2 (mu_hat sigma_hat^-2 + mu_p sigma_p^-2)

so the posterior of a lower layer knows what the layers above already explain. The objective, the bound,
diagnostics and log-likelihood are those of every VAE (`VariationalModel` in models/vae.py); the KL of each layer
is in closed form given the draw above it: KL(q(z_i | x, z_{i+1}) || p(z_i | z_{i+1})).

`encode(x)` is the concatenation of every layer's posterior mean (bottom first, top-down pass through the means);
`decode` reads its bottom layer, so `reconstruct` uses everything the posterior knows. The codes are not N(0, I)
distributed as a whole (only the top layer's prior is), so `latent_prior` is None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genzoo import checks
from genzoo.errors import GenzooError
from genzoo.models.base import DECODE, ENCODE, LOG_LIKELIHOOD, RECONSTRUCT, SAMPLE
from genzoo.models.registry import register
from genzoo.models.vae import Inference, VariationalConfig, VariationalModel
from genzoo.nets.distributions import DiagonalGaussian, make_likelihood
from genzoo.nets.mlp import mlp


@dataclass(frozen=True)
class LadderVAEConfig(VariationalConfig):
    # Sonderby et al. use 5 layers on MNIST (deterministic 512-256-128-64-32, latent 64-32-16-8-4); two here.
    latent_dims: tuple[int, ...] = (64, 32)  # stochastic layer sizes, bottom (next to x) first
    hidden: tuple[int, ...] = (512, 256)  # width of each layer's two-layer deterministic blocks, bottom first
    # Sonderby et al. found KL warm-up essential for hierarchies: without it the bottom-up path gives up early (its
    # variance grows until the posterior is the top-down prior) and few units stay active. On binarized MNIST, with
    # blocks of 200 and 100 units, 3000 warm-up steps took the test -ELBO after about 20 epochs from 116 to 102 nats.
    kl_warmup_steps: int = 3000

    def __post_init__(self):
        super().__post_init__()
        if len(self.latent_dims) < 2 or len(self.latent_dims) != len(self.hidden):
            raise GenzooError(
                f"model.latent_dims={list(self.latent_dims)} and model.hidden={list(self.hidden)}: "
                "expected two or more layers and one hidden width per layer"
            )
        checks.sizes("model.latent_dims", self.latent_dims)
        checks.sizes("model.hidden", self.hidden)


def precision_weighted(bottom_up: DiagonalGaussian, top_down: DiagonalGaussian) -> DiagonalGaussian:
    """The ladder posterior (Sonderby et al. 2016): the product of two Gaussians, renormalised.
    With weights w = sigma_q^2 / sigma_hat^2 = sigmoid(logvar_p - logvar_hat), and 1 - w for the prior's mean,
    nothing is divided by a small variance. Shapes broadcast: (B, D) bottom-up against (k, B, D) top-down."""
    logvar = -torch.logaddexp(-bottom_up.logvar, -top_down.logvar)
    w = torch.sigmoid(top_down.logvar - bottom_up.logvar)
    return DiagonalGaussian(w * bottom_up.mean + (1 - w) * top_down.mean, logvar)


@register
class LadderVAE(VariationalModel):
    name = "ladder-vae"
    summary = "hierarchical VAE, two or more stochastic layers with ladder (top-down, precision-weighted) inference"
    bf16_safe = True  # benchmarks/results/precision.md: the same test ELBO in bf16 at 400 steps, two seeds
    Config = LadderVAEConfig
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE, LOG_LIKELIHOOD})
    latent_prior = None

    def __init__(self, config: LadderVAEConfig):
        super().__init__(config)
        c = config
        pixels, act, dims, hidden = math.prod(c.image_shape), c.activation, c.latent_dims, c.hidden
        widths = (pixels, *hidden)
        # Bottom-up: d_i = block(d_{i-1}) (B, hidden_i), and its estimate of layer i: (B, 2 * latent_i).
        self.up = nn.ModuleList(
            mlp([widths[i], hidden[i], hidden[i]], act, final_activation=True) for i in range(len(dims))
        )
        self.up_heads = nn.ModuleList(nn.Linear(hidden[i], 2 * dims[i]) for i in range(len(dims)))
        # Top-down: p(z_i | z_{i+1}) for i < L, from z_{i+1} through a block of layer i's width.
        self.down = nn.ModuleList(
            nn.Sequential(
                *mlp([dims[i + 1], hidden[i], hidden[i]], act, final_activation=True), nn.Linear(hidden[i], 2 * dims[i])
            )
            for i in range(len(dims) - 1)
        )
        self.decoder = mlp([dims[0], hidden[0], hidden[0], pixels], act)  # p(x | z_1)
        self.likelihood = make_likelihood(c.likelihood, c.sigma, c.learn_sigma)

    @property
    def latent_layers(self) -> tuple[int, ...]:
        return self.config.latent_dims

    @property
    def latent_dim(self) -> int:
        return sum(self.config.latent_dims)

    def bottom_up(self, x: torch.Tensor) -> list[DiagonalGaussian]:
        """Each layer's bottom-up estimate (B, D_i), bottom first."""
        d, estimates = x.flatten(1), []
        for block, head in zip(self.up, self.up_heads):
            d = block(d)
            estimates.append(DiagonalGaussian.from_params(head(d).float()))
        return estimates

    def prior_given_above(self, i: int, z_above: torch.Tensor) -> DiagonalGaussian:
        """p(z_i | z_{i+1}) for draws z_above (..., D_{i+1})."""
        return DiagonalGaussian.from_params(self.down[i](z_above).float())

    def infer(
        self, x: torch.Tensor, labels: torch.Tensor | None, k: int, generator: torch.Generator | None = None
    ) -> Inference:
        estimates = self.bottom_up(x)
        q = estimates[-1]  # q(z_L | x) (B, D_L)
        z = q.sample(generator, n=k)  # (k, B, D_L)
        log_q = q.log_prob(z)
        log_p = -0.5 * (math.log(2 * math.pi) + z.pow(2)).sum(-1)  # log N(z_L; 0, I)
        kls = [q.kl()]  # closed form per layer, top first while descending
        for i in reversed(range(len(estimates) - 1)):
            p = self.prior_given_above(i, z)  # (k, B, D_i)
            q = precision_weighted(estimates[i], p)
            z = q.sample(generator)  # (k, B, D_i)
            log_q = log_q + q.log_prob(z)
            log_p = log_p + p.log_prob(z)
            kls.insert(0, q.kl_to(p).mean(0))  # mean over the k draws above: (B, D_i)
        return Inference(z, log_q, log_p, torch.cat(kls, -1))

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B, sum D_i): every layer's posterior mean, the top-down pass going through means."""
        estimates = self.bottom_up(x)
        z = estimates[-1].mean
        codes = [z]
        for i in reversed(range(len(estimates) - 1)):
            z = precision_weighted(estimates[i], self.prior_given_above(i, z)).mean
            codes.insert(0, z)
        return torch.cat(codes, -1)

    def decoder_latent(self, code: torch.Tensor) -> torch.Tensor:
        return code[..., : self.config.latent_dims[0]]  # the bottom layer z_1

    def decoder_output(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.config.image_shape)

    def sample_latent(self, n: int, generator: torch.Generator | None, labels: torch.Tensor | None) -> torch.Tensor:
        """Ancestral sampling: z_L ~ N(0, I), then z_i ~ p(z_i | z_{i+1}) down to z_1 (n, D_1)."""
        z = torch.randn(n, self.config.latent_dims[-1], generator=generator, device=self.device)
        for i in reversed(range(len(self.config.latent_dims) - 1)):
            z = self.prior_given_above(i, z).sample(generator)
        return z
