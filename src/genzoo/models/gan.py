"""Generative adversarial networks, one class for the family: GAN (Goodfellow et al. 2014), DCGAN (Radford et al.
2016), conditional GAN (Mirza & Osindero 2014), WGAN-GP (Gulrajani et al. 2017) and SN-GAN (Miyato et al. 2018).

Two players, two optimizer groups, updated in turn by the one trainer: at every step the "discriminator" phase
(a WGAN's critic) and then the "generator" phase (a WGAN-GP's generator only every n_critic-th step). The
discriminator phase draws the step's noise and keeps the generator's graph of those fakes; the generator phase
then scores the same fakes with the just-updated discriminator, as the PyTorch DCGAN example does, so a step
runs the generator forward once. Losses are on logits, each with its discriminator and generator form
(nets/gan_losses.py): `loss=bce` (non-saturating, with one-sided label smoothing), `wgan-gp` (the critic's
Wasserstein estimate + lambda (||grad D(x_hat)||_2 - 1)^2, x_hat between x and G(z)), `hinge`, `lsgan` and
`relativistic` (relativistic average).

Options for any loss and network: `spectral_norm` (every discriminator weight over its largest singular value,
nets/gan_nets.spectral_normalize), `r1_weight` (gamma/2 E|grad_x D(x)|^2 on real images, Mescheder et al. 2018;
`r1_every` N: lazily, N times the penalty every N-th step, Karras et al. 2020) and `diffaugment` (DiffAugment,
Zhao et al. 2020, nets/augment.py: one draw of random transformations per step, applied to the real and the fake
images the discriminator scores and to the fakes of the generator's loss). Spectral normalisation and R1 take
batch norm out of the discriminator unless norm_d says otherwise.

The variants change defaults, not code: `dcgan` is the convolutional network, `cgan` feeds one-hot labels to
both players (`conditioning=projection`: the discriminator takes them through a projection instead, Miyato & Koyama
2018), `wgan-gp` the Wasserstein loss, `sngan` the hinge loss with spectral normalisation (acgan.py adds the
auxiliary-classifier GAN). Any preset
combines with any variant (`cgan` with preset=dcgan is a conditional DCGAN). The shared adversarial pieces
(health checks, the reuse of a step's fakes, the players' Adam checks) live here too and are reused by the
adversarial autoencoder (aae.py).
"""

from __future__ import annotations

import math
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from genzoo import checks
from genzoo.data.batches import Batch, to_float
from genzoo.data.types import ImageSplit
from genzoo.errors import GenzooError
from genzoo.models.base import (
    CONDITIONAL,
    DECODE,
    ENCODE,
    RECONSTRUCT,
    SAMPLE,
    GenerativeModel,
    ModelConfig,
    OptimizerGroup,
    StepOutput,
)
from genzoo.models.registry import register
from genzoo.nets import augment
from genzoo.nets.gan_losses import LOSSES, bce, discriminator_loss, generator_loss
from genzoo.nets.gan_losses import binary_entropy as binary_entropy  # re-exported: aae.py and tests read it here
from genzoo.nets.gan_nets import (
    CONDITIONINGS,
    LEAKY_SLOPE,
    DCDiscriminator,
    DCGenerator,
    MLPDiscriminator,
    MLPGenerator,
    conv_layout,
    spectral_normalize,
)

DISCRIMINATOR, GENERATOR = "discriminator", "generator"

# ---------------------------------------------------------------------------------------------------------------
# Pieces shared by every adversarial model (GANs here, the adversarial autoencoder in aae.py).


class TrainingHealthWarning(UserWarning):
    """Adversarial training has gone wrong in one of the usual ways (the discriminator won, samples collapsed)."""


