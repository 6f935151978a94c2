"""Regularised deterministic autoencoders: the `ae` of models/autoencoder.py (same networks, same reconstruction
loss) with a term that gives its codes a usable distribution.

- `WAE` (Tolstikhin et al. 2018, "Wasserstein auto-encoders", WAE-MMD): reconstruction + lambda x MMD between the
  batch's codes, draws of the aggregate posterior q(z), and as many draws of the prior p(z) = N(0, I). The
  penalty acts on q(z) as a whole, not on each image's code (a VAE's KL pulls every q(z|x) to the prior), so
  the encoder stays deterministic and the codes of different images need not overlap; decoding prior draws
  samples the model. The MMD estimator is the one InfoVAE uses (nets/mmd.py).
- `RAE` (Ghosh et al. 2020, "From variational to deterministic autoencoders"): reconstruction + beta x |z|^2 / 2
  + lambda x a regulariser of the decoder, either the squared L2 norm of its weights (RAE-L2) or the squared
  Frobenius norm of its Jacobian d x-hat / d z at the codes (RAE-GP). Nothing makes q(z) a known distribution,
  so an RAE samples by ex-post density estimation: a Gaussian mixture fitted to the codes of training images
  (samplers.py; `genzoo sample RUN --sampler gmm`, `genzoo evaluate RUN --sampler gmm`), as Ghosh et al. do.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from genzoo import checks
from genzoo.data.batches import Batch
from genzoo.models.autoencoder import AEConfig, Autoencoder, projected_jacobian_norm
from genzoo.models.base import SAMPLE, StepOutput
from genzoo.models.registry import register
from genzoo.nets.mmd import KERNELS, WAE_SCALES, mmd2
from genzoo.nets.priors import StandardNormalPrior

# -- WAE ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WAEConfig(AEConfig):
    # Tolstikhin et al. 2018, MNIST: 8-d codes, squared-error cost, lambda = 10. Their cost is the squared error
    # times 0.05 (as we read the authors' code), so lambda = 10 there is 200 on the plain per-image squared error.
    latent_dim: int = 8
    loss: Literal["bce", "mse"] = "mse"  # c(x, y) = |x - y|^2, the paper's cost
    mmd_lambda: float = 200.0
    kernel: Literal["imq", "rbf"] = "imq"  # inverse multiquadratic (the paper's) or Gaussian (nets/mmd.py)
    kernel_scales: tuple[float, ...] = WAE_SCALES  # multiples of C = 2 D summed into one kernel

    def __post_init__(self):
        super().__post_init__()
        checks.at_least("model.mmd_lambda", self.mmd_lambda, 0)
        checks.one_of("model.kernel", self.kernel, KERNELS)
        checks.check(
            len(self.kernel_scales) > 0 and all(s > 0 for s in self.kernel_scales),
            "model.kernel_scales",
            list(self.kernel_scales),
            "a non-empty list of positive multiples of C = 2 * latent_dim, e.g. [1.0]",
        )
        if self.code_activation != "none":
            raise checks.conflict(
                "model.code_activation", self.code_activation, "none (codes are matched to N(0, I), unbounded)"
            )


@register
class WAE(Autoencoder):
    name = "wae"
    summary = "Wasserstein autoencoder (WAE-MMD): deterministic encoder, reconstruction + lambda x MMD(q(z), N(0, I))"
    bf16_safe = False  # not measured yet (benchmarks/precision.py)
    Config = WAEConfig
    capabilities = Autoencoder.capabilities | {SAMPLE}
    latent_prior = "gaussian"  # its codes are matched to N(0, I): explorers use Gaussian quantiles

    def __init__(self, config: WAEConfig):
        super().__init__(config)
        self.prior = StandardNormalPrior(config.latent_dim)

    def mmd(self, z: torch.Tensor) -> torch.Tensor:
        """MMD^2_u between the codes z (B, D) and B draws of p(z), fp32; 0 (with a graph) for a batch of one."""
        if z.shape[0] < 2:  # the unbiased estimate needs two draws of each distribution
            return z.sum() * 0
        c = self.config
        prior_draws = self.prior.sample(z.shape[0], device=z.device)  # (B, D) ~ N(0, I)
        return mmd2(z.float(), prior_draws, c.kernel, c.kernel_scales)

    def training_step(self, batch: Batch, step: int, phase: str = "loss") -> StepOutput:
        z = self.encode(batch.x)  # (B, D)
        recon = self.reconstruction_loss(self.logits(z), batch.x)
        mmd = self.mmd(z)
        loss = recon + self.config.mmd_lambda * mmd
        return StepOutput(loss, {"recon": recon.detach(), "mmd": mmd.detach()})

    def sample(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.decode(self.prior.sample(n, generator, self.device))


# -- RAE ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RAEConfig(AEConfig):
    # Ghosh et al. 2020 use 16-d codes on MNIST and the squared error; the bce default of the ae family is kept
    # (sharper digits on near-binary images: loss=mse is the paper's). The weights below are this project's,
    # chosen so each term is a few percent of the reconstruction at the start of training (tests/report).
    latent_dim: int = 16
    regularizer: Literal["l2", "gp"] = "l2"  # L2 of the decoder's weights, or its Jacobian's squared norm at z
    beta: float = 1e-2  # weight of |z|^2 / 2 per image (keeps the codes' scale from drifting)
    reg_weight: float = 1e-3  # lambda: weight of the regulariser
    projections: int = 1  # gp: random projections per image of the Jacobian-norm estimator

    def __post_init__(self):
        super().__post_init__()
        checks.one_of("model.regularizer", self.regularizer, ("l2", "gp"))
        checks.at_least("model.beta", self.beta, 0)
        checks.at_least("model.reg_weight", self.reg_weight, 0)
        checks.positive("model.projections", self.projections)


def weight_norm(module: nn.Module) -> torch.Tensor:
    """sum of squares of the module's weight matrices and kernels (biases left out, as in weight decay on layers),
    fp32 -> scalar."""
    return sum(p.float().pow(2).sum() for name, p in module.named_parameters() if not name.endswith("bias"))


def decoder_jacobian_norm(decode, z: torch.Tensor, projections: int = 1, generator=None) -> torch.Tensor:
    """Unbiased estimate of |d decode(z) / d z|_F^2 per code: E_v |J^T v|^2 = tr(J J^T) with v ~ N(0, I) over the
    image's pixels, one vector-Jacobian product per projection (the contractive autoencoder's estimator, here on
    the decoder). z (B, D) -> (B,); z is made a leaf that requires grad if it is not in a graph already."""
    if not z.requires_grad:
        z = z.detach().requires_grad_()
    return projected_jacobian_norm(z, decode(z), projections, generator)


@register
class RAE(Autoencoder):
    """Ghosh et al. 2020: an autoencoder whose decoder is kept smooth in its codes, sampled ex post."""

    name = "rae"
    summary = (
        "regularised autoencoder (RAE): reconstruction + beta |z|^2/2 + lambda x decoder L2 or gradient penalty; "
        "samples through --sampler gmm"
    )
    bf16_safe = False  # not measured yet (benchmarks/precision.py)
    Config = RAEConfig
    missing_reasons: ClassVar[dict] = {
        SAMPLE: "an RAE's codes have no prior of their own (Ghosh et al. 2020 sample by ex-post density "
        "estimation): pass --sampler gmm, or genzoo.sample(run, sampler='gmm')"
    }

    def regulariser(self, z: torch.Tensor) -> torch.Tensor:
        if self.config.regularizer == "l2":
            return weight_norm(self.decoder)
        return decoder_jacobian_norm(self.decode, z, self.config.projections).float().mean()

    def training_step(self, batch: Batch, step: int, phase: str = "loss") -> StepOutput:
        c = self.config
        # The gradient penalty differentiates the decoder in z, so it needs autograd even when the caller (the
        # test-set evaluation) runs under no_grad.
        with torch.enable_grad() if c.regularizer == "gp" else contextlib.nullcontext():
            z = self.encode(batch.x)  # (B, D)
            recon = self.reconstruction_loss(self.logits(z), batch.x)
            code_norm = 0.5 * z.float().pow(2).sum(1).mean()  # |z|^2 / 2, batch mean
            reg = self.regulariser(z)
        loss = recon + c.beta * code_norm + c.reg_weight * reg
        return StepOutput(loss, {"recon": recon.detach(), "code_norm": code_norm.detach(), c.regularizer: reg.detach()})
