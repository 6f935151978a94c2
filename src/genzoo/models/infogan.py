"""InfoGAN (Chen et al. 2016, "InfoGAN: Interpretable Representation Learning by Information Maximizing Generative
Adversarial Networks"): a GAN whose generator also reads latent codes c, and a recognition head Q on the
discriminator's body that recovers c from the images, so that the codes come to control what the images show.

The generator reads one vector, the model's latent (what `decode` takes):

    [z (noise_dim), onehot(c_cat) (categorical), c_cont (continuous)]     z ~ the noise distribution,
                                                                          c_cat ~ uniform over K values,
                                                                          c_cont ~ U[-1, 1] per code

Q shares every layer of the discriminator but the last (the paper's sec. 4: "Q ... shares all convolutional
layers with D, and there is one final fully connected layer to output parameters for the conditional
distribution Q(c|x)"); its head here is the paper's MNIST one (appendix C.1: FC 128, batch norm, LeakyReLU, then
the outputs): K logits for c_cat and a Gaussian mean (and, with q_std=learned, a log-std) per continuous code.

The mutual-information term is the variational lower bound L_I = H(c) - E[-log Q(c | G(z, c))] (eq. 4), so the
model minimises, in nats per image,

    info = lambda_cat * CE(Q_cat(x), c_cat) + lambda_cont * sum_j -log N(c_j; mu_j(x), sigma_j(x)^2)

on the fakes x = G(z, c). The paper sets lambda = 1 for discrete codes and "a smaller lambda ... for continuous
codes ... to ensure that lambda L_I(G, Q), which now involves differential entropy, is on the same scale as GAN
objectives" (sec. 6); its MNIST code fixes the Gaussian's sigma at 1 (q_std=fixed, the default here), which makes
the continuous term a squared error plus a constant.

Optimizer groups (the paper's minimax min_{G,Q} max_D V(D, G) - lambda L_I(G, Q), eq. 5, as its reference code
splits the variables): the discriminator group holds D's body, its logit layer and the Q head, and minimises D's
adversarial loss + info on the detached fakes (so Q and the shared body learn to read the codes); the generator
group minimises G's adversarial loss + info through the fakes (so G learns to write them), with the discriminator
just updated. Every parameter is in exactly one group and each group's loss reaches its own parameters.

Everything else is the GAN family's (models/gan.py): the players (DCGAN or MLP layouts), the losses (`loss=bce`,
hinge, lsgan, relativistic, wgan-gp), spectral norm, R1, DiffAugment (Q reads the augmented fakes D scores), the
health watch, the reuse of a step's fakes and exact resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from genzoo import checks
from genzoo.data.batches import Batch
from genzoo.errors import GenzooError
from genzoo.models.base import DECODE, SAMPLE, StepOutput
from genzoo.models.gan import GAN, GENERATOR, GANConfig, Noise
from genzoo.models.registry import register
from genzoo.nets.gan_losses import discriminator_loss, generator_loss
from genzoo.nets.gan_nets import LEAKY_SLOPE, DCGenerator, MLPGenerator, norm_layer
from genzoo.nets.mlp import ACTIVATIONS

QStd = Literal["fixed", "learned"]
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# Chen et al. 2016, fig. 2 (c)-(d): the continuous codes, drawn from U[-1, 1] in training, are varied from -2 to 2,
# which shows how they extrapolate.
SWEEP = (-2.0, 2.0)


@dataclass(frozen=True)
class InfoGANConfig(GANConfig):
    preset: Literal["small", "wide", "dcgan", "classic-64"] = "dcgan"
    # The paper's MNIST latent (appendix C.1 and its reference code): 62 noise values from U[-1, 1], one 10-way
    # categorical code, two continuous codes from U[-1, 1].
    noise: Noise | None = "uniform"
    noise_dim: int | None = 62
    categorical: int = 10  # values of the categorical code (0: none; else at least 2)
    continuous: int = 2  # continuous codes, each U[-1, 1]
    lambda_cat: float = 1.0  # weight of the categorical code's cross-entropy (the paper's lambda = 1)
    lambda_cont: float = 0.1  # weight of the continuous codes' Gaussian NLL (the paper: smaller than for discrete)
    q_std: QStd = "fixed"  # fixed: Q's Gaussian has sigma 1 (the paper's MNIST code); learned: Q outputs a log-std
    q_hidden: int = 128  # width of Q's hidden layer (the paper's MNIST Q: FC 128)
    # The paper's Adam learning rates (appendix C): 2e-4 for D (and Q), 1e-3 for G; DCGAN's betas (0.5, 0.999).
    lr_g: float | None = 1e-3
    lr_d: float | None = 2e-4

    def __post_init__(self):
        super().__post_init__()
        checks.check(
            self.categorical == 0 or self.categorical >= 2,
            "model.categorical",
            self.categorical,
            "0 (no categorical code) or at least 2 values (10 for MNIST's digits)",
        )
        checks.at_least("model.continuous", self.continuous, 0)
        if self.categorical == 0 and self.continuous == 0:
            raise checks.conflict("model.continuous", 0, "a code: with model.categorical=0, at least one continuous")
        checks.at_least("model.lambda_cat", self.lambda_cat, 0)
        checks.at_least("model.lambda_cont", self.lambda_cont, 0)
        checks.positive("model.q_hidden", self.q_hidden)


def information_loss(
    q: torch.Tensor, codes: torch.Tensor, categorical: int, continuous: int, learned_std: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Q's negative log-likelihood of the codes it should recover, in nats per image (fp32).

    q: (B, K + J [+ J]) Q's outputs: K logits, J Gaussian means [, J log-stds]; codes: (B, K + J) the generator's
    [onehot(c_cat), c_cont]. -> (cross-entropy of c_cat, Gaussian NLL of c_cont summed over its J codes, Q's
    accuracy on c_cat); a part the model lacks is 0."""
    q, codes = q.float(), codes.float()
    zero = q.new_zeros(())
    cat_nll, accuracy = zero, zero
    if categorical:
        logits, target = q[:, :categorical], codes[:, :categorical].argmax(1)
        cat_nll = F.cross_entropy(logits, target)
        accuracy = (logits.detach().argmax(1) == target).float().mean()
    cont_nll = zero
    if continuous:
        mean = q[:, categorical : categorical + continuous]
        log_std = q[:, categorical + continuous :] if learned_std else torch.zeros_like(mean)
        c = codes[:, categorical:]
        # -log N(c; mean, exp(log_std)^2) = log_std + (c - mean)^2 / (2 exp(2 log_std)) + log(2 pi) / 2
        cont_nll = (log_std + 0.5 * ((c - mean) * torch.exp(-log_std)).pow(2) + HALF_LOG_2PI).sum(1).mean()
    return cat_nll, cont_nll, accuracy


