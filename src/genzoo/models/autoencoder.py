"""Deterministic autoencoders: x -> code -> x-hat, trained on reconstruction (plus a model's own regulariser).

One class, `Autoencoder`, holds the objective; the network is a choice (MLP, optionally tied; strided conv;
the classic small conv net; row-by-row LSTM), and each variant changes one thing:
`DenoisingAutoencoder` corrupts the input, `ContractiveAutoencoder` adds a Jacobian penalty.
Decoders output logits, so images are sigmoid(logits) and the default loss is cross-entropy on logits.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from genzoo import checks
from genzoo.data.batches import Batch
from genzoo.models.base import DECODE, DENOISE, ENCODE, RECONSTRUCT, SAMPLE, GenerativeModel, ModelConfig, StepOutput
from genzoo.models.registry import register
from genzoo.nets.conv import CLASSIC_CODE_SIZE, ClassicConvDecoder, ClassicConvEncoder, ConvDecoder, ConvEncoder
from genzoo.nets.distributions import pixel_reconstruction_loss
from genzoo.nets.mlp import DEFAULT_LEAKY_SLOPE, Activation, TiedDecoder, mlp
from genzoo.nets.sequence import RowLSTMDecoder, RowLSTMEncoder

Network = Literal["mlp", "conv", "conv-classic", "lstm"]


@dataclass(frozen=True)
class AEConfig(ModelConfig):
    network: Network = "mlp"
    hidden: tuple[int, ...] = (512, 256)  # mlp: encoder widths (the decoder mirrors them); lstm: units per layer
    channels: tuple[int, ...] = (32, 64)  # conv: channels of the stride-2 stages
    latent_dim: int = 32  # conv-classic has a fixed 8x2x2 = 32-dim code
    activation: Activation = "relu"
    code_activation: Literal["none", "sigmoid", "tanh"] = "none"
    tied: bool = False  # mlp: the decoder reuses the encoder's weight matrices, transposed
    loss: Literal["bce", "mse"] = "bce"  # per pixel, summed per image: cross-entropy on logits or squared error

    activation_slopes: ClassVar[dict] = {"activation": DEFAULT_LEAKY_SLOPE}

    def __post_init__(self):
        checks.positive("model.latent_dim", self.latent_dim)
        checks.sizes("model.hidden", self.hidden)
        checks.sizes("model.channels", self.channels)
        if self.tied and self.network != "mlp":
            raise checks.conflict("model.tied", self.tied, f"network=mlp (got network={self.network})")
        if self.network == "conv-classic":
            checks.check(
                self.latent_dim == CLASSIC_CODE_SIZE,
                "model.latent_dim",
                self.latent_dim,
                f"{CLASSIC_CODE_SIZE} with network=conv-classic (its code is a fixed 8x2x2 map)",
            )
        if self.network == "lstm" and not self.hidden:
            raise checks.conflict("model.network", self.network, "hidden=[units per layer], e.g. [128]")
        if self.network == "conv" and not self.channels:
            raise checks.conflict("model.network", self.network, "channels=[...], e.g. [32, 64]")


def build_networks(c: AEConfig) -> tuple[nn.Module, nn.Module]:
    """(encoder: images -> (B, latent_dim), decoder: codes -> (B, C, H, W) logits) for the chosen network."""
    pixels = math.prod(c.image_shape)
    if c.network == "mlp":
        encoder = nn.Sequential(nn.Flatten(), *mlp([pixels, *c.hidden, c.latent_dim], c.activation))
        if c.tied:
            return encoder, nn.Sequential(TiedDecoder(encoder, c.activation), nn.Unflatten(1, c.image_shape))
        return encoder, nn.Sequential(
            *mlp([c.latent_dim, *c.hidden[::-1], pixels], c.activation), nn.Unflatten(1, c.image_shape)
        )
    if c.network == "conv":
        return (
            ConvEncoder(c.image_shape, c.channels, c.latent_dim, c.activation),
            ConvDecoder(c.latent_dim, c.image_shape, c.channels, c.activation),
        )
    if c.network == "conv-classic":
        return ClassicConvEncoder(c.image_shape[0]), ClassicConvDecoder(c.image_shape)
    return RowLSTMEncoder(c.image_shape, c.hidden, c.latent_dim), RowLSTMDecoder(c.latent_dim, c.image_shape, c.hidden)


CODE_ACTIVATIONS = {"none": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


@register
class Autoencoder(GenerativeModel):
    name = "ae"
    summary = "autoencoder over an MLP (tied=true shares encoder weights), conv, classic conv or LSTM network"
    # benchmarks/results/precision.md: the default MLP autoencoder (and dae) reconstruct as well in bf16; conv-ae,
    # lstm-ae and cae below are not measured yet and stay fp32 under precision auto
    bf16_safe = True
    Config = AEConfig
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT})
    missing_reasons: ClassVar[dict] = {
        SAMPLE: "a plain autoencoder has no prior over codes: sample through a mixture fitted to "
        "its codes with --sampler gmm, or train a vae"
    }

    def __init__(self, config: AEConfig):
        super().__init__(config)
        self.encoder, self.decoder = build_networks(config)
        self.code_activation = CODE_ACTIVATIONS[config.code_activation]()

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.code_activation(self.encoder(x))  # (B, C, H, W) -> (B, D)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (B, D) -> (B, C, H, W)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))

    def reconstruction_loss(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return pixel_reconstruction_loss(logits, x, self.config.loss)  # (nets/distributions.py)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The input the encoder sees in training: x itself here; a denoising autoencoder adds noise."""
        return x

    def training_step(self, batch: Batch, step: int, phase: str = "loss") -> StepOutput:
        recon = self.reconstruction_loss(self.logits(self.encode(self.corrupt(batch.x))), batch.x)
        return StepOutput(recon, {"recon": recon.detach()})


