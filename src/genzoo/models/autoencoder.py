"""Deterministic autoencoders: x -> code -> x-hat, trained on reconstruction alone."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch.nn import functional as F

from genzoo.config import ModelConfig
from genzoo.errors import GenzooError
from genzoo.data.batches import Batch
from genzoo.models.base import DECODE, ENCODE, RECONSTRUCT, GenerativeModel, StepOutput
from genzoo.models.registry import register
from genzoo.nets.mlp import Activation, TiedDecoder, mlp


@dataclass(frozen=True)
class AEConfig(ModelConfig):
    hidden: tuple[int, ...] = (512, 256)  # encoder widths; the decoder mirrors them
    latent_dim: int = 32
    activation: Activation = "relu"
    tied: bool = False  # decoder reuses the encoder's weight matrices, transposed
    loss: Literal["bce", "mse"] = "bce"  # per-pixel cross-entropy on logits, or squared error, summed per image

    def __post_init__(self):
        if self.latent_dim <= 0 or any(h <= 0 for h in self.hidden):
            raise GenzooError(f"ae: latent_dim and hidden sizes must be > 0, got {self.latent_dim}, {self.hidden}")


@register
class Autoencoder(GenerativeModel):
    name = "ae"
    summary = "MLP autoencoder (option tied=true shares encoder weights with the decoder)"
    Config = AEConfig
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT})
    missing_reason = "a plain autoencoder has no prior over codes; train a vae to sample"

    def __init__(self, config: AEConfig):
        super().__init__(config)
        pixels = math.prod(config.image_shape)
        self.encoder = mlp([pixels, *config.hidden, config.latent_dim], config.activation)
        if config.tied:
            self.decoder = TiedDecoder(self.encoder, config.activation)
        else:
            self.decoder = mlp([config.latent_dim, *config.hidden[::-1], pixels], config.activation)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.config.image_shape)  # (B, D) -> (B, C, H, W)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))  # (B, C*H*W) -> (B, D)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))

    def training_step(self, batch: Batch, step: int, phase: str = "loss") -> StepOutput:
        logits = self.logits(self.encode(batch.x)).float()
        if self.config.loss == "bce":
            per_pixel = F.binary_cross_entropy_with_logits(logits, batch.x, reduction="none")
        else:
            per_pixel = (torch.sigmoid(logits) - batch.x).pow(2)
        recon = per_pixel.flatten(1).sum(1).mean()  # summed per image, mean over the batch
        return StepOutput(recon, {"recon": recon.detach()})
