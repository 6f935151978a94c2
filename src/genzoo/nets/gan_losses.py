"""The adversarial losses, each as its discriminator's and its generator's form on the discriminator's raw outputs
(logits / scores (B,)), in fp32 whatever the autocast. `LOSSES[name]` is what a GAN's `model.loss` picks.

    bce           D: BCE(D(x), 1 - s) + BCE(D(G(z)), 0)          G: BCE(D(G(z)), 1)    (Goodfellow et al. 2014;
                  non-saturating generator, sec. 3; s: one-sided label smoothing, Salimans et al. 2016, sec. 3.4)
    wgan-gp       D: E D(G(z)) - E D(x)   (+ the gradient penalty)  G: -E D(G(z))      (Gulrajani et al. 2017)
    hinge         D: E relu(1 - D(x)) + E relu(1 + D(G(z)))     G: -E D(G(z))          (Lim & Ye 2017; the loss
                  of SN-GAN, Miyato et al. 2018, eq. 16-17)
    lsgan         D: 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2        G: 1/2 E (D(G(z)) - 1)^2
                  (Mao et al. 2017, eq. 2 with the 0-1 coding a = 0, b = c = 1 of eq. 9)
    relativistic  relativistic average GAN (Jolicoeur-Martineau 2019, RaSGAN, sec. 4.2), with
                  C_r = D(x) - E D(G(z)), C_f = D(G(z)) - E D(x):
                  D: BCE(C_r, 1) + BCE(C_f, 0)                  G: BCE(C_f, 1) + BCE(C_r, 0)
                  (the generator's loss needs the real images' scores too; the paper's sums, not the halves
                  the reference code takes)

`floor`: the lowest value the discriminator's loss can take, which the health watch measures a win from (a
discriminator that separates real from fake perfectly sits there); None for the Wasserstein critic, whose loss has
no floor. `scores`: what the log's d_real / d_fake say: the mean probability that real (fake) images are real for
bce, the mean probability that a real (fake) image is more real than the average fake (real) for relativistic,
the mean raw score for hinge (targets >= 1 / <= -1), lsgan (targets 1 / 0) and wgan-gp.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch.nn import functional as F


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Mean binary cross-entropy of logits (B,) against a constant target, in fp32 whatever the autocast."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def binary_entropy(p: float) -> float:
    """H(p) in nats: the smallest BCE a discriminator can reach on targets p (0 for hard labels)."""
    return 0.0 if p in (0.0, 1.0) else -(p * math.log(p) + (1 - p) * math.log(1 - p))


def _relative(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(C_r, C_f): each kind's scores minus the mean score of the other kind."""
    return real - fake.mean(), fake - real.mean()


def _bce_d(real, fake, smoothing):
    return bce(real, 1.0 - smoothing) + bce(fake, 0.0)


def _relativistic_d(real, fake, smoothing):
    c_real, c_fake = _relative(real, fake)
    return bce(c_real, 1.0) + bce(c_fake, 0.0)


def _relativistic_g(fake, real):
    c_real, c_fake = _relative(real, fake)
    return bce(c_fake, 1.0) + bce(c_real, 0.0)


def _probabilities(real, fake):
    return torch.sigmoid(real).mean(), torch.sigmoid(fake).mean()


def _relative_probabilities(real, fake):
    return _probabilities(*_relative(real, fake))


def _means(real, fake):
    return real.mean(), fake.mean()


class AdversarialLoss(NamedTuple):
    discriminator: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  # (real, fake, smoothing) -> loss
    generator: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]  # (fake, real or None) -> loss
    scores: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # -> (d_real, d_fake)
    floor: Callable[[float], float | None]  # label smoothing -> the discriminator loss's minimum
    needs_real: bool = False  # the generator's loss reads the real images' scores


LOSSES: dict[str, AdversarialLoss] = {
    "bce": AdversarialLoss(
        _bce_d, lambda fake, real: bce(fake, 1.0), _probabilities, lambda s: binary_entropy(1.0 - s)
    ),
    "wgan-gp": AdversarialLoss(
        lambda real, fake, s: fake.mean() - real.mean(), lambda fake, real: -fake.mean(), _means, lambda s: None
    ),
    "hinge": AdversarialLoss(
        lambda real, fake, s: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
        lambda fake, real: -fake.mean(),
        _means,
        lambda s: 0.0,
    ),
    "lsgan": AdversarialLoss(
        lambda real, fake, s: 0.5 * (real - 1).pow(2).mean() + 0.5 * fake.pow(2).mean(),
        lambda fake, real: 0.5 * (fake - 1).pow(2).mean(),
        _means,
        lambda s: 0.0,
    ),
    "relativistic": AdversarialLoss(
        _relativistic_d, _relativistic_g, _relative_probabilities, lambda s: 0.0, needs_real=True
    ),
}


def discriminator_loss(name: str, real: torch.Tensor, fake: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Loss `name`'s discriminator form on the scores (B,) of real and fake images (fp32)."""
    return LOSSES[name].discriminator(real.float(), fake.float(), smoothing)


def generator_loss(name: str, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """Loss `name`'s generator form on the fakes' scores (B,) (and, for relativistic, the real images')."""
    return LOSSES[name].generator(fake.float(), None if real is None else real.float())
