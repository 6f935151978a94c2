"""Variational autoencoders (Kingma & Welling 2014): an amortised Gaussian posterior, a decoder likelihood,
and the evidence lower bound  log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || p(z)).

The pieces are objects from `nets/distributions.py`, so a variant changes a piece, not this file's loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from genzoo.config import ModelConfig
from genzoo.errors import GenzooError
from genzoo.data.batches import Batch
from genzoo.models.base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, GenerativeModel, StepOutput
from genzoo.models.registry import register
from genzoo.nets.distributions import DiagonalGaussian, make_likelihood
from genzoo.nets.mlp import Activation, mlp


@dataclass(frozen=True)
class VAEConfig(ModelConfig):
    hidden: tuple[int, ...] = (400,)  # encoder widths; the decoder mirrors them (784-400-20 is the classic VAE)
    latent_dim: int = 20
    activation: Activation = "relu"
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    sigma: float = 0.1  # standard deviation of the Gaussian likelihood, in [0, 1] pixel units
    beta: float = 1.0  # weight of the KL term (beta-VAE, Higgins et al. 2017)
    kl_warmup_steps: int = 0  # the KL weight grows linearly from 0 to beta over this many steps

    def __post_init__(self):
        if self.latent_dim <= 0 or any(h <= 0 for h in self.hidden):
            raise GenzooError(f"vae: latent_dim and hidden sizes must be > 0, got {self.latent_dim}, {self.hidden}")
        if self.sigma <= 0 or self.beta < 0 or self.kl_warmup_steps < 0:
            raise GenzooError(
                f"vae: need sigma > 0, beta >= 0, kl_warmup_steps >= 0; "
                f"got {self.sigma}, {self.beta}, {self.kl_warmup_steps}"
            )


@register
class VAE(GenerativeModel):
    name = "vae"
    summary = "MLP VAE: Bernoulli or Gaussian decoder, KL weight beta, linear KL warm-up"
    Config = VAEConfig
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})
    latent_prior = "gaussian"  # p(z) = N(0, I): explorers use Gaussian quantiles and spherical paths

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        pixels = math.prod(config.image_shape)
        self.encoder = mlp([pixels, *config.hidden, 2 * config.latent_dim], config.activation)  # -> (mean, logvar)
        self.decoder = mlp([config.latent_dim, *config.hidden[::-1], pixels], config.activation)
        self.likelihood = make_likelihood(config.likelihood, config.sigma)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def posterior(self, x: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian.from_params(self.encoder(x.flatten(1)).float())  # q(z|x), (B, D)

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.config.image_shape)  # (B, D) -> (B, C, H, W) likelihood parameters

    def kl_weight(self, step: int) -> float:
        warmup = self.config.kl_warmup_steps
        return self.config.beta * (min(1.0, step / warmup) if warmup else 1.0)

    def training_step(self, batch: Batch, step: int, phase: str = "loss") -> StepOutput:
        q = self.posterior(batch.x)
        recon = self.likelihood.nll(self.decoder_output(q.sample()), batch.x).mean()  # nats per image
        kl = q.kl().sum(1).mean()
        beta = self.kl_weight(step)
        loss = recon + beta * kl
        terms = {"recon": recon.detach(), "kl": kl.detach(), "nelbo": (recon + kl).detach()}
        return StepOutput(loss, terms)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x).mode()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.likelihood.mean(self.decoder_output(z))

    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.device)  # z ~ p(z) = N(0, I)
        return self.decode(z)
