"""Reconstruction error on a split, with the model's deterministic reconstruction (a VAE's posterior mean)."""

from __future__ import annotations

import torch

from genzoo.data.batches import eval_batches
from genzoo.data.types import ImageSplit
from genzoo.models.base import RECONSTRUCT, GenerativeModel


@torch.no_grad()
def reconstruction_mse(model: GenerativeModel, split: ImageSplit, batch_size: int = 1000) -> float:
    """Mean squared error per pixel, pixels in [0, 1], over every image of the split."""
    if RECONSTRUCT not in model.capabilities:
        raise model._cannot(RECONSTRUCT)
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=model.device)
    for batch in eval_batches(split, batch_size, model.device):
        total += (model.reconstruct(batch.x).float() - batch.x).pow(2).sum(dtype=torch.float64)
    model.train(was_training)
    return (total / split.images.numel()).item()
