"""VQ-VAE (van den Oord et al. 2017, "Neural Discrete Representation Learning") with a learned autoregressive
prior over its code grid.

    encoder     x (B, C, H, W) -> z_e (B, D, h, w), h = H / 2**stages (7x7 for 28x28 with two stages)
    quantiser   each z_e vector -> its nearest of K codes (nets/quantize.py: EMA codebook, dead-code restart)
    decoder     z_q (B, D, h, w) -> logits (B, C, H, W); the gradient reaches z_e straight through
    prior       a gated PixelCNN over the (h, w) grid of code indices (nets/pixelcnn.py)

Two optimizer groups, updated in turn within a step (the contract's `phases`):

- "loss" (encoder and decoder): reconstruction + beta ||z_e - sg[z_q]||^2, the commitment loss of eq. 3 with
  beta = 0.25 (sec. 4.1). The codebook term of eq. 3 is replaced by the EMA update (appendix A.1), applied in
  `after_step` from the assignments this phase made.
- "prior" (the PixelCNN): cross-entropy of the batch's codes, those the "loss" phase just assigned, taken
  without gradient (sec. 3.3: "we fit a prior ... over z"; here on detached codes, so the prior never shapes the
  encoder). Its Adam runs at its own `prior_lr` (default 3e-3, three times train.lr's default): the prior is what
  limits the samples (reconstructions are sharp after ~200 steps, while the samples become digits only once the
  prior is near 1.6 nats per code), and at 1e-3 it was still at 3.1 nats per code after the zoo's 224 steps.

The reconstruction loss is the per-pixel binary cross-entropy on logits summed per image, as the project's
autoencoders and VAEs use for MNIST-like images in [0, 1] (a Bernoulli likelihood: sharper strokes than squared
error at the same budget); `loss=mse` gives the squared error of sigmoid(logits). Both terms are per-image sums,
the commitment over the h x w x D grid, so beta keeps the paper's meaning relative to a log-likelihood.

The prior trains from `prior_start` (default 0: from the first step). Training it on codes that still move costs
little: the codes settle within a few hundred steps (the EMA codebook follows the encoder quickly) and the prior
keeps tracking them, while a short run with a late start would leave the prior under-trained. A later start saves
the prior's share of the step (more than half of it on CPU) while the codes settle.

Verbs: `encode` gives the continuous encoder output z_e flattened (B, D*h*w) and `decode` quantises a code of that
shape cell by cell before decoding, so reconstruct = decode(encode(x)), and interpolations move between
continuous encoder outputs and snap to codes only when decoded; manifold and traverse are refused with one line
(`axes_missing_reason`): one coordinate of that code moves one cell and leaves the picture unchanged.
`sample` draws code grids from the PixelCNN (never from N(0, I)) and decodes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from genzoo import checks
from genzoo.data.batches import Batch, eval_batches
from genzoo.data.types import ImageSplit
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
from genzoo.models.registry import register
from genzoo.nets.conv import GridDecoder, GridEncoder, bottom_side
from genzoo.nets.distributions import pixel_reconstruction_loss
from genzoo.nets.mlp import DEFAULT_LEAKY_SLOPE, Activation
from genzoo.nets.pixelcnn import GatedPixelCNN
from genzoo.nets.quantize import EMACodebook, straight_through, usage_figures


@dataclass(frozen=True)
class VQVAEConfig(ModelConfig):
    channels: tuple[int, ...] = (32, 64)  # channels of the stride-2 stages: 28x28 -> a 7x7 grid with two
    residual_blocks: int = 0  # residual blocks at the grid's side in encoder and decoder (sec. 4.1 uses 2; each
    # costs about 15% of a step on CPU, and the plain stages already reconstruct MNIST-like images closely)
    activation: Activation = "relu"
    codes: int = 64  # K, the codebook size
    code_dim: int = 16  # D, the size of a code vector
    beta: float = 0.25  # commitment weight (van den Oord et al. 2017, sec. 4.1: "beta = 0.25" in all experiments)
    decay: float = 0.99  # EMA decay of the codebook statistics (appendix A.1: gamma = 0.99)
    epsilon: float = 1e-5  # Laplace smoothing of the cluster sizes
    dead_after: int = 100  # restart a code no encoder output chose for this many training steps in a row
    loss: Literal["bce", "mse"] = "bce"  # reconstruction: cross-entropy on logits, or squared error, per image
    prior_channels: int = 32  # the PixelCNN's feature maps per stack
    prior_layers: int = 5  # gated layers (the first one with a first_kernel-wide window)
    prior_first_kernel: int = 5
    prior_start: int = 0  # the step from which the prior trains (every step from then on)
    # The prior's own Adam lr (None: train.lr). 3e-3, three times train.lr's default: the prior is the slow part
    # of the model (reconstructions are sharp within ~200 steps, samples need the prior to ~1.6 nats per code).
    # Measured on MNIST, one thread: test prior_loss 1.69 nats per code after 468 steps at 3e-3 (cosine to 5%
    # over 1300) against 2.00 at 1e-3 (constant); 300 steps: train 2.28 against 2.58.
    prior_lr: float | None = 3e-3

    activation_slopes: ClassVar[dict] = {"activation": DEFAULT_LEAKY_SLOPE}

    def __post_init__(self):
        checks.sizes("model.channels", self.channels, non_empty=True)
        checks.at_least("model.residual_blocks", self.residual_blocks, 0)
        checks.check(self.codes >= 2, "model.codes", self.codes, "an integer >= 2 (the codebook size K)")
        checks.positive("model.code_dim", self.code_dim)
        checks.at_least("model.beta", self.beta, 0)
        checks.check(0 <= self.decay < 1, "model.decay", self.decay, "a value in [0, 1)")
        checks.positive("model.epsilon", self.epsilon)
        checks.positive("model.dead_after", self.dead_after)
        checks.positive("model.prior_channels", self.prior_channels)
        checks.positive("model.prior_layers", self.prior_layers)
        checks.check(
            self.prior_first_kernel >= 3 and self.prior_first_kernel % 2 == 1,
            "model.prior_first_kernel",
            self.prior_first_kernel,
            "an odd integer >= 3",
        )
        checks.at_least("model.prior_start", self.prior_start, 0, "a step")
        checks.positive("model.prior_lr", self.prior_lr)
        bottom_side(self.image_shape, len(self.channels))  # the grid must divide the image


@register
class VQVAE(GenerativeModel):
    name = "vq-vae"
    summary = (
        "VQ-VAE: conv encoder to a grid of codes from an EMA codebook (dead-code restart, commitment loss), "
        "sampled through a gated PixelCNN prior over the code grid"
    )
    Config = VQVAEConfig
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})
    latent_prior = None  # codes have no prior of their own: explorers span the test codes, with straight paths
    # explore/latent.py refuses manifold and traverse with this line: a coordinate of the flattened D x h x w
    # encoder output moves one grid cell, which snaps to the same or a neighbouring code (seen: a constant grid)
    axes_missing_reason: ClassVar[str] = (
        "its code is a grid of vectors snapped to a codebook: sweeping one coordinate moves one cell between a few "
        "codes and leaves the image unchanged; use interpolate (encoder outputs mixed, then snapped) or sample"
    )
    missing_reasons: ClassVar[dict] = {
        LOG_LIKELIHOOD: "a VQ-VAE's decoder is trained as a reconstruction loss on a deterministic code, with no "
        "posterior to weight: no bound on log p(x) is defined; train a vae for --nll",
    }

    def __init__(self, config: VQVAEConfig):
        super().__init__(config)
        c = config
        self.side = bottom_side(c.image_shape, len(c.channels))  # h = w of the code grid
        self.encoder = GridEncoder(c.image_shape, c.channels, c.code_dim, c.residual_blocks, c.activation)
        self.decoder = GridDecoder(c.code_dim, c.image_shape, c.channels, c.residual_blocks, c.activation)
        self.codebook = EMACodebook(c.codes, c.code_dim, c.decay, c.epsilon, c.dead_after)
        self.prior = GatedPixelCNN(c.codes, c.prior_channels, c.prior_layers, c.prior_first_kernel)
        self._pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # this step's EMA statistics
        self._last_codes: tuple[torch.Tensor, torch.Tensor] | None = None  # (images, their codes) of the loss phase

    # -- training ---------------------------------------------------------------------------------------------
    def optimizer_groups(self) -> list[OptimizerGroup]:
        prior = [p for p in self.prior.parameters() if p.requires_grad]
        own = {id(p) for p in prior}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in own]
        return [OptimizerGroup("loss", rest), OptimizerGroup("prior", prior, lr=self.config.prior_lr)]

    def phases(self, step: int) -> tuple[str, ...]:
        return ("loss", "prior") if step >= self.config.prior_start else ("loss",)

    def quantise(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z_e (B, D, h, w) -> (indices (B, h, w), z_q (B, D, h, w) the nearest codes, their rows (B*h*w, D))."""
        rows = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])  # (B*h*w, D): one vector per grid cell
        indices = self.codebook.nearest(rows)  # (B*h*w,)
        z_q = self.codebook.lookup(indices).view(z_e.shape[0], self.side, self.side, -1).permute(0, 3, 1, 2)
        return indices.view(-1, self.side, self.side), z_q, rows

    def reconstruction_loss(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return pixel_reconstruction_loss(logits, x, self.config.loss)  # (nets/distributions.py)

    def training_step(self, batch: Batch, step: int, phase: str = "loss") -> StepOutput:
        if phase == "prior":
            codes = self._codes_of(batch.x)  # (B, h, w), no gradient
            nll = self.prior.nll(codes)  # (B,) nats per grid
            per_code = nll.mean() / self.side**2
            return StepOutput(per_code, {"prior_nats": nll.mean().detach()})
        z_e = self.encoder(batch.x)  # (B, D, h, w)
        indices, z_q, rows = self.quantise(z_e)
        recon = self.reconstruction_loss(self.decoder(straight_through(z_e, z_q)), batch.x)
        commitment = (z_e.float() - z_q.detach()).pow(2).flatten(1).sum(1).mean()  # ||z_e - sg[z_q]||^2 per image
        if self.training:  # the EMA update, applied once this phase's optimizer has stepped (after_step)
            counts, sums = self.codebook.statistics(rows.detach(), indices.view(-1))
            self._pending = (counts, sums, rows.detach())
            self._last_codes = (batch.x, indices)  # the prior phase of this step reads them (same batch)
        terms = {"recon": recon.detach(), "commitment": commitment.detach()}
        return StepOutput(recon + self.config.beta * commitment, terms)

    @torch.no_grad()
    def _codes_of(self, x: torch.Tensor) -> torch.Tensor:
        """The code grids (B, h, w) of images x: those the loss phase of this training step assigned to the same
        batch (saves an encoder pass: the codes of the weights before this step's update), else computed."""
        if self._last_codes is not None and self._last_codes[0] is x:
            codes = self._last_codes[1]
            self._last_codes = None
            return codes
        return self.quantise(self.encoder(x))[0]

    @torch.no_grad()
    def after_step(self, phase: str, step: int) -> None:
        if phase == "loss" and self._pending is not None:
            counts, sums, candidates = self._pending
            self._pending = None
            self.codebook.update(counts, sums, candidates)

    @torch.no_grad()
    def diagnostics(self, split: ImageSplit, batch_size: int) -> dict[str, float | list[float]]:
        """Codebook usage on `split`: the fraction (and number) of the K codes its images choose, and the perplexity
        of their frequencies (the discrete analogue of a VAE's active units)."""
        indices = torch.cat(
            [self.quantise(self.encoder(b.x))[0].flatten() for b in eval_batches(split, batch_size, self.device)]
        )
        return usage_figures(indices.cpu(), self.config.codes)

    # -- verbs -------------------------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return self.config.code_dim * self.side**2

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> the continuous encoder outputs z_e flattened, (B, D*h*w) (channel-major)."""
        return self.encoder(x).flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D*h*w) encoder outputs -> each cell snapped to its nearest code -> images (B, C, H, W) in [0, 1]."""
        z_e = z.view(-1, self.config.code_dim, self.side, self.side).to(self.codebook.embedding.dtype)
        return self.decode_codes(self.quantise(z_e)[0])

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Code indices (B, h, w) -> images (B, C, H, W) in [0, 1]."""
        z_q = self.codebook.lookup(codes).permute(0, 3, 1, 2)  # (B, D, h, w)
        return torch.sigmoid(self.decoder(z_q).float())

    def sample(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """n images: code grids drawn from the PixelCNN prior one position at a time, then decoded."""
        return self.decode_codes(self.prior.sample(n, (self.side, self.side), generator, self.device))
