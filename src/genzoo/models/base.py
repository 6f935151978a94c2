"""The model contract every genzoo model follows; the trainer and every tool rely on nothing else.

A model is an `nn.Module` built from one frozen `Config` dataclass. It owns its objective:

- `optimizer_groups()` names its parameter groups, one optimizer each (one group for an AE or a VAE; a GAN has
  a discriminator and a generator group).
- `phases(step)` says which groups are updated at a step, in order (default: all, in declaration order).
- `training_step(batch, step, phase)` returns the loss that phase's optimizer minimises plus terms to log.
  The trainer calls it once per phase, backpropagates, and steps that group's optimizer: alternating updates
  (a GAN's generator sees the discriminator after its update) need no second loop.

What a model can do is declared in `capabilities`, never guessed: a verb it does not declare raises
`CapabilityError` with one line that says why, which the CLI prints before exiting 2.

A model's settings are one frozen dataclass derived from `ModelConfig`. Settings whose default depends on other
settings (a GAN's preset, an AAE's prior) are filled in by the class's `resolve` before the dataclass is built,
so a config object always holds its final values and config.yaml records them.
"""

from __future__ import annotations

import abc
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from genzoo.data.batches import Batch
from genzoo.data.types import ImageSplit
from genzoo.errors import CapabilityError
from genzoo.nets.mlp import explicit_activation

ENCODE, DECODE, SAMPLE, RECONSTRUCT = "encode", "decode", "sample", "reconstruct"
DENOISE = "denoise"  # has corrupt(x): the noise it was trained to remove
CONDITIONAL = "conditional"  # sample/encode/decode take labels (B,) int64; batches' labels feed training
LOG_LIKELIHOOD = "log_likelihood"  # has log_weights(x, k): importance weights that estimate log p(x) (evaluate/)
ALL_CAPABILITIES = (ENCODE, DECODE, SAMPLE, RECONSTRUCT, DENOISE, CONDITIONAL, LOG_LIKELIHOOD)

# What codes are drawn from, for the explorers (axis ranges, paths between codes, random codes):
#   gaussian     p(z) = N(0, I): Gaussian quantiles, spherical paths
#   uniform      U[-1, 1] per dimension (a GAN fed uniform noise)
#   mixture      a learned mixture (the VampPrior): ranges are read from the test codes
#   conditional  one Gaussian per class, N(m_y, s_y^2) (the CVAE's learned prior)
# and None for codes without a prior of their own (autoencoders, a hierarchy's concatenated layers).
LatentPrior = Literal["gaussian", "uniform", "mixture", "conditional"]
LATENT_PRIORS: tuple[str, ...] = typing.get_args(LatentPrior)


class _ResolvedOnConstruction(type):
    """`Config(**settings)` builds the dataclass from `Config.resolve(settings)`: defaults that depend on other
    settings are filled in before the frozen object exists (keywords only, as YAML and dataclasses.replace pass)."""

    def __call__(cls, *args: Any, **settings: Any):
        return super().__call__(*args, **cls.resolve(settings))


