"""Adversarial autoencoder (Makhzani et al. 2015, "Adversarial Autoencoders"): an autoencoder whose codes are made
to look like draws from a prior by a discriminator on codes, so that decoding prior samples generates images.

Each step has the paper's two phases, three optimizer groups run in turn by the one trainer:

    autoencoder     reconstruction phase: encoder and decoder minimise the reconstruction loss
    discriminator   regularisation phase, part 1: D tells prior samples z ~ p(z) (real) from codes E(x) (fake)
    generator       regularisation phase, part 2: the encoder (the adversarial generator) learns to fool D

The autoencoder is `Autoencoder` (any of its networks: mlp, conv, ...) and the adversarial pieces are the GANs'
(gan.py); this file adds the prior and the phases. The prior is N(0, I) by default, or a label-conditioned
mixture of one Gaussian per class (the paper's sec. 2.3, fig. 4: the discriminator also sees the one-hot label,
and each class is pushed to its own component), which makes sampling conditional: `sample --label 7`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from genzoo import checks
from genzoo.data.batches import Batch
from genzoo.data.types import ImageSplit
from genzoo.errors import GenzooError
from genzoo.models.autoencoder import AEConfig, Autoencoder
from genzoo.models.base import CONDITIONAL, SAMPLE, OptimizerGroup, StepOutput
from genzoo.models.gan import (
    DISCRIMINATOR,
    GENERATOR,
    AdversarialHealth,
    GANActivation,
    ReusesFakes,
    bce,
    binary_entropy,
    check_label_smoothing,
    check_players_adam,
    discriminator_bce,
    real_images,
)
from genzoo.models.registry import register
from genzoo.nets.gan_nets import LEAKY_SLOPE, MLPDiscriminator

AUTOENCODER = "autoencoder"

# Mixture prior: in every pair of code dimensions, component k is a Gaussian elongated along the ray at angle
# 2 pi k / K: mean MIXTURE_RADIUS on the ray, standard deviations MIXTURE_STD (along, across) - ten petals on a
# circle, as in the paper's fig. 4. With 2-d codes (the default for this prior) the label picks the digit
# reliably; with more dimensions the decoder also reads the class from where a code sits inside its petals,
# and samples of a label are less often that digit.
MIXTURE_RADIUS = 2.0
MIXTURE_STD = (0.5, 0.1)


# What the prior changes. Gaussian: 8-d codes, the regularisation phase at the GAN rate (2e-4, beta1 0.5), which
# draws cleaner digits than a faster one. Mixture: 2-d codes (the paper's fig. 4) and every phase at 1e-3: with
# the slower regularisation the code discriminator wins against the petals and the classes never settle on them.
PRIOR_DEFAULTS: dict[str, dict] = {
    "gaussian": dict(latent_dim=8, lr_d=2e-4, lr_g=2e-4, betas_d=(0.5, 0.999), betas_g=(0.5, 0.999)),
    "mixture": dict(latent_dim=2, lr_d=1e-3, lr_g=1e-3, betas_d=(0.9, 0.999), betas_g=(0.9, 0.999)),
}


@dataclass(frozen=True)
class AAEConfig(AEConfig):
    hidden: tuple[int, ...] = (512, 512)  # encoder widths; the decoder mirrors them
    latent_dim: int | None = None  # None: 8 with the Gaussian prior, 2 with the mixture
    prior: Literal["gaussian", "mixture"] = "gaussian"
    hidden_d: tuple[int, ...] = (512, 256)  # the code discriminator's widths
    activation_d: GANActivation = "leaky_relu_0.2"  # (a bare leaky_relu means this slope here)
    # Adam per phase (train.lr and train.betas do not apply); None: the prior's default (PRIOR_DEFAULTS).
    lr_ae: float = 1e-3
    lr_d: float | None = None
    lr_g: float | None = None
    betas_ae: tuple[float, float] = (0.9, 0.999)
    betas_d: tuple[float, float] | None = None
    betas_g: tuple[float, float] | None = None
    label_smoothing: float = 0.0  # real (prior) targets are 1 - label_smoothing
    activation_slopes: ClassVar[dict] = {**AEConfig.activation_slopes, "activation_d": LEAKY_SLOPE}

    @classmethod
    def resolve(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """Settings left at None take the prior's defaults (PRIOR_DEFAULTS)."""
        settings = super().resolve(settings)
        defaults = PRIOR_DEFAULTS[cls.setting(settings, "prior")]
        return {**settings, **{name: value for name, value in defaults.items() if cls.setting(settings, name) is None}}

    def __post_init__(self):
        super().__post_init__()
        checks.sizes("model.hidden_d", self.hidden_d)
        if self.prior == "mixture" and self.latent_dim % 2:
            raise GenzooError(
                f"model.latent_dim={self.latent_dim} is odd; prior=mixture places its components in "
                "pairs of code dimensions (use e.g. 2 or 8)"
            )
        check_players_adam(self, ("ae", "d", "g"))
        check_label_smoothing(self)


