"""Variational autoencoders (Kingma & Welling 2014): an amortised Gaussian posterior q(z|x), a decoder
likelihood p(x|z), a prior p(z), and a bound on log p(x) to maximise.

The family is one objective over swappable pieces:

    networks    encoder x (, label) -> q(z|x) parameters; decoder z (, label) -> likelihood parameters; MLP or conv
    posterior   DiagonalGaussian                                   (nets/distributions.py)
    prior       N(0, I), or the VampPrior                          (nets/priors.py)
    likelihood  Bernoulli, or Gaussian with a fixed or learned sigma (nets/distributions.py)
    penalty     an extra term on the aggregate posterior: MMD (InfoVAE), total correlation (beta-TCVAE,
                FactorVAE)                                         (models/vae_penalties.py)
    bound       the ELBO  E_q[log p(x|z)] - beta KL(q(z|x) || p(z))  with warm-up and free bits, or the
                k-sample importance-weighted bound of Burda et al. 2015

`VariationalModel` owns the objective and everything built on log importance weights (training, test
log-likelihood, posterior-collapse diagnostics, sampling); a subclass says how latents are inferred (`infer`)
and generated (`sample_latent`): one stochastic layer here (`VAE`), several in models/ladder.py. Each named
variant is `VAE` with one piece changed: `cvae` feeds the label to both networks, `iwae` trains on the k-sample
bound, `vamp-vae` swaps the prior (`make_prior`), and info-vae / beta-tcvae / factor-vae add a penalty
(`make_penalty`).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from genzoo import checks
from genzoo.data.batches import Batch, eval_batches
from genzoo.data.types import ImageSplit
from genzoo.errors import GenzooError
from genzoo.models.base import (
    CONDITIONAL,
    DECODE,
    ENCODE,
    LOG_LIKELIHOOD,
    RECONSTRUCT,
    SAMPLE,
    GenerativeModel,
    ModelConfig,
    OptimizerGroup,
    StepOutput,
)
from genzoo.models.registry import register
from genzoo.nets.collapse import collapse_summary
from genzoo.nets.conditioning import with_label_planes, with_labels
from genzoo.nets.conv import ConvDecoder, ConvEncoder
from genzoo.nets.distributions import DiagonalGaussian, make_likelihood
from genzoo.nets.flows import InverseAutoregressiveFlow
from genzoo.nets.mlp import DEFAULT_LEAKY_SLOPE, Activation, mlp
from genzoo.nets.priors import ClassConditionalPrior, StandardNormalPrior, VampPrior


@dataclass(frozen=True)
class VariationalConfig(ModelConfig):
    """What every VAE in the family shares: the likelihood and the bound."""

    activation: Activation = "relu"
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    sigma: float = 0.1  # standard deviation of the Gaussian likelihood, in [0, 1] pixel units (its start if learned)
    learn_sigma: bool = False  # gaussian: learn one shared sigma (Rybkin et al. 2021) instead of fixing it
    beta: float = 1.0  # weight of the KL term (beta-VAE, Higgins et al. 2017)
    kl_warmup_steps: int = 0  # the KL weight grows linearly from 0 to beta over this many steps
    free_bits: float = 0.0  # floor, in nats, on each latent dimension's batch-mean KL (Kingma et al. 2016)
    objective: Literal["elbo", "iwae"] = "elbo"  # iwae: the k-sample importance-weighted bound (Burda et al. 2015)
    samples: int = 1  # k: posterior draws per image in training (the ELBO averages them; iwae needs k > 1 to differ)
    # Capacity annealing (Burgess et al. 2018, "Understanding disentangling in beta-VAE", sec. 5): the loss
    # recon + gamma |KL - C(t)| with C(t) rising linearly from 0 to capacity_max nats over capacity_steps steps,
    # then held. None: off (the beta/warm-up bound above). Their dSprites run: gamma 1000, C to 25 nats over 100k.
    capacity_max: float | None = None
    capacity_steps: int = 100000
    gamma: float = 1000.0

    activation_slopes: ClassVar[dict] = {"activation": DEFAULT_LEAKY_SLOPE}

    def __post_init__(self):
        checks.positive("model.sigma", self.sigma)
        checks.at_least("model.beta", self.beta, 0)
        checks.at_least("model.kl_warmup_steps", self.kl_warmup_steps, 0)
        checks.at_least("model.free_bits", self.free_bits, 0, "nats per latent dimension")
        checks.at_least("model.samples", self.samples, 1)
        if self.free_bits and self.objective == "iwae":
            raise checks.conflict(
                "model.free_bits", self.free_bits, "objective=elbo: the iwae bound has no separate KL term to floor"
            )
        checks.positive("model.capacity_steps", self.capacity_steps)
        checks.at_least("model.gamma", self.gamma, 0)
        if self.capacity_max is not None:
            checks.at_least("model.capacity_max", self.capacity_max, 0, "nats")
            for key, value, off in (
                ("objective", self.objective, "elbo"),
                ("beta", self.beta, 1.0),
                ("free_bits", self.free_bits, 0.0),
                ("kl_warmup_steps", self.kl_warmup_steps, 0),
            ):
                if value != off:
                    raise checks.conflict(
                        f"model.{key}",
                        value,
                        f"{key}={off} with capacity_max (gamma and the capacity target replace it)",
                    )
        if self.learn_sigma and self.likelihood != "gaussian":
            raise checks.conflict(
                "model.learn_sigma", self.learn_sigma, "likelihood=gaussian (a Bernoulli has no sigma)"
            )


@dataclass(frozen=True)
class VAEConfig(VariationalConfig):
    network: Literal["mlp", "conv"] = "mlp"
    hidden: tuple[int, ...] = (400,)  # mlp: encoder widths; the decoder mirrors them (784-400-20 is the classic VAE)
    channels: tuple[int, ...] = (32, 64)  # conv: channels of the stride-2 stages (nets/conv.py)
    latent_dim: int = 20
    # Inverse autoregressive flow on the posterior (Kingma et al. 2016, nets/flows.py): z_0 ~ q(z_0|x) goes through
    # flow_steps MADE steps of width flow_hidden, each reading a context h (flow_hidden wide) from the encoder.
    # The KL then has no closed form and is estimated by Monte Carlo, log q(z_T|x) - log p(z_T).
    flow: Literal["none", "iaf"] = "none"
    flow_steps: int = 2
    flow_hidden: int = 64

    def __post_init__(self):
        super().__post_init__()
        checks.positive("model.latent_dim", self.latent_dim)
        checks.sizes("model.hidden", self.hidden)
        checks.sizes("model.channels", self.channels, non_empty=True)
        if self.flow != "none":
            checks.positive("model.flow_steps", self.flow_steps)
            checks.positive("model.flow_hidden", self.flow_hidden)
            if self.free_bits:
                raise checks.conflict(
                    "model.free_bits", self.free_bits, "flow=none: a flow posterior's KL has no per-dimension terms"
                )


@dataclass
class Inference:
    """Draws from q(latents | x) and their log-densities, k per image (sample s of image b at [s, b])."""

    z: torch.Tensor  # (k, B, D) the latents the decoder reads (a hierarchy's bottom layer)
    log_q: torch.Tensor  # (k, B) log q(all latent layers | x)
    log_p: torch.Tensor  # (k, B) log p(all latent layers)
    kl: torch.Tensor | None  # (B, D_all) closed-form KL per latent dimension (mean over the k draws); None: none
    posterior: DiagonalGaussian | None = None  # q(z|x) (B, D) of a single-layer model, for penalties


class Penalty(nn.Module, abc.ABC):
    """An extra term on the aggregate posterior q(z), added to a VAE's loss (models/vae_penalties.py).

    `forward(q, z)` sees the batch's posterior q(z|x) (B, D) and one draw z (B, D) per image, and returns the
    weighted term and the terms to log. A penalty that trains parameters of its own (FactorVAE's discriminator)
    names their optimizer group in `group`; the trainer then alternates that group with the model's, calling
    `group_step` for it.
    """

    group: ClassVar[str | None] = None

    @abc.abstractmethod
    def forward(self, q: DiagonalGaussian, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(weighted term added to the loss, {name: scalar to log})."""

    def optimizer_group(self) -> OptimizerGroup:
        """The group of this penalty's own parameters (only asked of a penalty with a `group`)."""
        raise NotImplementedError(f"{type(self).__name__} has no optimizer group")

    def group_step(self, z: torch.Tensor) -> StepOutput:
        """The loss of this penalty's own group, on draws z (B, D) taken without gradient."""
        raise NotImplementedError(f"{type(self).__name__} has no optimizer group")


class VariationalModel(GenerativeModel):
    """The objective of every VAE in the zoo. Subclasses build `likelihood`, `prior` and `penalty`, and
    implement `infer`, `decoder_output`, `sample_latent`, `encode` and `decoder_latent`. A subclass that declares
    CONDITIONAL (a CVAE) gets the batches' labels in its networks and prior."""

    config: VariationalConfig

    def __init__(self, config: VariationalConfig):
        super().__init__(config)
        self.penalty: Penalty | None = None  # a subclass may set one: added to the loss, maybe its own group

    # -- the pieces a subclass provides ------------------------------------------------------------------------
    @abc.abstractmethod
    def infer(
        self, x: torch.Tensor, labels: torch.Tensor | None, k: int, generator: torch.Generator | None = None
    ) -> Inference:
        """k posterior draws for images x (B, C, H, W) and what the bound needs about them (see Inference)."""

    @abc.abstractmethod
    def decoder_output(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(N, D) decoder latents -> (N, C, H, W) likelihood parameters (logits for a Bernoulli)."""

    @abc.abstractmethod
    def sample_latent(self, n: int, generator: torch.Generator | None, labels: torch.Tensor | None) -> torch.Tensor:
        """(n, D) decoder latents drawn from the prior (ancestrally, for a hierarchy)."""

    def decoder_latent(self, code: torch.Tensor) -> torch.Tensor:
        """The part of an `encode` code the decoder reads (all of it for a single stochastic layer)."""
        return code

    @property
    def latent_layers(self) -> tuple[int, ...]:
        """Sizes of the stochastic layers, bottom first; `encode` codes are their concatenation."""
        return (self.latent_dim,)

    # -- the bound ---------------------------------------------------------------------------------------------
    def capacity(self, step: int) -> float:
        """C(t) = capacity_max * min(1, t / capacity_steps) nats at step t (Burgess et al. 2018): a pure function
        of the step, so a resumed run anneals as the uninterrupted one."""
        c = self.config
        return c.capacity_max * min(1.0, step / c.capacity_steps)

    def kl_weight(self, step: int) -> float:
        warmup = self.config.kl_warmup_steps
        return self.config.beta * (min(1.0, step / warmup) if warmup else 1.0)

    def reconstruction_nll(self, z: torch.Tensor, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """-log p(x | z) for draws z (k, B, D) of images x (B, C, H, W) -> (k, B). x is broadcast over the k
        draws, not copied; the decoder sees the (k * B, D) rows as one batch."""
        k, batch = z.shape[:2]
        out = self.decoder_output(z.reshape(k * batch, -1), None if labels is None else labels.repeat(k))
        return self.likelihood.nll(out.view(k, batch, *out.shape[1:]), x, batch_dims=2)

    def training_step(self, batch: Batch, step: int, phase: str = "loss") -> StepOutput:
        if phase != "loss":  # the optimizer group of a learned penalty (FactorVAE's discriminator)
            with torch.no_grad():
                z = self.infer(batch.x, self.labels_of(batch), 1).z[0]
            return self.penalty.group_step(z)
        c, k, labels = self.config, self.config.samples, self.labels_of(batch)
        inf = self.infer(batch.x, labels, k)
        recon = self.reconstruction_nll(inf.z, batch.x, labels)  # (k, B) nats per image
        log_ratio = inf.log_p - inf.log_q  # (k, B): log p(z) - log q(z|x), a one-draw estimate of -KL
        beta = self.kl_weight(step)
        if c.objective == "iwae":
            # -log (1/k) sum_i w_i with log w_i = log p(x|z_i) + beta (log p(z_i) - log q(z_i|x)): the k-sample
            # bound of Burda et al. 2015 (beta < 1 during warm-up tempers the prior ratio inside every weight).
            log_w = -recon + beta * log_ratio
            loss = -(torch.logsumexp(log_w, 0) - math.log(k)).mean()
            kl = -log_ratio.mean()
            niwae = -(torch.logsumexp(-recon + log_ratio, 0) - math.log(k)).mean()
            terms = {"recon": recon.mean(), "kl": kl, "nelbo": recon.mean() + kl, "niwae": niwae}
        else:
            if inf.kl is not None:
                kl_dims = inf.kl.mean(0)  # (D,) batch-mean KL per latent dimension, closed form
                kl = kl_dims.sum()
                # Free bits (Kingma et al. 2016, "Improved variational inference with inverse autoregressive
                # flow"): sum_d max(lambda, E_batch KL_d). A dimension under its allowance gets no gradient
                # pushing it to the prior, which fights posterior collapse.
                kl_loss = kl_dims.clamp(min=c.free_bits).sum() if c.free_bits else kl
            else:
                kl = kl_loss = -log_ratio.mean()  # Monte Carlo KL (a mixture prior has no closed form)
            terms = {"recon": recon.mean(), "kl": kl, "nelbo": recon.mean() + kl}
            if c.capacity_max is None:
                loss = recon.mean() + beta * kl_loss
            else:
                # Burgess et al. 2018, eq. 8: the batch-mean KL is pulled towards the target C(t) from either side
                capacity = self.capacity(step)
                loss = recon.mean() + c.gamma * (kl - capacity).abs()
                terms["capacity"] = torch.tensor(capacity, device=kl.device)
        if self.penalty is not None:
            penalty, penalty_terms = self.penalty(inf.posterior, inf.z[0])
            loss = loss + penalty
            terms.update(penalty_terms)
        return StepOutput(loss, {key: value.detach() for key, value in terms.items()})

    def log_weights(
        self, x: torch.Tensor, k: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        self._check_labels(labels)
        inf = self.infer(x, labels, k, generator)
        return -self.reconstruction_nll(inf.z, x, labels) + inf.log_p - inf.log_q  # (k, B)

    # -- learned penalties get their own optimizer group -------------------------------------------------------
    def optimizer_groups(self) -> list[OptimizerGroup]:
        if self.penalty is None or self.penalty.group is None:
            return super().optimizer_groups()
        own = {id(p) for p in self.penalty.parameters()}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in own]
        return [OptimizerGroup("loss", rest), self.penalty.optimizer_group()]

    # -- posterior-collapse diagnostics ------------------------------------------------------------------------
    def kl_per_dim(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """(B, D_all) KL per latent dimension: closed form, or for a prior without one the one-draw Monte Carlo
        estimate log q(z_d|x) - log p(z_d) against the prior's marginal in that dimension."""
        inf = self.infer(x, labels, 1)
        if inf.kl is not None:
            return inf.kl
        z = inf.z[0]
        return inf.posterior.log_prob_per_dim(z) - self.prior.log_prob_per_dim(z, labels)

    @torch.no_grad()
    def diagnostics(self, split: ImageSplit, batch_size: int) -> dict[str, float | list[float]]:
        """KL per latent dimension and active units (Burda et al. 2015: Cov_x(E_q[z_d]) > 0.01) on `split`."""
        means, kls = [], []
        for batch in eval_batches(split, batch_size, self.device):
            labels = self.labels_of(batch)
            means.append(self.encode(batch.x, labels).float())
            kls.append(self.kl_per_dim(batch.x, labels).float())
        return collapse_summary(torch.cat(means), torch.cat(kls), self.latent_layers)

    # -- verbs -------------------------------------------------------------------------------------------------
    def _check_labels(self, labels: torch.Tensor | None) -> None:
        if self.conditional and labels is None:
            raise GenzooError(f"model {self.name!r} is conditional: pass labels (B,) with the images")

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self._check_labels(labels)
        return self.likelihood.mean(self.decoder_output(self.decoder_latent(z), labels))

    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, labels), labels)

    def sample(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.conditional and labels is None:  # every class in turn
            labels = torch.arange(n, device=self.device) % self.config.num_classes
        return self.likelihood.mean(self.decoder_output(self.sample_latent(n, generator, labels), labels))


# -- one stochastic layer -----------------------------------------------------------------------------------------


def flow_context(c: VAEConfig) -> int:
    """Width of the context h the encoder emits for a flow posterior (0 without one)."""
    return c.flow_hidden if c.flow != "none" else 0


def build_networks(c: VAEConfig, label_features: int) -> tuple[nn.Module, nn.Module]:
    """(encoder -> (B, 2D [+ H]) posterior mean and log-variance [and a flow's context h], decoder
    (B, D [+ labels]) -> likelihood parameters). A conditional model's encoder reads the one-hot label as extra
    inputs (mlp) or extra constant channels (conv), and its decoder reads [z, one-hot]."""
    pixels = math.prod(c.image_shape)
    out = 2 * c.latent_dim + flow_context(c)
    if c.network == "mlp":
        encoder = mlp([pixels + label_features, *c.hidden, out], c.activation)
        decoder = mlp([c.latent_dim + label_features, *c.hidden[::-1], pixels], c.activation)
        return encoder, decoder
    channels, height, width = c.image_shape
    encoder = ConvEncoder((channels + label_features, height, width), c.channels, out, c.activation)
    decoder = ConvDecoder(c.latent_dim + label_features, c.image_shape, c.channels, c.activation)
    return encoder, decoder


@register
class VAE(VariationalModel):
    name = "vae"
    summary = (
        "VAE over an MLP or conv network: Bernoulli or Gaussian (fixed/learned sigma) decoder, KL weight beta, "
        "warm-up, free bits"
    )
    bf16_safe = True  # benchmarks/results/precision.md: the same test ELBO in bf16 (and for its variants below)
    Config = VAEConfig
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE, LOG_LIKELIHOOD})
    latent_prior = "gaussian"  # p(z) = N(0, I): explorers use Gaussian quantiles and spherical paths

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        self.label_features = config.num_classes if self.conditional else 0
        self.encoder, self.decoder = build_networks(config, self.label_features)
        self.likelihood = make_likelihood(config.likelihood, config.sigma, config.learn_sigma)
        self.prior = self.make_prior()
        self.penalty = self.make_penalty()
        self.flow = None
        if config.flow == "iaf":
            if self.penalty is not None:  # its estimators score draws under the Gaussian q(z|x), not q(z_T|x)
                raise checks.conflict("model.flow", config.flow, f"flow=none for {self.name} (its penalty)")
            self.flow = InverseAutoregressiveFlow(
                config.latent_dim, config.flow_steps, config.flow_hidden, flow_context(config)
            )

    def make_prior(self) -> nn.Module:
        return StandardNormalPrior(self.config.latent_dim)

    def make_penalty(self) -> Penalty | None:
        return None

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encoder_output(self, x: torch.Tensor, labels: torch.Tensor | None) -> tuple[DiagonalGaussian, torch.Tensor]:
        """(q(z_0|x) (B, D), the flow's context h (B, H), H = 0 without a flow) for images (B, C, H, W)."""
        if self.config.network == "mlp":
            h = with_labels(x.flatten(1), labels, self.label_features)  # (B, C*H*W [+ classes])
        else:
            h = with_label_planes(x, labels, self.label_features)  # (B, C [+ classes], H, W)
        out = self.encoder(h).float()
        d = 2 * self.config.latent_dim
        return DiagonalGaussian.from_params(out[:, :d]), out[:, d:]

    def posterior(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> DiagonalGaussian:
        """q(z|x) (B, D) for images (B, C, H, W) (with a flow: the base q(z_0|x)); a conditional model's encoder
        also reads the label."""
        return self.encoder_output(x, labels)[0]

    def decoder_output(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        z = with_labels(z, labels, self.label_features)  # (N, D [+ classes])
        return self.decoder(z).view(-1, *self.config.image_shape)  # (N, D) -> (N, C, H, W)

    def infer(
        self, x: torch.Tensor, labels: torch.Tensor | None, k: int, generator: torch.Generator | None = None
    ) -> Inference:
        q, context = self.encoder_output(x, labels)
        z = q.sample(generator, n=k)  # (k, B, D)
        if self.flow is None:
            return Inference(z, q.log_prob(z), self.prior.log_prob(z, labels), self.prior.kl_per_dim(q, labels), q)
        # IAF: log q(z_T|x) = log q(z_0|x) - sum_t log|det_t| (change of variables); no closed-form KL (None), so
        # the bound's KL is the Monte Carlo log q(z_T|x) - log p(z_T) and log_weights are exact importance weights.
        z_t, log_det = self.flow(z, context)
        return Inference(z_t, q.log_prob(z) - log_det, self.prior.log_prob(z_t, labels), None, q)

    def sample_latent(self, n: int, generator: torch.Generator | None, labels: torch.Tensor | None) -> torch.Tensor:
        return self.prior.sample(n, generator, self.device, labels)  # z ~ p(z), or p(z | y)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The posterior mean; with a flow, that mean carried through the flow (the code the decoder reads: the
        decoder never sees z_0). It is a deterministic code, not the mode of q(z_T|x), which has no closed form."""
        self._check_labels(labels)
        q, context = self.encoder_output(x, labels)
        if self.flow is None:
            return q.mode()
        return self.flow(q.mode(), context)[0]

    def kl_per_dim(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Without a flow: the family's (closed form or Monte Carlo). With a flow, KL(q(z_0|x) || p(z)) per
        dimension of the base Gaussian, before the flow: the flow mixes coordinates, so q(z_T|x) has no
        per-dimension KL. These figures sum to the base posterior's KL, not to the bound's KL term (whose Monte
        Carlo estimate, log q(z_T|x) - log p(z_T), is logged as `kl` during training); a dimension at 0 here is
        one whose z_0 the encoder leaves at the prior, though the flow's context may still move z_T with x.
        Active units (`diagnostics`) are computed on `encode`, the codes the decoder reads."""
        if self.flow is None:
            return super().kl_per_dim(x, labels)
        q = self.posterior(x, labels)
        kl = self.prior.kl_per_dim(q, labels)
        if kl is not None:
            return kl
        z = q.sample()  # (B, D) one draw of z_0: Monte Carlo per dimension against the prior's marginals
        return q.log_prob_per_dim(z) - self.prior.log_prob_per_dim(z, labels)


@register
class CVAE(VAE):
    """Conditional VAE (Sohn et al. 2015): q(z|x, y), p(x|z, y) and a learned prior p(z|y); sampling picks the
    class. The per-class prior matters: with N(0, I) for every class, the class information the encoder leaves
    in z made a 10-epoch binarized-MNIST model draw the asked-for digit 59% of the time; with p(z|y), 81% (judged
    by the shipped digit classifier of evaluate/features.py, 1,000 samples)."""

    name = "cvae"
    summary = "conditional VAE: the label feeds encoder, decoder and prior; sample a chosen digit with --label"
    capabilities = VAE.capabilities | {CONDITIONAL}  # networks and prior read the label
    latent_prior = "conditional"  # N(m_y, s_y^2) per class, not N(0, I)

    def make_prior(self) -> nn.Module:
        return ClassConditionalPrior(self.config.latent_dim, self.config.num_classes)


@dataclass(frozen=True)
class IWAEConfig(VAEConfig):
    objective: Literal["elbo", "iwae"] = "iwae"
    samples: int = 5


@register
class IWAE(VAE):
    """Importance-weighted autoencoder (Burda et al. 2015): the VAE trained on the k-sample bound
    log (1/k) sum_i p(x, z_i) / q(z_i|x), tighter than the ELBO for k > 1."""

    name = "iwae"
    summary = "importance-weighted autoencoder: the VAE trained on the k-sample bound (model.samples = k)"
    Config = IWAEConfig


@dataclass(frozen=True)
class VampVAEConfig(VAEConfig):
    pseudo_inputs: int = 500  # K mixture components (Tomczak & Welling 2018 use 500 on MNIST)

    def __post_init__(self):
        super().__post_init__()
        checks.positive("model.pseudo_inputs", self.pseudo_inputs)
        if self.free_bits:
            raise checks.conflict(
                "model.free_bits",
                self.free_bits,
                "a factorised prior; the VampPrior's KL has no per-dimension closed form",
            )


@register
class VampVAE(VAE):
    name = "vamp-vae"
    summary = "VAE with a VampPrior: p(z) is a mixture of the posteriors of K learned pseudo-inputs"
    Config = VampVAEConfig
    latent_prior = "mixture"  # not N(0, I): explorers take axis ranges from the test codes

    def make_prior(self) -> nn.Module:
        c = self.config
        return VampPrior(c.latent_dim, c.image_shape, c.pseudo_inputs, self.posterior)