@dataclass(frozen=True)
class ModelConfig(metaclass=_ResolvedOnConstruction):
    """Base of every model's Config. `image_shape` and `num_classes` are filled in from the data set."""

    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W)
    num_classes: int = 10
    # Fields that name an activation, with the slope a bare leaky_relu means in them (nets/mlp.py): the family's
    # meaning since before the names carried their slopes.
    activation_slopes: ClassVar[dict[str, float]] = {}

    @classmethod
    def resolve(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """The keyword settings given to the constructor -> the ones it is built from. A subclass fills in what
        its other settings imply (chaining to super()); left out, a field takes its dataclass default. Here: a
        bare leaky_relu becomes the table's name with the field's slope."""
        named = {
            name: explicit_activation(settings[name], slope)
            for name, slope in cls.activation_slopes.items()
            if name in settings
        }
        return {**settings, **named}

    @classmethod
    def default(cls, name: str) -> Any:
        """The dataclass default of field `name` on this class (a subclass may change it)."""
        return cls.__dataclass_fields__[name].default

    @classmethod
    def setting(cls, settings: dict[str, Any], name: str) -> Any:
        """The value field `name` will have: the one given, else the default."""
        return settings[name] if name in settings else cls.default(name)


@dataclass
class StepOutput:
    loss: torch.Tensor  # scalar minimised by this phase's optimizer
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # scalars to log, e.g. recon, kl (detached)


@dataclass
class OptimizerGroup:
    name: str
    params: list[nn.Parameter]
    lr: float | None = None  # None: train.lr
    betas: tuple[float, float] | None = None  # None: train.betas


MISSING_REASONS = {
    LOG_LIKELIHOOD: "a test log-likelihood needs a model that defines p(x): vae, iwae, cvae or another VAE",
}


class GenerativeModel(nn.Module, abc.ABC):
    name: ClassVar[str]
    summary: ClassVar[str]
    Config: ClassVar[type[ModelConfig]]
    capabilities: ClassVar[frozenset[str]] = frozenset()
    # Capabilities a config setting adds to an instance, with that setting: {"conditional": "model.prior=mixture"}.
    config_capabilities: ClassVar[dict[str, str]] = {}
    # What codes are drawn from (LatentPrior above); a model may set its instance's from its config (a GAN's noise)
    latent_prior: ClassVar[LatentPrior | None] = None
    # Why a verb the model does not declare is missing, per verb, for the one-line error (a model's entries are
    # added to these defaults).
    missing_reasons: ClassVar[dict[str, str]] = {}
    # State added after checkpoints of this model were first written: an older checkpoint may lack these keys
    # and the module gives them their starting values on load (see AdversarialHealth).
    optional_state: ClassVar[frozenset[str]] = frozenset()
    # Whether bf16 autocast trains this model as well as fp32: its quality figure at the same steps within the
    # seed-to-seed spread, measured by benchmarks/precision.py (results/precision.md; a contract test holds every
    # True to that file). Until measured, False: train.precision=auto gives the model fp32 on any hardware.
    bf16_safe: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.latent_prior is not None and cls.latent_prior not in LATENT_PRIORS:
            raise TypeError(
                f"{cls.__name__}.latent_prior={cls.latent_prior!r}; expected None or one of {', '.join(LATENT_PRIORS)}"
            )  # a programming error, found at import

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config

    @property
    def conditional(self) -> bool:
        """Whether labels feed the networks: the CONDITIONAL capability, declared by the class or (for a model
        that a setting makes conditional) by the instance."""
        return CONDITIONAL in self.capabilities

    def labels_of(self, batch: Batch) -> torch.Tensor | None:
        """The batch's labels (B,) for a conditional model, None for any other."""
        return batch.y if self.conditional else None

    # -- training ---------------------------------------------------------------------------------------------
    def optimizer_groups(self) -> list[OptimizerGroup]:
        return [OptimizerGroup("loss", [p for p in self.parameters() if p.requires_grad])]

    def phases(self, step: int) -> tuple[str, ...]:
        """The groups updated at `step`, in order. Default: every group, every step."""
        if not hasattr(self, "_phase_names"):  # cached: optimizer_groups() walks every parameter
            self._phase_names = tuple(group.name for group in self.optimizer_groups())
        return self._phase_names

    @abc.abstractmethod
    def training_step(self, batch: Batch, step: int, phase: str = "loss") -> StepOutput:
        """The loss of `phase` on `batch` at global step `step` (0-based), with terms to log."""

    def after_step(self, phase: str, step: int) -> None:
        """Called by the trainer right after `phase`'s optimizer stepped at `step`, outside autocast (a GAN updates
        the moving average of its generator's weights here, under torch.no_grad()). Must stay cheap and free of
        host syncs. Default: nothing."""

    def diagnostics(self, split: ImageSplit, batch_size: int) -> dict[str, float | list[float]]:
        """Extra test-set figures the model wants logged after each epoch beside its loss terms (a VAE: KL per
        latent dimension, active units). Called under no_grad in eval mode. Default: none."""
        return {}

    def forward(self, batch: Batch, step: int, phase: str = "loss") -> StepOutput:
        # forward() is training_step so that a DistributedDataParallel wrapper sees the whole objective.
        return self.training_step(batch, step, phase)

    # -- declared capabilities --------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        raise self._cannot(ENCODE)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> deterministic codes (B, D) (a VAE's posterior mean)."""
        raise self._cannot(ENCODE)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) codes -> (B, C, H, W) images in [0, 1] (the likelihood's mean)."""
        raise self._cannot(DECODE)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        if RECONSTRUCT not in self.capabilities:
            raise self._cannot(RECONSTRUCT)
        return self.decode(self.encode(x))

    def sample(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """n images (n, C, H, W) in [0, 1] drawn from the model; `generator` fixes the noise; `labels` (n,)
        picks the classes of a conditional model (others ignore it)."""
        raise self._cannot(SAMPLE)

    def log_weights(
        self, x: torch.Tensor, k: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(k, B) log importance weights log p(x, z_i) - log q(z_i | x), z_i ~ q(z | x), in nats, for images x
        (B, C, H, W): their mean is an ELBO estimate and their log-mean-exp the k-sample bound on log p(x), which
        tends to log p(x) as k grows (Burda et al. 2015). `generator` fixes the draws; a conditional model scores
        log p(x | labels)."""
        raise self._cannot(LOG_LIKELIHOOD)

    # Latent codes (InfoGAN): a categorical code of K values, which `sample(n, ..., code=k)` fixes (a model with
    # K > 0 takes that keyword), and J continuous ones, which `code_traversal` sweeps for `genzoo traverse`.
    @property
    def latent_codes(self) -> tuple[int, int]:
        """(K values of the categorical code, J continuous codes); (0, 0) for a model without codes (default)."""
        return 0, 0

    def code_traversal(
        self, steps: int = 11, dims: list[int] | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """A grid (rows * steps, C, H, W) that sweeps the model's codes from one noise draw (`generator`); `dims`
        picks continuous codes. Only for a model whose latent_codes are not (0, 0)."""
        raise CapabilityError(f"model {self.name!r} has no latent codes to sweep")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def conditioning(self, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Keyword arguments that hand class labels (B,) to encode/decode/reconstruct of a conditional model and
        nothing to any other, so callers write `model.encode(x, **model.conditioning(y))` whatever the model."""
        if labels is None or not self.conditional:
            return {}
        return {"labels": labels.to(self.device)}

    @classmethod
    def _cannot(cls, verb: str) -> CapabilityError:
        why = {**MISSING_REASONS, **cls.missing_reasons}.get(verb)
        reason = f" ({why})" if why else ""
        can = ", ".join(sorted(cls.capabilities)) or "nothing but train"
        return CapabilityError(f"model {cls.name!r} cannot {verb}{reason}; it can: {can}")
