"""VAEs with an extra penalty on the aggregate posterior q(z) = E_x q(z|x): InfoVAE, beta-TCVAE, FactorVAE.

Each is the `vae` of models/vae.py with `make_penalty` returning one of the modules below; the penalty sees the
batch's posterior q(z|x) (B, D) and one draw z (B, D) per image (draws across the batch are samples of q(z)),
and returns the weighted term added to the loss plus terms to log:

- `MMDPenalty` (InfoVAE, Zhao et al. 2019): maximum mean discrepancy between q(z) and p(z).
- `MinibatchTC` (beta-TCVAE, Chen et al. 2018): total correlation KL(q(z) || prod_d q(z_d)), estimated by
  minibatch-weighted or stratified sampling.
- `DiscriminatorTC` (FactorVAE, Kim & Mnih 2018): the same total correlation, estimated by a discriminator
  between draws of q(z) and draws with each dimension shuffled across the batch (the density-ratio trick). The
  discriminator is a second optimizer group; the trainer alternates the two groups at every step.
- `DIPPenalty` (DIP-VAE, Kumar et al. 2018): the covariance of q(z), estimated on the batch, pulled towards the
  identity (variant i: the covariance of the posterior means; ii: of q(z) itself).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

from genzoo import checks
from genzoo.errors import GenzooError
from genzoo.models.base import OptimizerGroup, StepOutput
from genzoo.models.registry import register
from genzoo.models.vae import VAE, Penalty, VAEConfig
from genzoo.nets.distributions import DiagonalGaussian, gaussian_log_prob_per_dim
from genzoo.nets.mlp import mlp
from genzoo.nets.mmd import mmd2


def _elbo_only(config: VAEConfig, name: str) -> None:
    if config.objective != "elbo":
        raise GenzooError(
            f"model.objective={config.objective} is not supported by {name}: its penalty is added to "
            "the ELBO; use objective=elbo"
        )


# -- InfoVAE ------------------------------------------------------------------------------------------------------


def rbf_mmd2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """InfoVAE's divergence: the unbiased MMD^2 estimate (nets/mmd.py, shared with the WAE) between samples a (n, D)
    and b (m, D) with one Gaussian kernel k(u, v) = exp(-|u - v|^2 / (2 D)): for u, v ~ N(0, I) the mean of
    |u - v|^2 is 2 D, so the kernel stays away from 0 and 1 at the prior's scale whatever D is."""
    return mmd2(a, b, kernel="rbf", scales=(1.0,))


