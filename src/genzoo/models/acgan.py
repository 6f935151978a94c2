"""AC-GAN (Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs"): a conditional GAN whose
discriminator does not read the label; it classifies instead. The generator draws X_fake = G(z, c) from noise and a
class (one-hot, as cgan's generator reads it); the discriminator reads an image alone and has two outputs on its
last hidden features phi(x): the real/fake logit (the GAN's own last layer) and K class logits (nets/gan_nets
.ClassHead, a layer of the same kind).

The paper's objective (sec. 3) has two log-likelihoods, of the correct source S and of the correct class C:

    L_S = E[log P(S = real | X_real)] + E[log P(S = fake | X_fake)]
    L_C = E[log P(C = c | X_real)] + E[log P(C = c | X_fake)]

"D is trained to maximize L_S + L_C while G is trained to maximize L_C - L_S". Here, per image in nats, with
w = model.class_weight (1: the paper's sum) and the family's adversarial losses in place of -L_S (bce by default,
whose generator form is the non-saturating one; hinge, lsgan, relativistic, wgan-gp all compose):

    discriminator   adversarial_D(real, fake) + w * (CE(class | real) + CE(class | fake))
    generator       adversarial_G(fake) + w * CE(class | fake)

The fakes' classes are the batch's labels (a draw from the data's class distribution p_c, as cgan's fakes take
them), so each class term compares the same classes on real and fake images.

Everything else is the GAN family's (models/gan.py) and composes: DCGAN or MLP players (`preset`), every loss,
`label_smoothing` (bce's real/fake targets; the class targets stay hard), `spectral_norm` (the class head's
weight too), `r1_weight` (the penalty is on the real/fake logit's gradient, as Mescheder et al. define it; the
class head is not penalised), `diffaugment` (both heads read the augmented images), `n_critic`, the health watch
(on the adversarial part, whose floor it knows), the reuse of a step's fakes, and exact resume. The one cgan
option it has no use for is `conditioning`: its discriminator reads no label (an unknown key for acgan).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from genzoo import checks
from genzoo.data.batches import Batch
from genzoo.models.base import CONDITIONAL, StepOutput
from genzoo.models.gan import GAN, GENERATOR, GANConfig
from genzoo.models.registry import register
from genzoo.nets.gan_losses import discriminator_loss, generator_loss
from genzoo.nets.gan_nets import ClassHead, spectral_normalize


@dataclass(frozen=True)
class ACGANConfig(GANConfig):
    # DCGAN players by default, with their Adam 2e-4, betas (0.5, 0.999) (Radford et al. 2016), as cgan's.
    preset: Literal["small", "wide", "dcgan", "classic-64"] = "dcgan"
    class_weight: float = 1.0  # w on the class cross-entropies (1: the paper's L_S + L_C)

    def __post_init__(self):
        super().__post_init__()
        checks.check(
            self.class_weight > 0,
            "model.class_weight",
            self.class_weight,
            "> 0 (1 is the paper's; at 0 nothing makes the samples follow their labels)",
        )


def class_terms(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean cross-entropy in nats, accuracy) of class logits (B, K) against labels (B,), in fp32."""
    logits = logits.float()
    return F.cross_entropy(logits, labels), (logits.detach().argmax(1) == labels).float().mean()


@register
class ACGAN(GAN):
    name = "acgan"
    summary = (
        "AC-GAN: class-conditioned generator, unconditional discriminator with a real/fake and a K-way class head; "
        "sample --label N"
    )
    bf16_safe = False
    Config = ACGANConfig
    capabilities = GAN.capabilities | {CONDITIONAL}  # the generator reads the label; evaluate scores the classes

    def __init__(self, config: ACGANConfig):
        super().__init__(config)  # G reads one-hot labels; D reads none (discriminator_conditioning)
        self.classifier = ClassHead(self.discriminator, config.num_classes)
        if config.spectral_norm:
            spectral_normalize(self.classifier)
        self.to(memory_format=self.memory_format)

    def discriminator_conditioning(self) -> str:
        return "none"  # the labels reach D's loss through the class head, never its input

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [*self.discriminator.parameters(), *self.classifier.parameters()]

    def read(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Real/fake logits (B,) and class logits (B, K) of images in the players' range, one pass through phi."""
        phi = self.discriminator.features(images)
        return self.discriminator.output(phi), self.classifier(phi)

    def discriminator_step(self, batch: Batch, step: int) -> StepOutput:
        x, labels = self.real(batch.x), batch.y
        z = self.noise(len(x), device=x.device)
        training = self.training and torch.is_grad_enabled()
        keep = training and GENERATOR in self.phases(step)  # the generator phase reuses these fakes
        fake = self.draw_fakes(lambda: self.fake(z, labels), step, batch, labels, keep).detach()
        params = self.augment_params(step, batch, len(x), x.device, keep)
        real_seen, fake_seen = self.augmented(x, params), self.augmented(fake, params)  # (DiffAugment, if on)
        if self.joint_pass:  # no batch norm in D: real and fake images in one pass
            logits, classes = self.read(torch.cat([real_seen, fake_seen]))
            (real_logits, fake_logits), (real_classes, fake_classes) = logits.split(len(x)), classes.split(len(x))
        else:  # batch norm: real and fake batches normalised apart (DCGAN practice)
            (real_logits, real_classes), (fake_logits, fake_classes) = self.read(real_seen), self.read(fake_seen)
        ce_real, accuracy_real = class_terms(real_classes, labels)
        ce_fake, accuracy_fake = class_terms(fake_classes, labels)
        c = self.config
        classify = c.class_weight * (ce_real + ce_fake)  # -L_C
        class_log = {
            "class_real": ce_real.detach(),
            "class_fake": ce_fake.detach(),
            "accuracy_real": accuracy_real,
            "accuracy_fake": accuracy_fake,
        }
        if c.loss == "wgan-gp":
            if training:
                self.health.tick(step)
            out = self.critic_loss(x, fake, None, real_logits, fake_logits, params)
            return StepOutput(out.loss + classify, {**out.terms, **class_log})
        loss = discriminator_loss(c.loss, real_logits, fake_logits, c.label_smoothing)  # -L_S
        if training:
            self.health.observe(loss, step)  # the adversarial part alone has the loss floor the watch knows
        d_real, d_fake = self.loss.scores(real_logits.detach().float(), fake_logits.detach().float())
        terms = {"d_real": d_real, "d_fake": d_fake, **class_log}
        if c.r1_weight > 0 and (not training or step % c.r1_every == 0):  # as the GAN's (lazy: every r1_every-th)
            penalty = self.r1_penalty(x, None, params)  # on the real/fake logit
            loss = loss + ((c.r1_every if training else 1) * c.r1_weight / 2) * penalty
            terms["r1_penalty"] = penalty.detach()
        return StepOutput(loss + classify, terms)

    def generator_step(self, batch: Batch, step: int) -> StepOutput:
        pending = self.take_fakes(step, batch)
        if pending is not None:
            fake, labels = pending.fake, pending.labels
        else:  # called on its own (evaluation, tests): fresh noise
            labels = batch.y
            fake = self.fake(self.noise(len(batch), device=batch.x.device), labels)
        params = self.generator_augment(step, batch, len(fake), fake.device)
        logits, classes = self.read(self.augmented(fake, params))
        real_logits = self.real_scores_for_generator(batch, params)
        ce_fake, _ = class_terms(classes, labels)
        return StepOutput(generator_loss(self.config.loss, logits, real_logits) + self.config.class_weight * ce_fake)