@dataclass(frozen=True)
class ConvAEConfig(AEConfig):
    network: Network = "conv"


@register
class ConvAutoencoder(Autoencoder):
    name = "conv-ae"
    summary = "convolutional autoencoder (strided conv / transposed conv; network=conv-classic: the small tutorial net)"
    bf16_safe = False  # not measured yet (benchmarks/precision.py)
    Config = ConvAEConfig


@dataclass(frozen=True)
class LSTMAEConfig(AEConfig):
    network: Network = "lstm"
    hidden: tuple[int, ...] = (128,)


@register
class LSTMAutoencoder(Autoencoder):
    name = "lstm-ae"
    summary = "sequence autoencoder: an LSTM reads the image row by row into a code, another writes the rows back"
    bf16_safe = False  # not measured yet (benchmarks/precision.py)
    Config = LSTMAEConfig


@dataclass(frozen=True)
class DAEConfig(AEConfig):
    noise: Literal["masking", "gaussian"] = "masking"
    noise_std: float = 0.5  # gaussian: x + noise_std * eps, in [0, 1] pixel units
    mask_fraction: float = 0.3  # masking: the fraction of pixels set to 0

    def __post_init__(self):
        super().__post_init__()
        checks.check(0 <= self.mask_fraction <= 1, "model.mask_fraction", self.mask_fraction, "a value in [0, 1]")
        checks.at_least("model.noise_std", self.noise_std, 0)


@register
class DenoisingAutoencoder(Autoencoder):
    """Vincent et al. 2008: reconstruct the clean image from a corrupted copy."""

    name = "dae"
    summary = "denoising autoencoder (masking or Gaussian noise) over an MLP or conv network"
    Config = DAEConfig
    capabilities = Autoencoder.capabilities | {DENOISE}

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        c = self.config
        if c.noise == "gaussian":
            return x + c.noise_std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= c.mask_fraction
        return x * keep