class QHead(nn.Module):
    """Q's own layers on the discriminator body's features -> (B, K + J [+ J]) code parameters. Conv body
    (B, C, b, b): a b x b convolution to q_hidden channels (a fully connected layer over the map), the
    discriminator's normalisation, LeakyReLU(0.2), a linear layer. MLP body (B, F): linear, activation, linear."""

    def __init__(self, body_out: nn.Module, hidden: int, outputs: int, norm: str | None, activation: str | None):
        super().__init__()
        if isinstance(body_out, nn.Conv2d):  # the DCGAN discriminator's last layer: in_channels x b x b -> 1
            layers = [
                nn.Conv2d(body_out.in_channels, hidden, body_out.kernel_size, bias=norm in (None, "none")),
                norm_layer(norm or "none", hidden),
                nn.LeakyReLU(LEAKY_SLOPE),
                nn.Flatten(),
            ]
        else:  # an MLP discriminator's last Linear
            layers = [nn.Linear(body_out.in_features, hidden), ACTIVATIONS[activation]()]
        self.net = nn.Sequential(*layers, nn.Linear(hidden, outputs))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


@register
class InfoGAN(GAN):
    name = "infogan"
    summary = (
        "InfoGAN: categorical + continuous latent codes that a Q head on D's body recovers (mutual information); "
        "sample --code K, traverse sweeps the codes"
    )
    bf16_safe = False
    Config = InfoGANConfig
    capabilities = frozenset({SAMPLE, DECODE})
    latent_prior = None  # one-hots, uniform codes and noise in one vector: no single prior for the explorers' axes

    def __init__(self, config: InfoGANConfig):
        super().__init__(config)  # the GAN's players; the generator is rebuilt below to read the codes too
        c = config
        channels = c.image_shape[0]
        shape = (channels, self.side, self.side)
        if c.network == "conv":
            self.generator = DCGenerator(self.latent_dim, shape, c.width_g)
        else:
            self.generator = MLPGenerator(self.latent_dim, c.hidden_g, shape, c.activation_g)
        outputs = c.categorical + c.continuous * (2 if c.q_std == "learned" else 1)
        self.q_head = QHead(self.discriminator.net[-1], c.q_hidden, outputs, c.norm_d, c.activation_d)
        self.to(memory_format=self.memory_format)
        self.latent_prior = None
        self._step_latent: tuple[int, Batch, torch.Tensor] | None = None  # the D phase's latents, for the G phase

    # -- the codes ----------------------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        c = self.config
        return c.noise_dim + c.categorical + c.continuous

    @property
    def latent_codes(self) -> tuple[int, int]:
        return self.config.categorical, self.config.continuous

    def noise(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | None = None,
        code: int | None = None,
    ) -> torch.Tensor:
        """(n, latent_dim) generator inputs [z, onehot(c_cat), c_cont]. The draws are the same whatever `code`
        is; `code` then replaces every c_cat (so `sample --code K` redraws the plain samples with c_cat = K)."""
        c, device = self.config, device or self.device
        z = super().noise(n, generator, device)  # (n, noise_dim)
        cat = torch.randint(max(c.categorical, 1), (n,), generator=generator, device=device)
        if code is not None:
            cat = torch.full_like(cat, code)
        cont = torch.rand((n, c.continuous), generator=generator, device=device).mul_(2).sub_(1)  # U[-1, 1]
        onehot = F.one_hot(cat, c.categorical).to(z.dtype) if c.categorical else z.new_zeros(n, 0)
        return torch.cat([z, onehot, cont], dim=1)

    def information(self, q: torch.Tensor, latent: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted information term of fakes drawn from `latent` (B, latent_dim) that Q read as q, and the
        terms to log (Q's NLL of each kind of code in nats, its accuracy on the categorical one)."""
        c = self.config
        cat_nll, cont_nll, accuracy = information_loss(
            q, latent[:, c.noise_dim :], c.categorical, c.continuous, c.q_std == "learned"
        )
        terms = {}
        if c.categorical:
            terms.update(q_categorical_nll=cat_nll.detach(), q_accuracy=accuracy)
        if c.continuous:
            terms["q_continuous_nll"] = cont_nll.detach()
        return c.lambda_cat * cat_nll + c.lambda_cont * cont_nll, terms

    # -- the game -------------------------------------------------------------------------------------------------
    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [*self.discriminator.parameters(), *self.q_head.parameters()]

    def body(self, images: torch.Tensor) -> torch.Tensor:
        """The discriminator's features, shared with Q: every layer of D but the last. Both GAN discriminators
        are a Sequential `net` whose last layer gives the logit (the MLP one reads flattened images). Read from
        D's own modules at each call (not registered twice: the state dict holds each weight once)."""
        return self.discriminator.net[:-1](images.flatten(1) if self.config.network == "mlp" else images)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """D's logits (B,) from the body's features."""
        return self.discriminator.net[-1](features).flatten()

    def read(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """D's logits (B,) and Q's outputs for images in the players' range, from one pass through the body."""
        features = self.body(images)
        return self.head(features), self.q_head(features)

    def discriminator_step(self, batch: Batch, step: int) -> StepOutput:
        x = self.real(batch.x)
        latent = self.noise(len(x), device=x.device)
        training = self.training and torch.is_grad_enabled()
        keep = training and GENERATOR in self.phases(step)  # the generator phase reuses these fakes
        fake = self.draw_fakes(lambda: self.fake(latent, None), step, batch, None, keep).detach()
        self._step_latent = (step, batch, latent) if keep else None
        params = self.augment_params(step, batch, len(x), x.device, keep)
        real_seen, fake_seen = self.augmented(x, params), self.augmented(fake, params)  # (DiffAugment, if on)
        if self.joint_pass:  # no batch norm in D: real and fake images in one pass
            features = self.body(torch.cat([real_seen, fake_seen]))
            real_logits, fake_logits = self.head(features).split(len(x))
            q = self.q_head(features[len(x) :])
        else:  # batch norm: real and fake batches normalised apart (DCGAN practice)
            real_logits = self.head(self.body(real_seen))
            fake_logits, q = self.read(fake_seen)
        info, info_terms = self.information(q, latent)
        c = self.config
        if c.loss == "wgan-gp":
            if training:
                self.health.tick(step)
            out = self.critic_loss(x, fake, None, real_logits, fake_logits, params)
            return StepOutput(out.loss + info, {**out.terms, **info_terms})
        loss = discriminator_loss(c.loss, real_logits, fake_logits, c.label_smoothing)
        if training:
            self.health.observe(loss, step)  # the adversarial part alone has the loss floor the watch knows
        d_real, d_fake = self.loss.scores(real_logits.detach().float(), fake_logits.detach().float())
        terms = {"d_real": d_real, "d_fake": d_fake, **info_terms}
        if c.r1_weight > 0 and (not training or step % c.r1_every == 0):  # as the GAN's (lazy: every r1_every-th)
            penalty = self.r1_penalty(x, None, params)
            loss = loss + ((c.r1_every if training else 1) * c.r1_weight / 2) * penalty
            terms["r1_penalty"] = penalty.detach()
        return StepOutput(loss + info, terms)

    def generator_step(self, batch: Batch, step: int) -> StepOutput:
        pending = self.take_fakes(step, batch)
        kept, self._step_latent = self._step_latent, None
        if pending is not None and kept is not None and kept[0] == step and kept[1] is batch:
            fake, latent = pending.fake, kept[2]
        else:  # called on its own (evaluation, tests): fresh draws
            latent = self.noise(len(batch), device=batch.x.device)
            fake = self.fake(latent, None)
        params = self.generator_augment(step, batch, len(fake), fake.device)
        logits, q = self.read(self.augmented(fake, params))
        real_logits = self.real_scores_for_generator(batch, params)
        info, _ = self.information(q, latent)
        return StepOutput(generator_loss(self.config.loss, logits, real_logits) + info)

    # -- what it can do -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        labels: torch.Tensor | None = None,
        code: int | None = None,
    ) -> torch.Tensor:
        """n images; `code` fixes the categorical code (else drawn uniformly), the rest as usual."""
        if code is not None and not 0 <= code < self.config.categorical:
            raise GenzooError(self.code_range_error(code))
        return self.decode(self.noise(n, generator, code=code))

    def code_range_error(self, code: int) -> str:
        k = self.config.categorical
        if not k:
            return f"--code {code}: this {self.name} has no categorical code (model.categorical=0)"
        return f"--code {code} is out of range; this model's categorical code takes 0..{k - 1}"

    @torch.no_grad()
    def code_traversal(
        self, steps: int = 11, dims: list[int] | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """A grid sweeping the codes from one noise draw z (fixed by `generator`), the continuous codes other than
        the swept one at 0: for each continuous code j in `dims` (default all), one row per categorical value k
        (top to bottom) with c_j going from -2 to 2 across `steps` columns (Chen et al. 2016, fig. 2). Without
        continuous codes, one row per value with a new z in each column; without a categorical code, one row per
        continuous code. -> (rows * steps, C, H, W) images."""
        c = self.config
        k, j = c.categorical, c.continuous
        dims = list(range(j)) if dims is None else list(dims)
        if not all(0 <= d < j for d in dims) or (j and not dims):
            raise GenzooError(
                f"traverse --dims {' '.join(map(str, dims))}: this model's continuous codes are 0..{j - 1}"
                if j
                else f"traverse --dims: this {self.name} has no continuous codes (model.continuous=0)"
            )
        draw = self.noise(1 if j else steps, generator)  # (1 or steps, latent_dim)
        values = max(k, 1)
        cats = torch.arange(values, device=draw.device)
        if not j:  # rows: categorical values; columns: noise draws
            latent = draw.repeat(values, 1)
            latent[:, c.noise_dim : c.noise_dim + k] = F.one_hot(cats.repeat_interleave(steps), k).to(draw.dtype)
            return self.decode(latent)
        sweep = torch.linspace(*SWEEP, steps, device=draw.device)
        blocks = []
        for d in dims:
            latent = draw.repeat(values * steps, 1)
            if k:
                latent[:, c.noise_dim : c.noise_dim + k] = F.one_hot(cats.repeat_interleave(steps), k).to(draw.dtype)
            latent[:, c.noise_dim + k :] = 0
            latent[:, c.noise_dim + k + d] = sweep.repeat(values)
            blocks.append(latent)
        return self.decode(torch.cat(blocks))