def mean_pairwise_distance(images: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance over all pairs of (N, C, H, W) images, in [0, 1] pixel units: a cheap diversity
    figure (a collapsed generator draws near-identical images)."""
    return torch.pdist(images.flatten(1).float()).mean()


class AdversarialHealth(nn.Module):
    """Watches for the usual failures of adversarial training without syncing the host during training.

    - The discriminator wins outright: its loss stays within `margin` nats of its floor (0 with hard labels,
      H(1 - smoothing) with one-sided smoothing) for `patience` consecutive steps. The generator's gradient
      then vanishes. Counted on the device (two int64 scalars), read once per epoch by `report`.
    - Samples collapse: the mean pairwise distance of a fixed batch of samples falls below `collapse_ratio`
      times that of real test images (mode collapse: many noise vectors, one image). An untrained generator's
      samples are alike too, so this warns only once the samples had been diverse (a collapse), or when they
      still are not after `settle_reports` reports (a generator that never spread out).

    The counters are persistent buffers, so a resumed run warns exactly as the uninterrupted one.
    """

    def __init__(
        self,
        model_name: str,
        loss_floor: float,
        margin: float = 0.1,
        patience: int = 100,
        collapse_ratio: float = 0.5,
        diversity_samples: int = 256,
        settle_reports: int = 3,
        advice: str = "try a lower model.lr_d, label smoothing (model.label_smoothing=0.1) or a smaller discriminator",
    ):
        super().__init__()
        self.model_name, self.threshold, self.patience = model_name, loss_floor + margin, patience
        self.advice = advice  # what the discriminator-win warning suggests (it depends on the loss)
        self.collapse_ratio, self.diversity_samples, self.settle_reports = (
            collapse_ratio,
            diversity_samples,
            settle_reports,
        )
        self.register_buffer("streak", torch.zeros((), dtype=torch.int64))  # current run of near-floor steps
        self.register_buffer("longest", torch.zeros((), dtype=torch.int64))  # longest run since the last report
        self.register_buffer("reports", torch.zeros((), dtype=torch.int64))  # diversity reports so far
        self.register_buffer("peak_diversity", torch.zeros(()))  # the highest diversity reported so far
        self.last_step = 0  # for the messages only

    ADDED_STATE = ("reports", "peak_diversity")  # newer than the first checkpoints; a model lists them as optional

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints written before `reports` and `peak_diversity` existed load with their starting values.
        for name in self.ADDED_STATE:
            state_dict.setdefault(prefix + name, getattr(self, name).clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def observe(self, discriminator_loss: torch.Tensor, step: int) -> None:
        """One training step's discriminator loss (a scalar on the device); a few tiny kernels, no sync."""
        low = discriminator_loss.detach() < self.threshold
        self.streak.copy_(torch.where(low, self.streak + 1, 0))
        torch.maximum(self.longest, self.streak, out=self.longest)
        self.tick(step)

    def tick(self, step: int) -> None:
        """A training step happened (every loss calls this, a critic's too): for the messages only."""
        self.last_step = step + 1  # steps done, as metrics.jsonl counts them (`step` is 0-based)

    def _when(self) -> str:
        """ " by step N" in training; nothing when the model was loaded to be evaluated (no step seen)."""
        return f" by step {self.last_step}" if self.last_step else ""

    def report(self, samples: torch.Tensor, real: torch.Tensor, watch_discriminator: bool = True) -> dict[str, float]:
        """Figures for the epoch's test line, with a TrainingHealthWarning for each failure seen. `samples` and
        `real`: (N, C, H, W) in [0, 1]. Called under no_grad (the trainer's diagnostics hook)."""
        figures: dict[str, float] = {}
        if watch_discriminator:
            longest = int(self.longest)  # the one host sync, once per epoch
            self.longest.zero_()
            figures["discriminator_win_steps"] = float(longest)
            if longest >= self.patience:
                warnings.warn(
                    f"{self.model_name}: the discriminator is winning outright: its loss stayed below "
                    f"{self.threshold:.3g} for {longest} consecutive steps{self._when()}, so the "
                    f"generator learns little; {self.advice}",
                    TrainingHealthWarning,
                    stacklevel=2,
                )
        ratio = float(mean_pairwise_distance(samples) / mean_pairwise_distance(real).clamp_min(1e-8))
        figures["sample_diversity"] = ratio
        self.reports += 1
        was_diverse = float(self.peak_diversity) >= self.collapse_ratio
        self.peak_diversity.clamp_(min=ratio)
        if ratio < self.collapse_ratio and (was_diverse or int(self.reports) >= self.settle_reports):
            how = f"down from {float(self.peak_diversity):.2f}" if was_diverse else f"after {int(self.reports)} reports"
            warnings.warn(
                f"{self.model_name}: samples are collapsing: {len(samples)} fixed samples are {ratio:.2f} times as "
                f"diverse as real test images ({how}; mean pairwise distance, healthy runs are near 1)"
                f"{self._when()}; the generator covers few modes",
                TrainingHealthWarning,
                stacklevel=2,
            )
        return figures


def discriminator_bce(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    smoothing: float,
    health: AdversarialHealth | None,
    step: int,
    names: tuple[str, str],
) -> StepOutput:
    """The discriminator's BCE on logits (B,) of real and fake inputs, real targets 1 - smoothing (one-sided),
    shown to `health` in training (None otherwise), with D's mean belief that each kind is real: near 0.5 / 0.5 at
    equilibrium, 1 / 0 when D wins. `names`: the two terms' names (real first)."""
    loss = bce(real_logits, 1.0 - smoothing) + bce(fake_logits, 0.0)
    if health is not None:
        health.observe(loss, step)
    terms = {
        names[0]: torch.sigmoid(real_logits.detach().float()).mean(),
        names[1]: torch.sigmoid(fake_logits.detach().float()).mean(),
    }
    return StepOutput(loss, terms)


def real_images(split: ImageSplit, n: int, device: torch.device) -> torch.Tensor:
    return to_float(split.images[:n]).to(device)


def check_players_adam(settings: ModelConfig, players: tuple[str, ...]) -> None:
    """Adam's lr_P > 0 and betas_P in [0, 1) for each player P: the optimizers of an adversarial model are its own
    (train.lr and train.betas do not apply)."""
    for player in players:
        checks.positive(f"model.lr_{player}", getattr(settings, f"lr_{player}"))
    for player in players:
        checks.adam_betas(f"model.betas_{player}", getattr(settings, f"betas_{player}"))


def check_label_smoothing(settings: ModelConfig) -> None:
    """label_smoothing in [0, 0.5), a setting every adversarial model has."""
    checks.check(
        0 <= settings.label_smoothing < 0.5,
        "model.label_smoothing",
        settings.label_smoothing,
        "[0, 0.5) (0.1 is usual)",
    )


class PendingFakes(NamedTuple):
    """The discriminator phase's fakes, kept with their graph for the generator phase of the same step."""

    step: int
    batch: Batch
    fake: torch.Tensor  # the generator's output (a GAN's images, an AAE's codes), attached to its graph
    labels: torch.Tensor | None


class ReusesFakes:
    """Mixin of the adversarial models: carries the fakes of a step's discriminator phase to its generator phase,
    so that a step runs the generator (a GAN's generator, an AAE's encoder) forward once, as the PyTorch DCGAN
    example does. The generator phase takes them only when they are from the same step and batch and it is
    training; otherwise it draws its own."""

    _pending: PendingFakes | None = None

    def draw_fakes(
        self, make: Callable[[], torch.Tensor], step: int, batch: Batch, labels: torch.Tensor | None, keep: bool
    ) -> torch.Tensor:
        """make() with its graph, kept for the generator phase, when `keep`; under no_grad otherwise. Not under
        torch.compile: a compiled phase's backward frees all its saved tensors, so the generator phase draws
        its own fakes there. The caller detaches what it feeds the discriminator."""
        if keep and not torch.compiler.is_compiling():
            fake = make()
            self._pending = PendingFakes(step, batch, fake, labels)
            return fake
        with torch.no_grad():
            return make()

    def take_fakes(self, step: int, batch: Batch) -> PendingFakes | None:
        """The kept fakes of this step and batch (once), or None."""
        pending, self._pending = self._pending, None
        if pending is not None and pending.step == step and pending.batch is batch and torch.is_grad_enabled():
            return pending
        return None


# ---------------------------------------------------------------------------------------------------------------
# The GAN family.

Network = Literal["mlp", "conv"]
Noise = Literal["gaussian", "uniform"]
Output = Literal["sigmoid", "tanh"]
Norm = Literal["batch", "layer", "none"]
# The adversarial players' activations (nets/mlp.py's table); a bare leaky_relu means slope 0.2 here.
GANActivation = Literal["relu", "leaky_relu", "leaky_relu_0.2", "leaky_relu_0.01", "tanh", "elu", "silu"]
Loss = Literal["bce", "wgan-gp", "hinge", "lsgan", "relativistic"]  # nets/gan_losses.py

PRESETS: dict[str, dict[str, Any]] = {
    # (a) The TensorFlow tutorial GAN (A. Kristiadi, "Generative Adversarial Nets in TensorFlow", 2016): noise
    # U[-1, 1]^100, G 100-128-784 ReLU/sigmoid, D 784-128-1 ReLU; Adam with TensorFlow's defaults.
    "small": dict(
        network="mlp",
        noise="uniform",
        noise_dim=100,
        hidden_g=(128,),
        hidden_d=(128,),
        activation_g="relu",
        activation_d="relu",
        output="sigmoid",
        lr_g=1e-3,
        lr_d=1e-3,
        betas_g=(0.9, 0.999),
        betas_d=(0.9, 0.999),
    ),
    # (b) The PyTorch tutorial GAN: N(0, I)^100, G 100-1024-1024-784 ReLU/tanh, D 784-256-256-1 LeakyReLU(0.2).
    "wide": dict(
        network="mlp",
        noise="gaussian",
        noise_dim=100,
        hidden_g=(1024, 1024),
        hidden_d=(256, 256),
        activation_g="relu",
        activation_d="leaky_relu_0.2",
        output="tanh",
        lr_g=2e-4,
        lr_d=2e-4,
        betas_g=(0.5, 0.999),
        betas_d=(0.5, 0.999),
    ),
    # DCGAN (Radford et al. 2016): the layout of gan_nets.DCGenerator at the data's side; Adam 2e-4, beta1 0.5.
    "dcgan": dict(
        network="conv",
        noise="gaussian",
        noise_dim=100,
        width_g=64,
        width_d=64,
        norm_d="batch",
        output="tanh",
        lr_g=2e-4,
        lr_d=2e-4,
        betas_g=(0.5, 0.999),
        betas_d=(0.5, 0.999),
    ),
}
# The PyTorch examples' dcgan at 64x64 (nz=100, ngf=ndf=64); smaller images are resized up to 64 for it.
PRESETS["classic-64"] = {**PRESETS["dcgan"], "image_size": 64}
# What a loss changes before the preset applies: WGAN-GP's Algorithm 1 (Gulrajani et al. 2017): Adam 1e-4 with
# betas (0, 0.9), five critic steps per generator step, and no batch norm in the critic (the penalty is per image;
# the paper suggests layer normalisation).
LOSS_DEFAULTS: dict[str, dict[str, Any]] = {
    "bce": dict(n_critic=1),
    "wgan-gp": dict(n_critic=5, norm_d="layer", lr_g=1e-4, lr_d=1e-4, betas_g=(0.0, 0.9), betas_d=(0.0, 0.9)),
    "hinge": dict(n_critic=1),
    "lsgan": dict(n_critic=1),
    "relativistic": dict(n_critic=1),
}
assert set(LOSS_DEFAULTS) == set(LOSSES) == set(typing.get_args(Loss))
# What spectral normalisation or an R1 penalty changes last: no batch norm in the discriminator. SN-GAN's
# discriminators have none (Miyato et al. 2018, appendix B.4: spectral normalisation takes its place), and R1 is a
# per-image gradient penalty (Mescheder et al. 2018), which batch statistics would mix across images.
REGULARIZED_D_DEFAULTS: dict[str, Any] = dict(norm_d="none")
# Anything neither the loss nor the preset sets (e.g. width_g for preset=wide with network=conv).
FALLBACK: dict[str, Any] = {**PRESETS["wide"], **PRESETS["dcgan"], "network": "mlp", "output": "tanh"}
# The fields only one network reads; the other's stay None (null in config.yaml).
NETWORK_FIELDS: dict[str, frozenset[str]] = {
    "mlp": frozenset({"hidden_g", "hidden_d", "activation_g", "activation_d"}),
    "conv": frozenset({"width_g", "width_d", "norm_d", "image_size"}),
}


def _positive(value: Any) -> bool:
    """A setting given as a number above 0 (resolve sees the raw settings, before the type checks)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class GANConfig(ModelConfig):
    preset: Literal["small", "wide", "dcgan", "classic-64"] = "wide"
    loss: Loss = "bce"
    # Every field below left at None takes its value from the loss, then the preset (see PRESETS); the saved
    # config.yaml holds the resolved values.
    network: Network | None = None  # mlp: fully connected players; conv: DCGAN's
    noise: Noise | None = None  # the generator's input distribution: N(0, I) or U[-1, 1]
    noise_dim: int | None = None
    hidden_g: tuple[int, ...] | None = None  # mlp: generator widths
    hidden_d: tuple[int, ...] | None = None  # mlp: discriminator widths
    activation_g: GANActivation | None = None  # mlp (a bare leaky_relu is leaky_relu_0.2)
    activation_d: GANActivation | None = None
    width_g: int | None = None  # conv: ngf, the generator's channels at its last stage (doubling inwards)
    width_d: int | None = None  # conv: ndf, the discriminator's channels at its first stage
    norm_d: Norm | None = None  # conv: the discriminator's normalisation (the generator always uses batch norm)
    output: Output | None = None  # the generator's output: sigmoid images in [0, 1] or tanh in [-1, 1]
    image_size: int | None = None  # conv: the side the players work at (None: the data's; others are resized)
    n_critic: int | None = None  # discriminator steps per generator step (one new batch each)
    lr_g: float | None = None  # Adam per player (train.lr and train.betas do not apply to GANs)
    lr_d: float | None = None
    betas_g: tuple[float, float] | None = None
    betas_d: tuple[float, float] | None = None
    gp_weight: float = 10.0  # wgan-gp: lambda
    label_smoothing: float = 0.0  # bce: real targets are 1 - label_smoothing (one-sided)
    spectral_norm: bool = False  # every discriminator weight divided by its largest singular value (Miyato et al.)
    r1_weight: float = 0.0  # gamma of the R1 penalty gamma/2 E_x |grad_x D(x)|^2 on real images (Mescheder et al.)
    r1_every: int = 1  # R1 on every N-th step only, scaled by N (lazy regularisation, Karras et al. 2020)
    diffaugment: str = "none"  # DiffAugment policies (Zhao et al. 2020): none, or a comma list of color,
    # translation, cutout (nets/augment.py)
    channels_last: bool = True  # conv: NHWC tensors and weights (faster oneDNN / cuDNN kernels)
    activation_slopes: ClassVar[dict] = {"activation_g": LEAKY_SLOPE, "activation_d": LEAKY_SLOPE}

    @classmethod
    def resolve(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """Fill every setting left at None from the loss's defaults, then the preset's, then FALLBACK (all with
        explicit activation names); the other network's settings stay None."""
        settings = super().resolve(settings)
        preset, loss = cls.setting(settings, "preset"), cls.setting(settings, "loss")
        checks.one_of("model.preset", preset, PRESETS)  # a config built in Python bypasses the Literal check
        checks.one_of("model.loss", loss, LOSS_DEFAULTS)
        resolved = {**FALLBACK, **PRESETS[preset], **LOSS_DEFAULTS[loss]}
        if cls.setting(settings, "spectral_norm") is True or _positive(cls.setting(settings, "r1_weight")):
            resolved.update(REGULARIZED_D_DEFAULTS)
        network = cls.setting(settings, "network") or resolved["network"]
        (other,) = set(NETWORK_FIELDS) - {network}
        for name in sorted(NETWORK_FIELDS[other]):
            if cls.setting(settings, name) is not None:
                raise GenzooError(f"model.{name} applies to network={other}, but this model has network={network}")
        filled = {
            f.name: resolved[f.name]
            for f in fields(cls)
            if cls.setting(settings, f.name) is None and f.name in resolved and f.name not in NETWORK_FIELDS[other]
        }
        return {**settings, **filled}

    def __post_init__(self):
        if self.network == "mlp":
            checks.positive("model.noise_dim", self.noise_dim)
            checks.sizes("model.hidden_g", self.hidden_g)
            checks.sizes("model.hidden_d", self.hidden_d)
        else:
            for name in ("noise_dim", "width_g", "width_d"):
                checks.positive(f"model.{name}", getattr(self, name))
        checks.at_least("model.n_critic", self.n_critic, 1)
        check_players_adam(self, ("g", "d"))
        check_label_smoothing(self)
        checks.at_least("model.gp_weight", self.gp_weight, 0)
        if self.loss != "bce" and self.label_smoothing:
            raise checks.conflict(
                "model.label_smoothing",
                self.label_smoothing,
                f"loss=bce; loss={self.loss} has no labels to smooth"
                + (" (a Wasserstein critic scores, it does not classify)" if self.loss == "wgan-gp" else ""),
            )
        checks.at_least("model.r1_weight", self.r1_weight, 0)
        checks.at_least("model.r1_every", self.r1_every, 1)
        if self.r1_every > 1 and not self.r1_weight:
            raise checks.conflict("model.r1_every", self.r1_every, "model.r1_weight > 0 (it spaces the R1 penalty)")
        if self.r1_weight and self.loss == "wgan-gp":
            raise checks.conflict(
                "model.r1_weight",
                self.r1_weight,
                "a loss other than wgan-gp, whose critic has its own penalty (gp_weight)",
            )
        if self.r1_weight and self.network == "conv" and self.norm_d == "batch":
            raise checks.conflict(
                "model.r1_weight",
                self.r1_weight,
                "a discriminator without batch norm: R1 penalises each real image's gradient and batch norm mixes "
                "images; use model.norm_d=none or layer",
            )
        augment.parse_policy("model.diffaugment", self.diffaugment)
        if self.loss == "wgan-gp" and self.network == "conv" and self.norm_d == "batch":
            raise checks.conflict(
                "model.norm_d",
                self.norm_d,
                "loss=bce: a WGAN-GP critic's gradient penalty is per "
                "image and batch norm mixes images (Gulrajani et al. 2017, sec. 4); use "
                "model.norm_d=layer or none",
            )
        if self.image_size is not None:
            conv_layout(self.image_size)


@register
class GAN(ReusesFakes, GenerativeModel):
    name = "gan"
    summary = "fully connected GAN, presets small (TF tutorial) and wide (PyTorch tutorial); non-saturating BCE loss"
    # benchmarks/results/precision.md: FD-lenet within the (large) seed spread at 400 steps; the variants below
    # are not measured yet and stay fp32 under precision auto
    bf16_safe = True
    Config = GANConfig
    capabilities = frozenset({SAMPLE, DECODE})
    latent_prior = "gaussian"  # per instance: "uniform" for U[-1, 1] noise
    missing_reasons = dict.fromkeys(
        (ENCODE, RECONSTRUCT), "a GAN has no encoder; encode and reconstruct need an autoencoder (e.g. aae)"
    )
    optional_state = frozenset(f"health.{name}" for name in AdversarialHealth.ADDED_STATE)

    def __init__(self, config: GANConfig):
        super().__init__(config)
        c = config
        channels, height, width = c.image_shape
        self.side = c.image_size or height  # the players' side (the data's unless image_size says otherwise)
        shape = (channels, self.side, self.side)
        classes = c.num_classes if self.conditional else 0
        # How the discriminator reads the labels: concat / projection, or "none" (an unconditional one)
        conditioning = self.discriminator_conditioning() if classes else "none"
        d_classes = 0 if conditioning == "none" else classes
        if c.network == "conv":
            if height != width:
                raise GenzooError(f"{self.name} with network=conv needs square images; got {height}x{width}")
            if c.image_size is None:
                try:
                    conv_layout(height)
                except GenzooError as exc:
                    raise GenzooError(f"{exc}; set model.image_size (e.g. 32) to resize the data") from None
            self.generator = DCGenerator(c.noise_dim, shape, c.width_g, classes)
            self.discriminator = DCDiscriminator(shape, c.width_d, c.norm_d, d_classes, conditioning)
        else:
            self.generator = MLPGenerator(c.noise_dim, c.hidden_g, shape, c.activation_g, classes)
            self.discriminator = MLPDiscriminator(math.prod(shape), c.hidden_d, c.activation_d, d_classes, conditioning)
        if c.spectral_norm:
            spectral_normalize(self.discriminator)
        self.memory_format = torch.channels_last if c.network == "conv" and c.channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)
        self.latent_prior = c.noise  # "gaussian" or "uniform": the explorers' axes follow it
        self.joint_pass = not any(isinstance(m, nn.BatchNorm2d) for m in self.discriminator.modules())
        self.loss = LOSSES[c.loss]
        # The discriminator's loss floor (bce: H(1 - smoothing) from the real term; hinge, lsgan, relativistic: 0);
        # a Wasserstein critic's loss has none, and its health watch looks at sample diversity only.
        floor = self.loss.floor(c.label_smoothing)
        advice = (
            "try a lower model.lr_d, label smoothing (model.label_smoothing=0.1) or a smaller discriminator"
            if c.loss == "bce"
            else "try a lower model.lr_d, model.diffaugment=color,translation,cutout, model.r1_weight (e.g. 10) "
            "or a smaller discriminator"
        )
        self.health = AdversarialHealth(self.name, 0.0 if floor is None else floor, advice=advice)
        self.augment = augment.parse_policy("model.diffaugment", c.diffaugment)
        self._step_augment: tuple[int, Batch, augment.AugmentParams] | None = None  # kept for the generator phase
        both = (DISCRIMINATOR, GENERATOR)
        self._phase_cycle = tuple((DISCRIMINATOR,) if (i + 1) % c.n_critic else both for i in range(c.n_critic))

    def discriminator_conditioning(self) -> str:
        """How a conditional model's discriminator reads the labels: "concat" (one-hot planes or features at its
        input, Mirza & Osindero 2014), "projection" (Miyato & Koyama 2018) or "none" (unconditional)."""
        return "concat"

    # -- the game ---------------------------------------------------------------------------------------------
    def optimizer_groups(self) -> list[OptimizerGroup]:
        c = self.config
        return [
            OptimizerGroup(DISCRIMINATOR, self.discriminator_parameters(), c.lr_d, tuple(c.betas_d)),
            OptimizerGroup(GENERATOR, list(self.generator.parameters()), c.lr_g, tuple(c.betas_g)),
        ]

    @torch.no_grad()
    def real_scores_for_generator(
        self, batch: Batch, params: Any, labels: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """The real images' scores (B,) that the generator's loss compares with: relativistic only (None for the
        other losses), under the just-updated discriminator and the step's augmentation. They do not depend on the
        generator, so no graph is kept."""
        if not self.loss.needs_real:
            return None
        return self.discriminator(self.augmented(self.real(batch.x), params), labels)

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """The discriminator group's parameters: D's, and in a subclass the heads that share its features (AC-GAN's
        class head, InfoGAN's Q), which learn on the discriminator's step."""
        return list(self.discriminator.parameters())

    def phases(self, step: int) -> tuple[str, ...]:
        """Discriminator then generator; with n_critic = k the generator joins every k-th step (Gulrajani et al.
        2017, Algorithm 1: k critic iterations, each on a new batch, per generator iteration)."""
        return self._phase_cycle[step % len(self._phase_cycle)]

    @property
    def latent_dim(self) -> int:
        return self.config.noise_dim

    def noise(self, n: int, generator: torch.Generator | None = None, device: torch.device | None = None):
        """(n, noise_dim) draws of the generator's input distribution."""
        shape, device = (n, self.config.noise_dim), device or self.device
        if self.config.noise == "uniform":
            return torch.rand(shape, generator=generator, device=device).mul_(2).sub_(1)  # U[-1, 1]
        return torch.randn(shape, generator=generator, device=device)

    def fake(self, z: torch.Tensor, labels: torch.Tensor | None):
        """Noise (B, D) -> (B, C, S, S) images in the discriminator's input range (the output activation's)."""
        out = self.generator(z, labels)
        return torch.sigmoid(out) if self.config.output == "sigmoid" else torch.tanh(out)

    def real(self, x: torch.Tensor) -> torch.Tensor:
        """Data (B, C, H, W) in [0, 1] -> the players' side, range and memory layout."""
        if x.shape[-1] != self.side:  # e.g. MNIST 28x28 for the classic 64x64 layout
            x = F.interpolate(x, size=(self.side, self.side), mode="bilinear", align_corners=False)
        if self.config.output == "tanh":
            x = x * 2 - 1
        return x.contiguous(memory_format=self.memory_format)

    def training_step(self, batch: Batch, step: int, phase: str = DISCRIMINATOR) -> StepOutput:
        if phase == DISCRIMINATOR:
            return self.discriminator_step(batch, step)
        if phase == GENERATOR:
            return self.generator_step(batch, step)
        raise GenzooError(f"{self.name} has phases {DISCRIMINATOR!r} and {GENERATOR!r}, not {phase!r}")

    def discriminator_step(self, batch: Batch, step: int) -> StepOutput:
        x, labels = self.real(batch.x), self.labels_of(batch)
        z = self.noise(len(x), device=x.device)
        training = self.training and torch.is_grad_enabled()
        # Graph kept when this step has a generator phase: it backpropagates through the same fakes.
        keep = training and GENERATOR in self.phases(step)
        fake = self.draw_fakes(lambda: self.fake(z, labels), step, batch, labels, keep).detach()
        params = self.augment_params(step, batch, len(x), x.device, keep)
        real_logits, fake_logits = self.score(x, fake, labels, params)
        c = self.config
        # R1 on real images: every r1_every-th training step (scaled by r1_every), on every evaluation batch.
        r1 = c.r1_weight > 0 and (not training or step % c.r1_every == 0)
        penalty = self.r1_penalty(x, labels, params) if r1 else None
        if c.loss == "wgan-gp":
            if training:
                self.health.tick(step)
            return self.critic_loss(x, fake, labels, real_logits, fake_logits, params)
        loss = discriminator_loss(c.loss, real_logits, fake_logits, c.label_smoothing)
        if training:
            self.health.observe(loss, step)  # the adversarial part: a penalty would lift it off its floor
        d_real, d_fake = self.loss.scores(real_logits.detach().float(), fake_logits.detach().float())
        terms = {"d_real": d_real, "d_fake": d_fake}
        if penalty is not None:
            scale = c.r1_every if training else 1  # lazy: N x the penalty every N-th step has the same mean
            loss = loss + (scale * c.r1_weight / 2) * penalty
            terms["r1_penalty"] = penalty.detach()
        return StepOutput(loss, terms)

    def score(
        self,
        x: torch.Tensor,
        fake: torch.Tensor,
        labels: torch.Tensor | None,
        params: augment.AugmentParams | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The discriminator's logits (B,), (B,) for real images x and fakes, both through this step's DiffAugment
        (one draw of parameters for both) when it is on."""
        x, fake = self.augmented(x, params), self.augmented(fake, params)
        if self.joint_pass:  # one pass over real and fake images: the same function without batch norm, cheaper
            both = None if labels is None else torch.cat([labels, labels])
            real_logits, fake_logits = self.discriminator(torch.cat([x, fake]), both).split(len(x))
            return real_logits, fake_logits
        # batch norm: real and fake batches normalised apart (DCGAN practice)
        return self.discriminator(x, labels), self.discriminator(fake, labels)

    def augment_params(
        self, step: int, batch: Batch, n: int, device: torch.device, keep: bool
    ) -> augment.AugmentParams | None:
        """DiffAugment's random parameters for this step's n images, from the default generator (so a resumed run
        draws the same ones), or None when it is off. With `keep`, kept for the generator phase of the same step
        and batch, which transforms the fakes it scores with the very same draw."""
        if not self.augment:
            return None
        params = augment.draw(self.augment, n, self.side, self.side, device)
        self._step_augment = (step, batch, params) if keep else None
        return params

    def augmented(self, images: torch.Tensor, params: augment.AugmentParams | None) -> torch.Tensor:
        if params is None:
            return images
        return augment.apply(images, params).contiguous(memory_format=self.memory_format)

    def eager_discriminator(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """D(x) for a gradient penalty, whose double backward torch.compile's aot_autograd cannot take:
        train.compile compiles each network's __call__ in place (nn.Module.compile), and forward() is the eager
        function beneath it (no forward hooks run; nothing here registers any)."""
        return self.discriminator.forward(x, labels)

    def r1_penalty(
        self, x: torch.Tensor, labels: torch.Tensor | None, params: augment.AugmentParams | None
    ) -> torch.Tensor:
        """R1 (Mescheder et al. 2018, eq. 9 without its gamma/2): E_x |grad_x D(x)|^2 over the real images x
        (B, C, H, W), differentiable in D's weights in training. The gradient is taken at the real images before
        DiffAugment's transformation (this step's draw), as StyleGAN2-ADA does. Each logit depends on its own image
        only (no batch norm: the config refuses it), so the gradient of their sum is each image's own gradient. Its
        own eager forward of the real images (not the step's joint pass), so it also runs under train.compile."""
        create_graph = torch.is_grad_enabled()  # evaluation (no_grad) still measures the penalty
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            logits = self.eager_discriminator(self.augmented(x, params), labels)
            (grad,) = torch.autograd.grad(logits.float().sum(), x, create_graph=create_graph)
        return grad.float().flatten(1).pow(2).sum(dim=1).mean()

    def critic_loss(self, x, fake, labels, real_logits, fake_logits, params=None) -> StepOutput:
        """WGAN-GP (Gulrajani et al. 2017, Algorithm 1): the critic's estimate of the Wasserstein distance and the
        penalty on its gradient norm at random points between real and fake images (through DiffAugment's
        transformation when it is on, so the penalty is taken on what the critic scores)."""
        distance = real_logits.float().mean() - fake_logits.float().mean()
        penalty = self.gradient_penalty(self.augmented(x, params), self.augmented(fake, params), labels)
        loss = -distance + self.config.gp_weight * penalty
        return StepOutput(loss, {"wasserstein": distance.detach(), "gradient_penalty": penalty.detach()})

    def gradient_penalty(self, x: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """E (||grad_x_hat D(x_hat)||_2 - 1)^2 at x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per image (an eager
        forward: see eager_discriminator)."""
        eps = torch.rand(len(x), 1, 1, 1, device=x.device)
        create_graph = torch.is_grad_enabled()  # evaluation (no_grad) still measures the penalty
        with torch.enable_grad():
            between = torch.lerp(fake.to(x.dtype), x, eps).detach().requires_grad_(True)
            scores = self.eager_discriminator(between, labels)
            (grad,) = torch.autograd.grad(scores.float().sum(), between, create_graph=create_graph)
        return (grad.float().flatten(1).norm(dim=1) - 1).pow(2).mean()

    def generator_step(self, batch: Batch, step: int) -> StepOutput:
        pending = self.take_fakes(step, batch)
        if pending is not None:
            fake, labels = pending.fake, pending.labels
        else:  # called on its own (evaluation, tests): fresh noise
            labels = self.labels_of(batch)
            fake = self.fake(self.noise(len(batch), device=batch.x.device), labels)
        params = self.generator_augment(step, batch, len(fake), fake.device)
        logits = self.discriminator(self.augmented(fake, params), labels)
        real_logits = self.real_scores_for_generator(batch, params, labels)
        return StepOutput(generator_loss(self.config.loss, logits, real_logits))

    def generator_augment(self, step: int, batch: Batch, n: int, device: torch.device) -> augment.AugmentParams | None:
        """The draw this step's discriminator phase made (same step and batch, in training), else a fresh one."""
        kept, self._step_augment = self._step_augment, None
        if not self.augment:
            return None
        if kept is not None and kept[0] == step and kept[1] is batch and torch.is_grad_enabled():
            return kept[2]
        return augment.draw(self.augment, n, self.side, self.side, device)

    # -- what it can do ---------------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise self._cannot(ENCODE)  # (labels accepted: a conditional model's verbs all take them)

    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise self._cannot(RECONSTRUCT)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Noise (B, noise_dim) [+ labels (B,)] -> images (B, C, H, W) in [0, 1]."""
        if self.conditional and labels is None:
            raise GenzooError(f"{self.name} draws an image of a class: pass labels (B,) with the noise")
        images = self.fake(z, labels if self.conditional else None).float()
        if self.config.output == "tanh":
            images = (images + 1) / 2
        height, width = self.config.image_shape[1:]
        if images.shape[-2:] != (height, width):  # players at another side: back to the data's
            images = F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
        return images.clamp_(0, 1).contiguous()

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        z = self.noise(n, generator)
        if self.conditional and labels is None:  # no class asked for: classes drawn uniformly
            labels = torch.randint(self.config.num_classes, (n,), generator=generator, device=z.device)
        return self.decode(z, labels)

    def diagnostics(self, split: ImageSplit, batch_size: int) -> dict[str, float]:
        n = min(self.health.diversity_samples, len(split))
        labels = torch.arange(n, device=self.device) % self.config.num_classes if self.conditional else None
        samples = self.sample(n, torch.Generator(self.device).manual_seed(0), labels)
        return self.health.report(
            samples, real_images(split, n, self.device), watch_discriminator=self.loss.floor(0.0) is not None
        )


@dataclass(frozen=True)
class DCGANConfig(GANConfig):
    preset: Literal["small", "wide", "dcgan", "classic-64"] = "dcgan"


@register
class DCGAN(GAN):
    name = "dcgan"
    summary = "DCGAN: strided (transposed) convolutions with batch norm, 28/32/64 px, 1 or 3 channels"
    bf16_safe = False
    Config = DCGANConfig


@dataclass(frozen=True)
class CGANConfig(GANConfig):
    # Convolutional by default: with preset=wide the label-aware discriminator of 784-256-256 wins outright
    # within a few epochs on MNIST (the health check warns); the conditional DCGAN draws clean digits per class.
    preset: Literal["small", "wide", "dcgan", "classic-64"] = "dcgan"
    # How the discriminator reads the labels: concat (one-hot at its input, Mirza & Osindero 2014) or projection
    # (D(x, y) = psi(phi(x)) + <embed(y), phi(x)>, Miyato & Koyama 2018, whose setting adds spectral_norm and hinge).
    # The generator reads one-hot labels either way.
    conditioning: Literal["concat", "projection"] = "concat"

    def __post_init__(self):
        super().__post_init__()
        checks.one_of("model.conditioning", self.conditioning, CONDITIONINGS)  # a Python-built config skips Literal


@register
class CGAN(GAN):
    name = "cgan"
    summary = "conditional GAN (DCGAN players by default): one-hot labels into both players; sample --label N"
    bf16_safe = False
    Config = CGANConfig
    capabilities = GAN.capabilities | {CONDITIONAL}  # one-hot labels into both players

    def discriminator_conditioning(self) -> str:
        return self.config.conditioning


@dataclass(frozen=True)
class WGANGPConfig(GANConfig):
    preset: Literal["small", "wide", "dcgan", "classic-64"] = "dcgan"
    loss: Loss = "wgan-gp"


@register
class WGANGP(GAN):
    name = "wgan-gp"
    summary = "Wasserstein GAN with gradient penalty: n_critic critic steps per generator step, layer-norm critic"
    bf16_safe = False
    Config = WGANGPConfig


@dataclass(frozen=True)
class SNGANConfig(GANConfig):
    # SN-GAN (Miyato et al. 2018): the hinge loss (their eq. 16-17) and spectral normalisation of every
    # discriminator weight, no batch norm in the discriminator. Adam 2e-4, betas (0.5, 0.999), one discriminator
    # step per generator step: setting C of the paper's Table 1, the DCGAN setting of Radford et al. 2016 (the
    # dcgan preset's own), chosen over the ResNet runs' (0, 0.9) with five critic steps as a CPU budget's setting.
    preset: Literal["small", "wide", "dcgan", "classic-64"] = "dcgan"
    loss: Loss = "hinge"
    spectral_norm: bool = True


@register
class SNGAN(GAN):
    name = "sngan"
    summary = "SN-GAN: spectrally normalised discriminator (no batch norm), hinge loss, DCGAN players"
    bf16_safe = False
    Config = SNGANConfig