@register
class AdversarialAutoencoder(ReusesFakes, Autoencoder):
    name = "aae"
    summary = (
        "adversarial autoencoder: reconstruction phase, then a code discriminator against a Gaussian or "
        "label-conditioned mixture prior"
    )
    bf16_safe = True  # benchmarks/results/precision.md: FD-lenet within the seed spread at 400 steps
    Config = AAEConfig
    capabilities = Autoencoder.capabilities | {SAMPLE}
    config_capabilities: ClassVar[dict] = {CONDITIONAL: "model.prior=mixture"}
    latent_prior = "gaussian"  # per instance: None for the mixture
    optional_state = frozenset(f"health.{name}" for name in AdversarialHealth.ADDED_STATE)

    def __init__(self, config: AAEConfig):
        super().__init__(config)
        c = config
        self.mixture = c.prior == "mixture"
        if self.mixture:  # declared by the config: sample/encode/decode take labels, batches' labels feed D
            self.capabilities = type(self).capabilities | {CONDITIONAL}
            self.latent_prior = None
        self.discriminator = MLPDiscriminator(
            c.latent_dim, c.hidden_d, c.activation_d, c.num_classes if self.conditional else 0
        )
        self.health = AdversarialHealth(self.name, binary_entropy(1 - c.label_smoothing))

    # -- the phases -------------------------------------------------------------------------------------------
    def optimizer_groups(self) -> list[OptimizerGroup]:
        c = self.config
        encoder = [p for p in self.encoder.parameters() if p.requires_grad]
        autoencoder = list({id(p): p for p in [*encoder, *self.decoder.parameters()] if p.requires_grad}.values())
        return [
            OptimizerGroup(AUTOENCODER, autoencoder, c.lr_ae, tuple(c.betas_ae)),
            OptimizerGroup(DISCRIMINATOR, list(self.discriminator.parameters()), c.lr_d, tuple(c.betas_d)),
            OptimizerGroup(GENERATOR, encoder, c.lr_g, tuple(c.betas_g)),
        ]

    def prior_sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | None = None,
    ) -> torch.Tensor:
        """(n, latent_dim) draws of p(z); for the mixture, of component labels[i] (uniform classes if None)."""
        device = device or self.device
        eps = torch.randn(n, self.config.latent_dim, generator=generator, device=device)
        if not self.mixture:
            return eps
        if labels is None:
            labels = torch.randint(self.config.num_classes, (n,), generator=generator, device=device)
        along, across = eps[:, 0::2] * MIXTURE_STD[0] + MIXTURE_RADIUS, eps[:, 1::2] * MIXTURE_STD[1]  # (n, D/2)
        angle = (2 * math.pi / self.config.num_classes) * labels.to(eps.dtype)[:, None]  # (n, 1)
        cos, sin = angle.cos(), angle.sin()
        return torch.stack([along * cos - across * sin, along * sin + across * cos], dim=2).flatten(1)  # (n, D)

    def training_step(self, batch: Batch, step: int, phase: str = AUTOENCODER) -> StepOutput:
        if phase == AUTOENCODER:
            return super().training_step(batch, step)  # reconstruction: {"recon"}
        labels = self.labels_of(batch)
        if phase == DISCRIMINATOR:
            training = self.training and torch.is_grad_enabled()
            codes = self.draw_fakes(lambda: self.encode(batch.x), step, batch, labels, keep=training)  # the fakes
            prior = self.prior_sample(len(batch), labels, device=batch.x.device)
            both = None if labels is None else torch.cat([labels, labels])
            logits = self.discriminator(torch.cat([prior, codes.detach().to(prior.dtype)]), both)  # one pass
            real_logits, fake_logits = logits.split(len(batch))
            return discriminator_bce(
                real_logits,
                fake_logits,
                self.config.label_smoothing,
                self.health if training else None,
                step,
                ("d_prior", "d_code"),
            )
        if phase == GENERATOR:
            pending = self.take_fakes(step, batch)
            codes = pending.fake if pending is not None else self.encode(batch.x)
            return StepOutput(bce(self.discriminator(codes, labels), 1.0))
        raise GenzooError(f"aae has phases {AUTOENCODER!r}, {DISCRIMINATOR!r} and {GENERATOR!r}, not {phase!r}")

    # -- what it can do (labels are accepted for the mixture's conditional contract; codes do not need them) ----
    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return super().encode(x)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return super().decode(z)

    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        z = self.prior_sample(n, labels if self.mixture else None, generator)
        return torch.sigmoid(self.decoder(z)).float()

    def diagnostics(self, split: ImageSplit, batch_size: int) -> dict[str, float]:
        n = min(self.health.diversity_samples, len(split))
        labels = torch.arange(n, device=self.device) % self.config.num_classes if self.mixture else None
        samples = self.sample(n, torch.Generator(self.device).manual_seed(0), labels)
        return self.health.report(samples, real_images(split, n, self.device))