@dataclass(frozen=True)
class CAEConfig(AEConfig):
    hidden: tuple[int, ...] = ()  # one sigmoid layer by default: the closed form of Rifai et al. 2011 applies
    latent_dim: int = 256
    code_activation: Literal["none", "sigmoid", "tanh"] = "sigmoid"
    contraction: float = 0.1  # lambda: weight of ||J_f(x)||_F^2
    jacobian: Literal["auto", "exact", "projections"] = "auto"
    projections: int = 1  # random projections per image for the deep-encoder estimator

    def __post_init__(self):
        super().__post_init__()
        if self.network != "mlp":
            raise checks.invalid("model.network", self.network, "mlp (cae's Jacobian penalty is for an MLP encoder)")
        if self.jacobian == "exact" and not self.closed_form:
            raise checks.conflict(
                "model.jacobian", self.jacobian, "a one-layer sigmoid encoder (hidden=[], code_activation=sigmoid)"
            )
        checks.at_least("model.contraction", self.contraction, 0)
        checks.positive("model.projections", self.projections)

    @property
    def closed_form(self) -> bool:
        return not self.hidden and self.code_activation == "sigmoid"


def sigmoid_jacobian_norm(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """||J||_F^2 per image for h = sigmoid(W x + b): J = diag(h (1 - h)) W, so
    ||J||_F^2 = sum_i (h_i (1 - h_i))^2 sum_j W_ij^2 (Rifai et al. 2011, eq. 6). h: (B, D), W: (D, P) -> (B,)."""
    return ((h * (1 - h)).pow(2) * weight.pow(2).sum(1)).sum(1)  # elementwise, so bf16 autocast keeps it fp32


def projected_jacobian_norm(x: torch.Tensor, h: torch.Tensor, projections: int, generator=None) -> torch.Tensor:
    """Unbiased estimate of ||J||_F^2 per image: E_v ||J^T v||^2 = tr(J J^T) for v ~ N(0, I) in code space.
    One vector-Jacobian product per projection; `x` must require grad and `h` depend on it. -> (B,)."""
    total = 0
    for _ in range(projections):
        v = torch.randn(h.shape, generator=generator, device=h.device, dtype=h.dtype)
        (vjp,) = torch.autograd.grad(h, x, v, create_graph=True)  # (B, C, H, W): rows are independent
        total = total + vjp.flatten(1).pow(2).sum(1)
    return total / projections


@register
class ContractiveAutoencoder(Autoencoder):
    """Rifai et al. 2011: reconstruction + lambda * ||d code / d x||_F^2, making codes insensitive to
    small input changes."""

    name = "cae"
    summary = "contractive autoencoder: reconstruction + lambda * squared Frobenius norm of the encoder Jacobian"
    bf16_safe = False  # not measured yet (benchmarks/precision.py)
    Config = CAEConfig

    @property
    def exact_jacobian(self) -> bool:
        c = self.config
        return c.jacobian == "exact" or (c.jacobian == "auto" and c.closed_form)

    def jacobian_norm(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """||d code / d x||_F^2 per image, (B,)."""
        if self.exact_jacobian:
            linear = self.encoder[-1]  # Flatten, Linear: the only layer
            return sigmoid_jacobian_norm(h.float(), linear.weight.float())
        return projected_jacobian_norm(x, h, self.config.projections)

    def training_step(self, batch: Batch, step: int, phase: str = "loss") -> StepOutput:
        # The estimator differentiates the code with respect to x, so it needs autograd even when the caller
        # (the test-set evaluation) runs under no_grad.
        needs_graph = not self.exact_jacobian
        with torch.enable_grad() if needs_graph else contextlib.nullcontext():
            x = batch.x.detach().requires_grad_(needs_graph)
            h = self.encode(x)
            recon = self.reconstruction_loss(self.logits(h), batch.x)
            contraction = self.jacobian_norm(x, h).mean()
        loss = recon + self.config.contraction * contraction
        return StepOutput(loss, {"recon": recon.detach(), "jacobian": contraction.detach()})
