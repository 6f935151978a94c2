"""VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity metric"): a VAE whose
decoder doubles as a GAN's generator, and whose reconstruction error is measured in the feature space of the
GAN's discriminator instead of pixel by pixel.

    encoder        x (B, C, H, W) -> q(z|x) = N(mu, sigma^2) (B, D)                      ConvEncoder (nets/conv.py)
    decoder        z (B, D) -> image logits (B, C, H, W); sigmoid gives the image         DCGenerator (nets/gan_nets.py)
    discriminator  image -> its layer-l features Dis_l (B, F) -> one logit (B,)          DCDiscriminator, split

The reconstruction term is the paper's L_llike^Dis_l (sec. 2.2): a Gaussian with identity covariance on the
discriminator's features, -log N(Dis_l(x) | Dis_l(x~), I) = 1/2 ||Dis_l(x) - Dis_l(x~)||^2 + const per image,
x~ = Dec(z), z ~ q(z|x). With L_prior = KL(q(z|x) || N(0, I)) and the GAN loss over real images, reconstructions
and decoded prior draws x_p = Dec(z_p), z_p ~ N(0, I), each player minimises its own loss (the paper's Algorithm 1):

    encoder        L_prior + L_llike
    decoder        gamma L_llike - L_GAN       (here the non-saturating form: BCE of D on x~ and x_p against "real")
    discriminator  L_GAN's BCE: x real, x~ and x_p fake

Three optimizer groups, stepped in turn at every step by the one trainer (`phases`): discriminator, decoder,
encoder. The trainer back-propagates each phase's loss into its own group only; the discriminator's loss also
detaches its fakes, so it gives the encoder and decoder no gradient at all. The decoder phase reuses the fakes the
discriminator phase drew (ReusesFakes, as the GANs do): one decoder pass per step for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from genzoo import checks
from genzoo.data.batches import Batch
from genzoo.data.types import ImageSplit
from genzoo.errors import GenzooError
from genzoo.models.base import (
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
from genzoo.models.gan import (
    DISCRIMINATOR,
    AdversarialHealth,
    ReusesFakes,
    bce,
    binary_entropy,
    check_label_smoothing,
    check_players_adam,
    real_images,
)
from genzoo.models.registry import register
from genzoo.nets.conv import ConvEncoder
from genzoo.nets.distributions import DiagonalGaussian
from genzoo.nets.gan_nets import DCDiscriminator, DCGenerator, conv_layout

ENCODER, DECODER = "encoder", "decoder"


@dataclass(frozen=True)
class VAEGANConfig(ModelConfig):
    latent_dim: int = 16
    channels: tuple[int, ...] = (32, 64)  # the encoder's stride-2 stages (nets/conv.py)
    width_g: int = 32  # the decoder's DCGAN width: 28x28 goes (2w, 7, 7) -> (w, 14, 14) -> (C, 28, 28)
    width_d: int = 32  # the discriminator's: (C, 28, 28) -> (w, 14, 14) -> (2w, 7, 7) = Dis_l -> logit
    # Per-image normalisation in D (or none): its features must not depend on what else is in the batch, since
    # Dis_l(x) and Dis_l(x~) are compared image by image (batch norm would mix real and reconstructed statistics).
    norm_d: Literal["layer", "none"] = "layer"
    # gamma weighs the feature reconstruction against the GAN loss in the decoder's loss (Larsen et al. 2016,
    # sec. 2.3). Dis_l has 2 * width_d * 49 features at 28x28, so L_llike is hundreds of nats early on; 0.05
    # keeps the GAN term (a BCE of order 1) able to sharpen the decoder (chosen on short MNIST runs).
    gamma: float = 0.05
    # Adam per player (train.lr and train.betas do not apply); DCGAN's 2e-4, beta1 0.5 (Radford et al. 2016)
    lr_enc: float = 2e-4
    lr_dec: float = 2e-4
    lr_d: float = 2e-4
    betas_enc: tuple[float, float] = (0.5, 0.999)
    betas_dec: tuple[float, float] = (0.5, 0.999)
    betas_d: tuple[float, float] = (0.5, 0.999)
    label_smoothing: float = 0.0  # real targets 1 - label_smoothing

    def __post_init__(self):
        checks.positive("model.latent_dim", self.latent_dim)
        checks.sizes("model.channels", self.channels, non_empty=True)
        checks.positive("model.width_g", self.width_g)
        checks.positive("model.width_d", self.width_d)
        checks.at_least("model.gamma", self.gamma, 0)
        check_players_adam(self, ("enc", "dec", "d"))
        check_label_smoothing(self)


@register
class VAEGAN(ReusesFakes, GenerativeModel):
    name = "vae-gan"
    summary = (
        "VAE-GAN: the decoder doubles as a GAN generator; reconstruction measured on the discriminator's features; "
        "encoder, decoder and discriminator phases"
    )
    Config = VAEGANConfig
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})
    latent_prior = "gaussian"  # p(z) = N(0, I)
    missing_reasons: ClassVar[dict] = {
        LOG_LIKELIHOOD: "a VAE-GAN's feature-space likelihood is not a density on pixels; use vae or iwae for --nll"
    }
    optional_state = frozenset(f"health.{name}" for name in AdversarialHealth.ADDED_STATE)

    def __init__(self, config: VAEGANConfig):
        super().__init__(config)
        c = config
        _, height, width = c.image_shape
        if height != width:
            raise GenzooError(f"vae-gan needs square images; got {height}x{width}")
        conv_layout(height)  # one line if the side does not fit the DCGAN layout
        self.encoder = ConvEncoder(c.image_shape, c.channels, 2 * c.latent_dim, "leaky_relu_0.2")
        self.decoder = DCGenerator(c.latent_dim, c.image_shape, c.width_g)
        self.discriminator = DCDiscriminator(c.image_shape, c.width_d, c.norm_d)
        self.health = AdversarialHealth(self.name, binary_entropy(1 - c.label_smoothing))

    # -- the players ------------------------------------------------------------------------------------------
    def optimizer_groups(self) -> list[OptimizerGroup]:
        c = self.config
        return [
            OptimizerGroup(DISCRIMINATOR, list(self.discriminator.parameters()), c.lr_d, tuple(c.betas_d)),
            OptimizerGroup(DECODER, list(self.decoder.parameters()), c.lr_dec, tuple(c.betas_dec)),
            OptimizerGroup(ENCODER, list(self.encoder.parameters()), c.lr_enc, tuple(c.betas_enc)),
        ]

    def posterior(self, x: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian.from_params(self.encoder(x).float())  # (B, 2D) -> q(z|x) (B, D)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) images -> (Dis_l (B, F): the last hidden layer's activations, flattened; logits (B,))."""
        hidden = self.discriminator.net[:-1](x)  # (B, 2 w_d, 7, 7) at 28x28: every layer but the logit's
        return hidden.flatten(1), self.discriminator.net[-1](hidden).flatten()

    def feature_nll(self, real: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        """L_llike^Dis_l per image, batch mean: 1/2 ||Dis_l(x) - Dis_l(x~)||^2 (the Gaussian's constant dropped)."""
        return 0.5 * (real.float() - recon.float()).pow(2).sum(1).mean()

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)

    def fakes(self, x: torch.Tensor) -> torch.Tensor:
        """(2B, C, H, W): reconstructions x~ = Dec(z), z ~ q(z|x) (the draw detached: no path to the encoder),
        then decoded prior draws x_p = Dec(z_p), in one decoder pass."""
        with torch.no_grad():
            z = self.posterior(x).sample()
        both = torch.cat([z, self.prior_sample(len(x)).to(z.dtype)])
        return torch.sigmoid(self.decoder(both))

    def training_step(self, batch: Batch, step: int, phase: str = DISCRIMINATOR) -> StepOutput:
        x, n = batch.x, len(batch)
        if phase == DISCRIMINATOR:
            training = self.training and torch.is_grad_enabled()
            fakes = self.draw_fakes(lambda: self.fakes(x), step, batch, None, keep=training)
            _, logits = self.features_and_logits(torch.cat([x, fakes.detach().to(x.dtype)]))  # one pass (3B)
            real, recon, prior = logits.split(n)
            loss = bce(real, 1.0 - self.config.label_smoothing) + bce(recon, 0.0) + bce(prior, 0.0)
            if training:
                self.health.observe(loss, step)
            beliefs = {  # D's mean belief that each kind is real
                "d_real": torch.sigmoid(real.detach().float()).mean(),
                "d_recon": torch.sigmoid(recon.detach().float()).mean(),
                "d_prior": torch.sigmoid(prior.detach().float()).mean(),
            }
            return StepOutput(loss, beliefs)
        if phase == DECODER:
            pending = self.take_fakes(step, batch)
            fakes = pending.fake if pending is not None else self.fakes(x)
            features, logits = self.features_and_logits(torch.cat([x, fakes.to(x.dtype)]))
            real_features = features[:n].detach()
            llike = self.feature_nll(real_features, features[n : 2 * n])
            gan = bce(logits[n:], 1.0)  # non-saturating: -log D(x~) and -log D(x_p), mean over the 2B fakes
            return StepOutput(self.config.gamma * llike + gan, {"feature_recon": llike.detach(), "g_gan": gan.detach()})
        if phase == ENCODER:
            q = self.posterior(x)
            recon = torch.sigmoid(self.decoder(q.sample()))
            features, _ = self.features_and_logits(torch.cat([x, recon.to(x.dtype)]))
            llike = self.feature_nll(features[:n].detach(), features[n:])
            kl = q.kl().sum(1).mean()  # L_prior: KL(q(z|x) || N(0, I)), closed form, nats per image
            mse = (recon.detach().float() - x.float()).pow(2).mean()  # pixel MSE, logged only
            return StepOutput(kl + llike, {"kl": kl.detach(), "feature_recon": llike.detach(), "recon_mse": mse})
        raise GenzooError(f"vae-gan has phases {DISCRIMINATOR!r}, {DECODER!r} and {ENCODER!r}, not {phase!r}")

    # -- what it can do ---------------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x).mode()  # (B, D) posterior means

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z)).float()  # (B, C, H, W) in [0, 1]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.decode(self.prior_sample(n, generator))  # z ~ N(0, I) through the decoder

    def diagnostics(self, split: ImageSplit, batch_size: int) -> dict[str, float]:
        """Sample diversity against real test images and the discriminator's longest winning streak."""
        n = min(self.health.diversity_samples, len(split))
        samples = self.sample(n, torch.Generator(self.device).manual_seed(0))
        return self.health.report(samples, real_images(split, n, self.device))
