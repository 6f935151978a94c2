"""A VAE with discrete latents: N categorical variables of K classes each, trained through the Gumbel-softmax
relaxation (Jang et al. 2017, "Categorical reparameterization with Gumbel-softmax"; Maddison et al. 2017, "The
Concrete distribution"), optionally beside continuous Gaussian codes (Dupont 2018, "Learning disentangled joint
continuous and discrete representations", JointVAE).

    encoder   x -> N x K logits of q(c_n | x) [+ mean and log-variance of q(z | x), continuous_dim each]
    relaxed   y_n = softmax((logits_n + g_n) / tau), g ~ Gumbel(0, 1): differentiable draws near one-hot
    decoder   [y_1 .. y_N (N K), z] -> likelihood parameters (Bernoulli or Gaussian, nets/distributions.py)
    loss      -log p(x | y, z) + beta (sum_n KL(q(c_n|x) || Uniform(K)) + KL(q(z|x) || N(0, I)))

The KL is the exact one of the discrete distribution (sum_k q_k log(q_k K)), through the formula behind
`genzoo.kl_divergence` (nets/distributions.py: categorical_kl), as Jang et al. do; the reconstruction term uses
the relaxed draws. The temperature falls as tau(t) = max(tau_min, tau0 exp(-r t)) (Jang et al. 2017, sec. 4: r
in {1e-5, 1e-4}, tau_min 0.5; they update it every N steps, here at every step), a pure function of the step,
so a resumed run anneals as the uninterrupted one. The loss is a relaxed objective, not a bound on log p(x), so
no test log-likelihood is declared.

Codes (`encode`) are the posterior means: the class probabilities of each variable, flattened (N K), then the
continuous means. Samples draw every variable's class uniformly (one-hot) and the continuous part from N(0, I).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn
from torch.nn import functional as F

from genzoo import checks
from genzoo.data.batches import Batch, eval_batches
from genzoo.data.types import ImageSplit
from genzoo.models.base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, GenerativeModel, ModelConfig, StepOutput
from genzoo.models.registry import register
from genzoo.nets.conv import ConvDecoder, ConvEncoder
from genzoo.nets.distributions import DiagonalGaussian, categorical_kl, gumbel_softmax, make_likelihood
from genzoo.nets.mlp import DEFAULT_LEAKY_SLOPE, Activation, mlp


@dataclass(frozen=True)
class CatVAEConfig(ModelConfig):
    # Jang et al. 2017, MNIST: 30 categorical variables of 10 classes, MLP 784-512-256, tau0 1, tau_min 0.5.
    categoricals: int = 30  # N
    classes: int = 10  # K
    continuous_dim: int = 0  # > 0: JointVAE's Gaussian codes beside the categorical ones (Dupont 2018)
    network: Literal["mlp", "conv"] = "mlp"
    hidden: tuple[int, ...] = (512, 256)  # mlp: encoder widths; the decoder mirrors them
    channels: tuple[int, ...] = (32, 64)  # conv: channels of the stride-2 stages (nets/conv.py)
    activation: Activation = "relu"
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    sigma: float = 0.1  # gaussian: standard deviation in [0, 1] pixel units
    beta: float = 1.0  # weight of the KL terms
    tau0: float = 1.0  # temperature at step 0
    tau_min: float = 0.5  # floor of the annealed temperature
    anneal_rate: float = 1e-4  # r in tau0 exp(-r t)

    activation_slopes: ClassVar[dict] = {"activation": DEFAULT_LEAKY_SLOPE}

    def __post_init__(self):
        checks.positive("model.categoricals", self.categoricals)
        checks.at_least("model.classes", self.classes, 2)
        checks.at_least("model.continuous_dim", self.continuous_dim, 0)
        checks.one_of("model.network", self.network, ("mlp", "conv"))
        checks.one_of("model.likelihood", self.likelihood, ("bernoulli", "gaussian"))
        checks.sizes("model.hidden", self.hidden)
        checks.sizes("model.channels", self.channels, non_empty=True)
        checks.positive("model.sigma", self.sigma)
        checks.at_least("model.beta", self.beta, 0)
        checks.positive("model.tau_min", self.tau_min)
        checks.check(self.tau0 >= self.tau_min, "model.tau0", self.tau0, f">= tau_min ({self.tau_min})")
        checks.at_least("model.anneal_rate", self.anneal_rate, 0)

    @property
    def discrete_dim(self) -> int:
        return self.categoricals * self.classes


def temperature(step: int, tau0: float, tau_min: float, rate: float) -> float:
    """tau(t) = max(tau_min, tau0 exp(-r t)) at step t (Jang et al. 2017, sec. 4)."""
    return max(tau_min, tau0 * math.exp(-rate * step))


@dataclass
class CatPosterior:
    logits: torch.Tensor  # (B, N, K) of q(c_n | x), fp32
    gaussian: DiagonalGaussian | None  # q(z | x) (B, Dc), or None without continuous codes

    @property
    def probs(self) -> torch.Tensor:
        return torch.softmax(self.logits, -1)  # (B, N, K)

    def kl_per_variable(self) -> torch.Tensor:
        """(B, N + Dc): KL(q(c_n|x) || Uniform(K)) per categorical variable, then the Gaussian KL per dimension."""
        probs = self.probs
        uniform = torch.full_like(probs, 1.0 / probs.shape[-1])
        kl = categorical_kl(probs, uniform)  # (B, N): sum_k q_k log(q_k K)
        return kl if self.gaussian is None else torch.cat([kl, self.gaussian.kl()], 1)


@register
class CatVAE(GenerativeModel):
    name = "cat-vae"
    summary = (
        "VAE with N categorical latents of K classes (Gumbel-softmax relaxation, annealed temperature); "
        "continuous_dim > 0 adds Gaussian codes (JointVAE)"
    )
    Config = CatVAEConfig
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})
    latent_prior = None  # one-hot codes with a uniform prior: explorers read axis ranges from the test codes
    missing_reasons: ClassVar[dict] = {
        "log_likelihood": "cat-vae trains a relaxed (Gumbel-softmax) objective, not a bound on log p(x); "
        "use vae, iwae or another VAE for --nll"
    }

    def __init__(self, config: CatVAEConfig):
        super().__init__(config)
        c = config
        out = c.discrete_dim + 2 * c.continuous_dim  # logits, then the Gaussian's mean and log-variance
        code = c.discrete_dim + c.continuous_dim
        if c.network == "mlp":
            pixels = math.prod(c.image_shape)
            self.encoder = nn.Sequential(nn.Flatten(), *mlp([pixels, *c.hidden, out], c.activation))
            self.decoder = nn.Sequential(
                *mlp([code, *c.hidden[::-1], pixels], c.activation), nn.Unflatten(1, c.image_shape)
            )
        else:
            self.encoder = ConvEncoder(c.image_shape, c.channels, out, c.activation)
            self.decoder = ConvDecoder(code, c.image_shape, c.channels, c.activation)
        self.likelihood = make_likelihood(c.likelihood, c.sigma)

    @property
    def latent_dim(self) -> int:
        return self.config.discrete_dim + self.config.continuous_dim

    def temperature(self, step: int) -> float:
        c = self.config
        return temperature(step, c.tau0, c.tau_min, c.anneal_rate)

    def posterior(self, x: torch.Tensor) -> CatPosterior:
        c = self.config
        h = self.encoder(x).float()  # (B, N K + 2 Dc)
        logits = h[:, : c.discrete_dim].view(-1, c.categoricals, c.classes)
        gaussian = DiagonalGaussian.from_params(h[:, c.discrete_dim :]) if c.continuous_dim else None
        return CatPosterior(logits, gaussian)

    def relaxed_code(self, q: CatPosterior, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """A differentiable draw of the code: Gumbel-softmax per variable, flattened (B, N K), then a
        reparameterised Gaussian draw (B, Dc)."""
        y = gumbel_softmax(q.logits, tau, generator).flatten(1)
        return y if q.gaussian is None else torch.cat([y, q.gaussian.sample(generator)], 1)

    def decoder_output(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code).view(-1, *self.config.image_shape)  # (B, N K + Dc) -> (B, C, H, W)

    def training_step(self, batch: Batch, step: int, phase: str = "loss") -> StepOutput:
        q = self.posterior(batch.x)
        tau = self.temperature(step)
        recon = self.likelihood.nll(self.decoder_output(self.relaxed_code(q, tau)), batch.x).mean()
        kl_all = q.kl_per_variable().mean(0)  # (N + Dc,) batch means
        kl_discrete = kl_all[: self.config.categoricals].sum()
        kl = kl_all.sum()
        loss = recon + self.config.beta * kl
        terms = {
            "recon": recon,
            "kl": kl,
            "kl_discrete": kl_discrete,
            "temperature": torch.tensor(tau, device=recon.device),
        }
        if self.config.continuous_dim:
            terms["kl_continuous"] = kl - kl_discrete
        return StepOutput(loss, {key: value.detach() for key, value in terms.items()})

    @torch.no_grad()
    def diagnostics(self, split: ImageSplit, batch_size: int) -> dict[str, float | list[float]]:
        """KL per latent variable on `split` (nats; a categorical variable carries at most log K): a variable
        near 0 is unused, the discrete analogue of a collapsed dimension; counted as used above 1% of log K."""
        kls = [
            self.posterior(batch.x).kl_per_variable().double() for batch in eval_batches(split, batch_size, self.device)
        ]
        per_variable = torch.cat(kls).mean(0)
        used = per_variable[: self.config.categoricals] > 0.01 * math.log(self.config.classes)
        return {"kl_per_variable": per_variable.tolist(), "categoricals_used": int(used.sum())}

    # -- verbs -------------------------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        q = self.posterior(x)
        probs = q.probs.flatten(1)  # (B, N K): the mean of each one-hot variable
        return probs if q.gaussian is None else torch.cat([probs, q.gaussian.mode()], 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.likelihood.mean(self.decoder_output(z))

    def sample(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        c = self.config
        classes = torch.randint(c.classes, (n, c.categoricals), generator=generator, device=self.device)
        code = F.one_hot(classes, c.classes).float().flatten(1)  # (n, N K), uniform one-hots
        if c.continuous_dim:
            code = torch.cat([code, torch.randn(n, c.continuous_dim, generator=generator, device=self.device)], 1)
        return self.decode(code)