class MMDPenalty(Penalty):
    def __init__(self, weight: float, prior: nn.Module):
        super().__init__()
        self.weight = weight
        self.prior = [prior]  # a plain list: the model owns (and registers) its prior

    def forward(self, q: DiagonalGaussian, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if z.shape[0] < 2:  # the unbiased estimate needs two draws of each distribution
            zero = z.sum() * 0
            return zero, {"mmd": zero}
        prior_draws = self.prior[0].sample(z.shape[0], device=z.device).to(z.dtype)  # (B, D) from p(z)
        mmd = rbf_mmd2(z.float(), prior_draws.float())
        return self.weight * mmd, {"mmd": mmd}


@dataclass(frozen=True)
class InfoVAEConfig(VAEConfig):
    # Zhao et al. 2019, the InfoVAE objective: maximise E[log p(x|z)] - (1 - alpha) KL(q(z|x) || p(z)) - (alpha + lambda
    # - 1) D(q(z), p(z)).
    alpha: float = 0.0  # 1 - alpha scales the per-image KL (times beta and its warm-up); alpha = 1 drops it
    mmd_lambda: float = 1000.0  # lambda: an MMD^2 estimate is O(1e-2) against ~100 nats of reconstruction

    def __post_init__(self):
        super().__post_init__()
        _elbo_only(self, "info-vae")
        checks.check(self.alpha <= 1, "model.alpha", self.alpha, "<= 1 (the KL weight 1 - alpha must be >= 0)")
        checks.check(
            self.alpha + self.mmd_lambda - 1 >= 0,
            "model.mmd_lambda",
            self.mmd_lambda,
            f">= {1 - self.alpha} (the MMD weight alpha + lambda - 1 must be >= 0)",
        )


@register
class InfoVAE(VAE):
    name = "info-vae"
    summary = "InfoVAE (MMD-VAE): the ELBO's KL scaled by 1 - alpha plus an MMD between q(z) and p(z)"
    Config = InfoVAEConfig

    def make_penalty(self) -> Penalty:
        c = self.config
        return MMDPenalty(c.alpha + c.mmd_lambda - 1, self.prior)

    def kl_weight(self, step: int) -> float:
        return (1 - self.config.alpha) * super().kl_weight(step)


# -- beta-TCVAE ---------------------------------------------------------------------------------------------------


TC_ESTIMATORS = ("mws", "mss")


def minibatch_log_weights(
    batch: int,
    dataset_size: int,
    estimator: str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """log w_ij (M, M) of the minibatch estimate q(z_i) ~ sum_j w_ij q(z_i|x_j) of q(z) = 1/N sum_n q(z|x_n), for a
    batch of M images with one draw z_i ~ q(z|x_i) each (Chen et al. 2018):
    - "mws", minibatch-weighted sampling: w_ij = 1/(N M) for every j. The weights sum to 1/N, so log q(z) comes
      out about log N low (a constant, no gradient), and the image z_i came from weighs no more than the others.
    - "mss", stratified: the image that z_i was drawn from is a stratum of its own, taken exactly (w_ii = 1/N); the
      batch's M - 1 other images are a uniform sample of the other N - 1 and stand for them
      (w_ij = (N - 1) / (N (M - 1))). The weights sum to 1, each estimate of q(z_i) is unbiased, and M = N is exact."""
    if estimator == "mws":
        return torch.full((batch, batch), -math.log(dataset_size * batch), dtype=dtype, device=device)
    if estimator == "mss":
        if batch < 2:
            raise GenzooError("model.estimator=mss needs batches of at least 2 images")
        log_w = torch.full(
            (batch, batch), math.log((dataset_size - 1) / (dataset_size * (batch - 1))), dtype=dtype, device=device
        )
        return log_w.fill_diagonal_(-math.log(dataset_size))
    raise GenzooError(f"model.estimator={estimator!r} is not known; expected one of {', '.join(TC_ESTIMATORS)}")


def total_correlation(q: DiagonalGaussian, z: torch.Tensor, dataset_size: int, estimator: str = "mws") -> torch.Tensor:
    """Minibatch estimate of TC = E_q(z)[log q(z) - sum_d log q(z_d)] at the batch's draws z (M, D), with q(z) and
    each marginal q(z_d) estimated by `minibatch_log_weights`. -> scalar. With mws it is about (D - 1) log N high."""
    log_w = minibatch_log_weights(z.shape[0], dataset_size, estimator, z.device, z.dtype)  # (M_i, M_j), on z's device
    log_qzx = gaussian_log_prob_per_dim(z[:, None, :], q.mean[None], q.logvar[None])  # (M_i, M_j, D): log q(z_id|x_j)
    log_qz = torch.logsumexp(log_w + log_qzx.sum(2), dim=1)  # (M,)
    log_prod_marginals = torch.logsumexp(log_w[:, :, None] + log_qzx, dim=1).sum(1)  # (M,)
    return (log_qz - log_prod_marginals).mean()


class MinibatchTC(Penalty):
    def __init__(self, weight: float, dataset_size: int, estimator: str):
        super().__init__()
        self.weight, self.dataset_size, self.estimator = weight, dataset_size, estimator

    def forward(self, q: DiagonalGaussian, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        tc = total_correlation(q, z.float(), self.dataset_size, self.estimator)
        return self.weight * tc, {"tc": tc}


@dataclass(frozen=True)
class BetaTCVAEConfig(VAEConfig):
    # Chen et al. 2018 split the KL into index-code MI + beta TC + dimension-wise KL (their alpha = gamma = 1); with
    # the closed-form KL that is the ELBO plus (beta - 1) TC, which is what is trained here.
    tc_weight: float = 6.0  # their beta, the weight of the total correlation
    dataset_size: int = 60000  # N of the estimator (for mws it shifts the logged tc by a constant only)
    estimator: str = "mws"  # mws (minibatch-weighted) or mss (stratified: unbiased q(z), exact when M = N)

    def __post_init__(self):
        super().__post_init__()
        _elbo_only(self, "beta-tcvae")
        checks.at_least("model.tc_weight", self.tc_weight, 0)
        checks.positive("model.dataset_size", self.dataset_size)
        checks.check(self.estimator in TC_ESTIMATORS, "model.estimator", self.estimator, " or ".join(TC_ESTIMATORS))


@register
class BetaTCVAE(VAE):
    name = "beta-tcvae"
    summary = (
        "beta-TCVAE: the ELBO plus (tc_weight - 1) x total correlation of q(z), minibatch-weighted or "
        "stratified estimate"
    )
    Config = BetaTCVAEConfig

    def make_penalty(self) -> Penalty:
        c = self.config
        return MinibatchTC(c.tc_weight - 1, c.dataset_size, c.estimator)


# -- FactorVAE ----------------------------------------------------------------------------------------------------


def permute_dims(z: torch.Tensor) -> torch.Tensor:
    """Shuffle each latent dimension independently across the batch (Kim & Mnih 2018, Algorithm 1): the result
    is distributed as prod_d q(z_d). (B, D) -> (B, D), one gather, no loop."""
    order = torch.rand(z.shape, device=z.device).argsort(0)  # (B, D): a permutation per column
    return z.gather(0, order)


class DiscriminatorTC(Penalty):
    """TC ~ E_q(z)[log D(z) / (1 - D(z))] = E[logit_q - logit_perm] for a classifier D of q(z) against
    prod_d q(z_d), the density-ratio trick of Kim & Mnih 2018. Its own optimizer group trains D; the model's group sees
    the estimate."""

    group = "discriminator"

    def __init__(self, latent_dim: int, hidden: tuple[int, ...], weight: float, lr: float, betas: tuple[float, float]):
        super().__init__()
        # Kim & Mnih, appendix: fully connected layers with leaky ReLU (slope 0.2), two logits: class 0 "drawn
        # from q(z)", class 1 "dimensions permuted"
        self.net = mlp([latent_dim, *hidden, 2], "leaky_relu_0.2")
        self.weight, self.lr, self.betas = weight, lr, betas

    def forward(self, q: DiagonalGaussian, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = self.net(z)
        tc = (logits[:, 0] - logits[:, 1]).float().mean()
        return self.weight * tc, {"tc": tc}

    def group_step(self, z: torch.Tensor) -> StepOutput:
        """The discriminator's loss on draws z (B, D) taken without gradient: the first half of the batch as
        draws of q(z), the second half with dimensions permuted (Kim & Mnih use a second batch for those)."""
        half = max(1, z.shape[0] // 2)
        real, other = z[:half], (z[half:] if z.shape[0] > 1 else z)
        logits_real, logits_perm = self.net(real).float(), self.net(permute_dims(other)).float()
        loss = 0.5 * (
            F.cross_entropy(logits_real, torch.zeros(len(real), dtype=torch.long, device=z.device))
            + F.cross_entropy(logits_perm, torch.ones(len(other), dtype=torch.long, device=z.device))
        )
        accuracy = 0.5 * ((logits_real.argmax(1) == 0).float().mean() + (logits_perm.argmax(1) == 1).float().mean())
        return StepOutput(loss, {"discriminator_accuracy": accuracy.detach()})

    def optimizer_group(self) -> OptimizerGroup:
        return OptimizerGroup(self.group, list(self.parameters()), lr=self.lr, betas=self.betas)


@dataclass(frozen=True)
class FactorVAEConfig(VAEConfig):
    tc_weight: float = 10.0  # gamma; Kim & Mnih sweep 10 to 100 on dSprites
    discriminator_hidden: tuple[int, ...] = (1000,) * 6  # Kim & Mnih, appendix: 6 layers of 1000 units
    discriminator_lr: float = 1e-4  # Kim & Mnih: Adam 1e-4, betas (0.5, 0.9) for the discriminator
    discriminator_betas: tuple[float, float] = (0.5, 0.9)

    def __post_init__(self):
        super().__post_init__()
        _elbo_only(self, "factor-vae")
        checks.at_least("model.tc_weight", self.tc_weight, 0)
        checks.sizes("model.discriminator_hidden", self.discriminator_hidden, non_empty=True)
        checks.positive("model.discriminator_lr", self.discriminator_lr)
        checks.adam_betas("model.discriminator_betas", self.discriminator_betas)


@register
class FactorVAE(VAE):
    name = "factor-vae"
    summary = "FactorVAE: the ELBO plus tc_weight x total correlation estimated by a discriminator (second optimizer)"
    bf16_safe = True  # benchmarks/results/precision.md: test ELBO within the seed spread (its discriminator too)
    Config = FactorVAEConfig

    def make_penalty(self) -> Penalty:
        c = self.config
        return DiscriminatorTC(
            c.latent_dim, c.discriminator_hidden, c.tc_weight, c.discriminator_lr, c.discriminator_betas
        )


# -- DIP-VAE ------------------------------------------------------------------------------------------------------


def dip_covariance(q: DiagonalGaussian, variant: str) -> torch.Tensor:
    """The batch's estimate of a covariance of q(z) = E_x q(z|x) (Kumar et al. 2018), fp32 (D, D):
    - "i":  Cov_x[mu(x)] = E[mu mu^T] - E[mu] E[mu]^T over the batch's posterior means (eq. 4's target);
    - "ii": Cov_q(z)[z] = E_x[Sigma(x)] + Cov_x[mu(x)], the law of total covariance (eq. 6), with the diagonal
      posterior covariances Sigma(x) = diag(exp(logvar))."""
    mu = q.mean.float()  # (B, D)
    centred = mu - mu.mean(0)
    cov = centred.T @ centred / mu.shape[0]  # (D, D), the batch's (biased) moment estimate
    if variant == "ii":
        cov = cov + torch.diag(q.logvar.float().exp().mean(0))
    return cov


def dip_penalty(cov: torch.Tensor, lambda_od: float, lambda_d: float) -> torch.Tensor:
    """lambda_od sum_{i != j} cov_ij^2 + lambda_d sum_i (cov_ii - 1)^2 (Kumar et al. 2018, eqs. 4 and 6): the
    off-diagonal entries to 0 (decorrelated codes), the diagonal to 1. cov (D, D) -> scalar."""
    diagonal = cov.diagonal()
    off_diagonal = cov.pow(2).sum() - diagonal.pow(2).sum()
    return lambda_od * off_diagonal + lambda_d * (diagonal - 1).pow(2).sum()


class DIPPenalty(Penalty):
    def __init__(self, variant: str, lambda_od: float, lambda_d: float):
        super().__init__()
        self.variant, self.lambda_od, self.lambda_d = variant, lambda_od, lambda_d

    def forward(self, q: DiagonalGaussian, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cov = dip_covariance(q, self.variant)
        diagonal = cov.diagonal()
        terms = {
            "dip": dip_penalty(cov, self.lambda_od, self.lambda_d),
            "cov_off_diagonal": (cov.pow(2).sum() - diagonal.pow(2).sum()).detach(),  # sum_{i != j} cov_ij^2
            "cov_diagonal_error": (diagonal - 1).pow(2).sum().detach(),  # sum_i (cov_ii - 1)^2
        }
        return terms["dip"], terms


@dataclass(frozen=True)
class DIPVAEConfig(VAEConfig):
    # Kumar et al. 2018, sec. 3: variant i matches Cov[mu(x)], ii the whole Cov_q(z); for i they set
    # lambda_d = 10 lambda_od, for ii lambda_d = lambda_od (left out, lambda_d follows that rule).
    variant: Literal["i", "ii"] = "i"
    lambda_od: float = 10.0
    lambda_d: float | None = None

    @classmethod
    def resolve(cls, settings: dict[str, Any]) -> dict[str, Any]:
        settings = super().resolve(settings)
        if cls.setting(settings, "lambda_d") is None:
            od = cls.setting(settings, "lambda_od")
            ratio = 10.0 if cls.setting(settings, "variant") == "i" else 1.0
            if isinstance(od, (int, float)):  # anything else is refused by __post_init__ with its own message
                settings = {**settings, "lambda_d": ratio * od}
        return settings

    def __post_init__(self):
        super().__post_init__()
        _elbo_only(self, "dip-vae")
        checks.one_of("model.variant", self.variant, ("i", "ii"))
        checks.at_least("model.lambda_od", self.lambda_od, 0)
        checks.at_least("model.lambda_d", self.lambda_d, 0)


@register
class DIPVAE(VAE):
    name = "dip-vae"
    summary = (
        "DIP-VAE (variant i or ii): the ELBO plus a penalty pulling the batch covariance of q(z) (or of the "
        "posterior means) to the identity"
    )
    bf16_safe = False  # not measured yet (benchmarks/precision.py)
    Config = DIPVAEConfig

    def make_penalty(self) -> Penalty:
        c = self.config
        return DIPPenalty(c.variant, c.lambda_od, c.lambda_d)
