"""Run configuration: frozen dataclasses, YAML in and out, dotted overrides, validation before any work.

A run is described by one `RunConfig`:

    model:  {name: vae, latent_dim: 20, ...}   # the model's own Config dataclass (models/*.py)
    data:   {dataset: mnist, ...}              # DataConfig
    train:  {epochs: 10, batch_size: 128, ...} # TrainConfig
    seed:   0

Defaults live beside each component; a YAML file and `--set section.key=value` overrides are merged over them
in that order. Every key is checked against the dataclass fields (an unknown key names the closest valid ones)
and every value against the field's type and range, so a typo fails in a second, not after an hour.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from genzoo import checks
from genzoo.errors import GenzooError, unknown

if TYPE_CHECKING:
    from genzoo.models.base import ModelConfig


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "mnist"
    data_dir: str | None = None  # where the IDX files are (default: $GENZOO_DATA_DIR, then the shipped data/)
    train_size: int | None = None  # keep only the first n training images (quick trials, tests)
    test_size: int | None = None  # keep only the first n test images
    # the last n training images (after train_size) held out for validation lines and train.keep_best; the test
    # set is never used to choose anything
    validation_size: int = 0
    # image-folder only: pictures are centre-cropped and resized to image_size, in 3 (RGB) or 1 (grey) channels,
    # and test_fraction of them (a fixed draw) make the test split.
    image_size: int = 32
    channels: int = 3
    test_fraction: float = 0.1

    def __post_init__(self):
        checks.positive("data.train_size", self.train_size)
        checks.positive("data.test_size", self.test_size)
        checks.at_least("data.validation_size", self.validation_size, 0)
        checks.check(4 <= self.image_size <= 1024, "data.image_size", self.image_size, "4..1024 (e.g. 32 or 64)")
        checks.check(self.channels in (1, 3), "data.channels", self.channels, "1 (grey) or 3 (RGB)")
        checks.check(0 < self.test_fraction < 1, "data.test_fraction", self.test_fraction, "(0, 1), e.g. 0.1")

    def folder_options(self):
        """The image-folder options as the data layer takes them (other data sets ignore them)."""
        from genzoo.data.types import FolderOptions  # a local import: the types need torch, a config does not

        return FolderOptions(self.image_size, self.channels, self.test_fraction)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    steps: int | None = None  # total optimizer steps; when set it replaces `epochs`
    batch_size: int = 128  # the global batch (split across processes under torchrun)
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    # adamw: the weight decay applied to the weights directly, not through Adam's gradient scaling (Loshchilov &
    # Hutter 2019); with adam it is an L2 term in the gradient
    optimizer: Literal["adam", "adamw"] = "adam"
    # The learning rate over the run (train/schedules.py): a factor on every optimizer group's lr, a function of
    # the step alone (so resume needs nothing saved for it).
    # plateau: cut by decay_factor after plateau_patience epochs without a better validation loss (needs
    # data.validation_size)
    schedule: Literal["constant", "cosine", "step", "plateau"] = "constant"
    warmup_steps: int = 0  # a linear ramp from lr / warmup_steps up to lr, in front of any schedule
    min_lr_ratio: float = 0.0  # cosine: the factor it reaches at the run's last step
    decay_every: int | None = None  # step: steps between two decays
    decay_factor: float = 0.1  # step, plateau: what each decay multiplies the lr by
    plateau_patience: int = 2  # plateau: epochs without a better validation loss before a cut
    clip_grad_norm: float | None = None  # rescale each update's gradients to at most this L2 norm (all its weights)
    keep_best: bool = False  # keep the checkpoint of the lowest validation loss in best/ (needs data.validation_size)
    # > 0: keep an exponential moving average of every weight (train/averaging.py; 0.999 is usual for GANs), which
    # the test lines, pictures, validation choices, `genzoo.load`, sample and evaluate use
    ema_decay: float = 0.0
    # auto: bf16 autocast where the device computes bf16 natively and the model keeps its quality in it, fp32
    # elsewhere (train/devices.py); a run's config.yaml records what it resolved to.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    compile: bool = False  # torch.compile the model (pays off for long runs only)
    log_every: int = 50  # steps between metrics.jsonl lines (and the only host syncs of the loop)
    checkpoint_every: int | None = None  # steps between checkpoints; None = at the end of every epoch
    keep_checkpoints: int = 2  # newest checkpoints kept on disk
    grid_size: int = 64  # images in each epoch's sample and reconstruction grids
    eval_batch_size: int = 1000
    tensorboard: bool = True  # write tb/ when the tensorboard package is installed

    def __post_init__(self):
        for name in (
            "epochs",
            "batch_size",
            "log_every",
            "keep_checkpoints",
            "grid_size",
            "eval_batch_size",
            "steps",
            "lr",
            "checkpoint_every",
            "decay_every",
            "plateau_patience",
            "clip_grad_norm",
        ):
            checks.positive(f"train.{name}", getattr(self, name))
        checks.adam_betas("train.betas", self.betas)
        checks.at_least("train.weight_decay", self.weight_decay, 0)
        checks.at_least("train.warmup_steps", self.warmup_steps, 0)
        checks.check(0 <= self.min_lr_ratio <= 1, "train.min_lr_ratio", self.min_lr_ratio, "0..1 (e.g. 0.01)")
        checks.check(0 < self.decay_factor <= 1, "train.decay_factor", self.decay_factor, "(0, 1], e.g. 0.1")
        checks.check(0 <= self.ema_decay < 1, "train.ema_decay", self.ema_decay, "[0, 1) (0 = off, 0.999 is usual)")
        if self.schedule == "step" and self.decay_every is None:
            raise checks.conflict("train.schedule", self.schedule, "train.decay_every (steps between two decays)")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise checks.invalid("train.device", self.device, "auto, cpu, cuda or cuda:N")


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig  # the model's own Config (models/base.py), chosen by model_name
    model_name: str
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0

    def __post_init__(self):
        if self.train.keep_best and not self.data.validation_size:
            raise checks.conflict("train.keep_best", True, "data.validation_size > 0 (the images it is chosen on)")
        if self.train.schedule == "plateau" and not self.data.validation_size:
            raise checks.conflict("train.schedule", "plateau", "data.validation_size > 0 (the loss it watches)")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": {"name": self.model_name, **_plain(dataclasses.asdict(self.model))},
            "data": _plain(dataclasses.asdict(self.data)),
            "train": _plain(dataclasses.asdict(self.train)),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> RunConfig:
        # Imported here, not at the top: the registry loads every model and torch, which `genzoo --help` and the
        # other quick commands do without. (Models do not import this module: no cycle.)
        from genzoo.models.registry import get_model_class

        raw = dict(raw or {})
        _check_keys(raw, {"model", "data", "train", "seed"}, source)
        model_raw = raw.get("model") or {}
        if not isinstance(model_raw, dict):
            raise GenzooError(
                f"{source}: model={model_raw!r}; expected a mapping such as {{name: vae, latent_dim: 20}} "
                "(use --set model.name=vae for the model's name)"
            )
        model_raw = dict(model_raw)
        if "name" not in model_raw:
            raise GenzooError(f"{source}: model.name is missing; say which model to train (see `genzoo models`)")
        name = model_raw.pop("name")
        if "ema_decay" in model_raw:  # the older option, which averaged a GAN's generator or an AAE's decoder only
            raise GenzooError(
                f"{source}: model.ema_decay is now train.ema_decay (an average of every weight, for any model)"
            )
        model_cls = get_model_class(name)
        seed = raw.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise GenzooError(f"{source}: {checks.invalid('seed', seed, 'a non-negative integer')}")
        return cls(
            model=build_dataclass(model_cls.Config, model_raw, f"{source}: model"),
            model_name=name,
            data=build_dataclass(DataConfig, raw.get("data") or {}, f"{source}: data"),
            train=build_dataclass(TrainConfig, raw.get("train") or {}, f"{source}: train"),
            seed=seed,
        )

    def save(self, path: Path) -> None:
        from genzoo.files import atomic_write_text

        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: Path | str) -> RunConfig:
        return cls.from_dict(read_yaml(path), str(path))

    def replace(self, **sections: Any) -> RunConfig:
        """A copy with whole sections replaced, e.g. `cfg.replace(train=dataclasses.replace(cfg.train, epochs=3))`."""
        return dataclasses.replace(self, **sections)


def read_yaml(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise GenzooError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise GenzooError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GenzooError(
            f"{path}: expected a mapping of sections (model, data, train, seed), got {type(data).__name__}"
        )
    return data


def apply_override(raw: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Merge one `section.key=value` (value parsed as YAML: 4, 1e-3, true, [1, 2], null) into a nested dict."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise GenzooError(f"--set {assignment!r}: expected section.key=value, e.g. model.beta=4")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise GenzooError(f"--set {assignment!r}: cannot parse the value ({exc})") from exc
    out = dict(raw)
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.get(part)
        child = dict(child) if isinstance(child, dict) else {}
        node[part] = child
        node = child
    node[parts[-1]] = value
    return out


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; values of `over` win."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# ---------------------------------------------------------------------------------------------------------------
# Building a dataclass from plain data, with type checks that name the key.


def _check_keys(raw: dict[str, Any], valid: set[str], where: str) -> None:
    """`where` is "SOURCE" or "SOURCE: section"; the error names the dotted key, e.g. model.latnt_dim."""
    source, _, section = where.partition(": ")
    prefix = f"{section}." if section else ""
    for key in raw:
        if key not in valid:
            err = unknown("key", str(key), valid, prefix)
            raise GenzooError(f"{source}: {err}")


def build_dataclass(cls: type, raw: dict[str, Any], where: str):
    if not isinstance(raw, dict):
        raise GenzooError(f"{where}: expected a mapping of keys, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(raw, set(fields), where)
    hints = typing.get_type_hints(cls)
    values = {key: _coerce(value, hints[key], f"{where}.{key}") for key, value in raw.items()}
    try:
        return cls(**values)
    except GenzooError as exc:
        raise GenzooError(f"{where.split(':')[0]}: {exc}") from None


def _coerce(value: Any, hint: Any, name: str) -> Any:
    """Check `value` against the type hint and convert plain YAML data (lists -> tuples, '1e-3' -> float)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], name)
    if origin is Literal:
        checks.one_of(name, value, args)
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise checks.invalid(name, value, "a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{name}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise checks.invalid(name, list(value), f"a list of {len(args)} values")
        return tuple(_coerce(v, a, f"{name}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if hint is bool:
        if not isinstance(value, bool):
            raise checks.invalid(name, value, "true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise checks.invalid(name, value, "an integer")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise checks.invalid(name, value, "a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise checks.invalid(name, value, "a string")
        return value
    raise TypeError(f"{name}: unsupported config type {hint}")  # a programming error, not user input


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """Tuples -> lists so YAML stays plain."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _flatten(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


# What a resume may change without --allow-config-change: the run's length, where it runs and where the data is.
RESUMABLE_CHANGES = frozenset({"train.epochs", "train.steps", "train.device", "data.data_dir"})


def config_changes(before: dict[str, Any], after: dict[str, Any], ignore=RESUMABLE_CHANGES) -> list[str]:
    """`key: old -> new` for every dotted key whose value differs between two config dicts."""
    a, b = _flatten(before), _flatten(after)
    return [
        f"{key}: {a.get(key, '(unset)')!r} -> {b.get(key, '(unset)')!r}"
        for key in sorted(a.keys() | b.keys())
        if key not in ignore and a.get(key) != b.get(key)
    ]
