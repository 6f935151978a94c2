"""VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity metric"): a VAE whose
decoder doubles as a GAN's generator, and whose reconstruction error is measured in the feature space of the
GAN's discriminator instead of pixel by pixel.

    encoder        x (B, C, H, W) -> q(z|x) = N(mu, sigma^2) (B, D)                  ConvEncoder (nets/conv.py)
    decoder        z (B, D) -> image logits (B, C, H, W); sigmoid gives the image     ConvDecoder (nets/conv.py)
    discriminator  image -> its last hidden layer Dis_l (B, F) -> one logit (B,)     DCDiscriminator (nets/gan_nets.py)

Terms (the paper's sec. 2, per image, averaged over the batch):

    L_prior  = KL(q(z|x) || N(0, I))
    L_llike  = -log N(Dis_l(x) | Dis_l(x~), I) = 1/2 ||Dis_l(x) - Dis_l(x~)||^2 + const,  x~ = Dec(z), z ~ q(z|x)
    L_GAN    = BCE of D on x (real), on x~ and on x_p = Dec(z_p), z_p ~ N(0, I) (fake)

The paper's Algorithm 1 steps three players: the encoder on L_prior + L_llike, the decoder on
gamma L_llike - L_GAN, the discriminator on L_GAN. Here the encoder and decoder are one optimizer group
("autoencoder") on

    L_prior + L_llike + pixel_weight L_pixel + adversarial_weight L_GAN^gen

where L_GAN^gen is the non-saturating generator loss on x~ and x_p, and the x~ it sees is decoded from a
*detached* draw z: no GAN gradient reaches the encoder. The encoder's gradient is then exactly the paper's,
and the decoder's is the paper's divided by gamma with adversarial_weight = 1/gamma (Adam's step does not
depend on a constant scale of the gradient). One group also lets the contract's one-group-at-a-time checks
apply unchanged. L_pixel (Bernoulli pixel likelihood, nats) is not in the paper; with pixel_weight = 0 the model
is the paper's, and a small weight anchors the reconstructions while the discriminator's features are still
uninformative early in training (measured: see the `pixel_weight` comment).

The discriminator normalises each image on its own (GroupNorm with one group), never over the batch: Dis_l(x)
and Dis_l(x~) are compared image by image. The discriminator phase draws the fakes (x~ from the detached z, and
x_p) in one decoder pass and keeps their graph; the autoencoder phase of the same step reuses them for
L_GAN^gen (ReusesFakes, as the GANs do) and decodes z ~ q(z|x) once more, with gradients, for L_llike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

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
    discriminator_bce,
    real_images,
)
from genzoo.models.registry import register
from genzoo.nets.conv import ConvDecoder, ConvEncoder
from genzoo.nets.distributions import DiagonalGaussian, pixel_reconstruction_loss
from genzoo.nets.gan_nets import DCDiscriminator, conv_layout

AUTOENCODER = "autoencoder"


@dataclass(frozen=True)
class VAEGANConfig(ModelConfig):
    latent_dim: int = 16
    channels: tuple[int, ...] = (32, 64)  # the encoder's stride-2 stages, mirrored by the decoder (nets/conv.py)
    activation: str = "leaky_relu_0.2"
    width_d: int = 32  # the discriminator's: (C, 28, 28) -> (w, 14, 14) -> (2w, 7, 7) = Dis_l -> logit
    # Weight of L_llike: the paper's identity covariance on Dis_l is a choice of scale, and with F = 2 w_d 49
    # features L_llike is hundreds of nats, which outweighs L_prior and leaves holes in q(z) that prior draws fall in.
    feature_weight: float = 0.1
    # Weight of the generator's GAN loss in the autoencoder's loss: 1/gamma of Larsen et al. 2016 (sec. 2.3).
    adversarial_weight: float = 1.0
    # Weight of the pixel likelihood (Bernoulli, nats per image); 0 gives the paper's model. On MNIST it keeps the
    # decoder a VAE's while the discriminator's features are still uninformative: one-epoch runs with 0.1 drew
    # speckled fragments, as did the feature term alone (README, vae-gan).
    pixel_weight: float = 1.0
    # Adam for both groups (train.lr and train.betas do not apply): DCGAN's beta1 0.5 (Radford et al. 2016) for both,
    # its 2e-4 for D, the VAEs' 1e-3 for the autoencoder. With 2e-4 there (one MNIST epoch, otherwise the defaults),
    # D won outright (D(fake) 0.04), pixel loss 116 nats; with 1e-3, D(fake) 0.31, pixel loss 91, digit-like samples.
    lr_ae: float = 1e-3
    lr_d: float = 2e-4
    betas_ae: tuple[float, float] = (0.5, 0.999)
    betas_d: tuple[float, float] = (0.5, 0.999)
    label_smoothing: float = 0.0  # real targets 1 - label_smoothing

    def __post_init__(self):
        checks.positive("model.latent_dim", self.latent_dim)
        checks.sizes("model.channels", self.channels, non_empty=True)
        checks.positive("model.width_d", self.width_d)
        checks.at_least("model.feature_weight", self.feature_weight, 0)
        checks.at_least("model.adversarial_weight", self.adversarial_weight, 0)
        checks.at_least("model.pixel_weight", self.pixel_weight, 0)
        check_players_adam(self, ("ae", "d"))
        check_label_smoothing(self)


@register
class VAEGAN(ReusesFakes, GenerativeModel):
    name = "vae-gan"
    summary = (
        "VAE-GAN: a VAE whose decoder is also a GAN generator, its reconstruction measured on the discriminator's "
        "features (Larsen et al. 2016)"
    )
    Config = VAEGANConfig
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})
    latent_prior = "gaussian"  # p(z) = N(0, I)
    missing_reasons: ClassVar[dict] = {
        LOG_LIKELIHOOD: "a VAE-GAN's likelihood lives in the discriminator's feature space, not on pixels; "
        "use vae or iwae for --nll"
    }
    optional_state = frozenset(f"health.{name}" for name in AdversarialHealth.ADDED_STATE)

    def __init__(self, config: VAEGANConfig):
        super().__init__(config)
        c = config
        _, height, width = c.image_shape
        if height != width:
            raise GenzooError(f"vae-gan needs square images; got {height}x{width}")
        conv_layout(height)  # one line if the side does not fit the discriminator's layout
        self.encoder = ConvEncoder(c.image_shape, c.channels, 2 * c.latent_dim, c.activation)
        self.decoder = ConvDecoder(c.latent_dim, c.image_shape, c.channels, c.activation)
        self.discriminator = DCDiscriminator(c.image_shape, c.width_d, "layer")
        self.health = AdversarialHealth(self.name, binary_entropy(1 - c.label_smoothing))

    def optimizer_groups(self) -> list[OptimizerGroup]:
        c = self.config
        autoencoder = [*self.encoder.parameters(), *self.decoder.parameters()]
        return [
            OptimizerGroup(DISCRIMINATOR, list(self.discriminator.parameters()), c.lr_d, tuple(c.betas_d)),
            OptimizerGroup(AUTOENCODER, autoencoder, c.lr_ae, tuple(c.betas_ae)),
        ]

    # -- pieces -----------------------------------------------------------------------------------------------
    def posterior(self, x: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian.from_params(self.encoder(x).float())  # (B, 2D) -> q(z|x) over (B, D)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) images -> (Dis_l (B, F), the last hidden layer flattened; logits (B,))."""
        hidden = self.discriminator.net[:-1](x)  # (B, 2 w_d, 7, 7) at 28x28: every layer but the logit's
        return hidden.flatten(1), self.discriminator.net[-1](hidden).flatten()

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)

    def fakes(self, x: torch.Tensor) -> torch.Tensor:
        """(2B, C, H, W) images: x~ = Dec(z) for a detached z ~ q(z|x), then x_p = Dec(z_p), in one decoder pass."""
        with torch.no_grad():
            z = self.posterior(x).sample()
        return torch.sigmoid(self.decoder(torch.cat([z, self.prior_sample(len(x)).to(z.dtype)])))

    # -- the phases -------------------------------------------------------------------------------------------
    def training_step(self, batch: Batch, step: int, phase: str = DISCRIMINATOR) -> StepOutput:
        if phase == DISCRIMINATOR:
            return self.discriminator_step(batch, step)
        if phase == AUTOENCODER:
            return self.autoencoder_step(batch, step)
        raise GenzooError(f"vae-gan has phases {DISCRIMINATOR!r} and {AUTOENCODER!r}, not {phase!r}")

    def discriminator_step(self, batch: Batch, step: int) -> StepOutput:
        """L_GAN for D: x real; x~ and x_p fake (their graph kept for the autoencoder phase, detached here)."""
        x, n = batch.x, len(batch)
        training = self.training and torch.is_grad_enabled()
        fakes = self.draw_fakes(lambda: self.fakes(x), step, batch, None, keep=training)
        _, logits = self.features_and_logits(torch.cat([x, fakes.detach().to(x.dtype)]))  # one pass over 3B
        health = self.health if training else None
        return discriminator_bce(
            logits[:n], logits[n:], self.config.label_smoothing, health, step, ("d_real", "d_fake")
        )

    def autoencoder_step(self, batch: Batch, step: int) -> StepOutput:
        c, x, n = self.config, batch.x, len(batch)
        pending = self.take_fakes(step, batch)
        fakes = pending.fake if pending is not None else self.fakes(x)  # (2B, ...): no path to the encoder
        q = self.posterior(x)
        logits = self.decoder(q.sample())  # (B, C, H, W), reaching encoder and decoder
        recon = torch.sigmoid(logits)
        features, d_logits = self.features_and_logits(torch.cat([x, recon.to(x.dtype), fakes.to(x.dtype)]))
        llike = 0.5 * (features[:n].detach().float() - features[n : 2 * n].float()).pow(2).sum(1).mean()
        kl = q.kl().sum(1).mean()  # L_prior, closed form, nats per image
        gan = bce(d_logits[2 * n :], 1.0)  # non-saturating: -log D(x~) and -log D(x_p) over the 2B fakes
        pixel = pixel_reconstruction_loss(logits, x.float(), "bce")
        loss = kl + c.feature_weight * llike + c.adversarial_weight * gan + c.pixel_weight * pixel
        terms = {"kl": kl, "feature_recon": llike, "g_gan": gan, "pixel_recon": pixel}
        return StepOutput(loss, {name: value.detach() for name, value in terms.items()})

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
