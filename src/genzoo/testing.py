"""The model contract as one call, for the tests of your own model class: the key checks genzoo's own models pass
(tests/unit/test_model_contract.py), so a class you register works with the trainer and every verb.

    import genzoo
    from genzoo.testing import check_model

    @genzoo.register
    class MyVAE(genzoo.models.GenerativeModel): ...

    def test_my_vae():
        check_model(MyVAE, {"latent_dim": 4})          # raises AssertionError naming the first check that fails

The checks, in order: the class declares a name, a summary, a Config and known capabilities; its settings survive
config.yaml (written and read back as a run's are); the same seed builds
the same weights; its optimizer groups hold every trainable weight once per name and its phases name them; each
phase's training step gives a finite scalar loss with gradients (and detached scalar terms), the same for the same
seed; every declared verb gives outputs of the declared shapes (images float32 in [0, 1]; sample reproducible with a
generator) and every other verb raises CapabilityError; a few Adam steps on a fixed batch lower each group's loss;
the state dict survives a checkpoint written as the trainer writes it (safetensors) into a differently seeded model.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

from genzoo.config import RunConfig, build_dataclass
from genzoo.data.batches import Batch, to_float
from genzoo.data.datasets import load_dataset
from genzoo.errors import CapabilityError, GenzooError
from genzoo.models.base import (
    ALL_CAPABILITIES,
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
from genzoo.train.checkpoint import latest_valid, load_weights, save_checkpoint

VERBS = (ENCODE, DECODE, RECONSTRUCT, SAMPLE)
BATCH = 5  # images for the verbs' outputs


def check_model(
    model_class: type,
    config: dict[str, Any] | None = None,
    *,
    image_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    images: torch.Tensor | None = None,
    steps: int = 25,
    lr: float = 3e-3,
) -> list[str]:
    """Run the contract checks on `model_class` built from `config` (its Config's keyword settings; keep it small:
    every check trains or runs it) for images of `image_shape`; returns the names of the checks, all passed.
    `images` (N, C, H, W) in [0, 1] is the fixed training batch (default: the first 64 MNIST training images for
    (1, 28, 28), else uniform noise). Raises AssertionError naming the check that failed."""
    checker = _Checker(model_class, dict(config or {}), tuple(image_shape), num_classes)
    checker.declaration()
    checker.config_round_trip()
    checker.same_seed_same_weights()
    batch = checker.batch(images)
    checker.groups_and_phases()
    checker.training_steps(batch)
    checker.verbs()
    checker.learning(batch, steps, lr)
    checker.round_trip()
    return checker.passed


class _Checker:
    def __init__(self, cls: type, settings: dict[str, Any], image_shape: tuple[int, int, int], num_classes: int):
        self.cls, self.settings, self.image_shape, self.num_classes = cls, settings, image_shape, num_classes
        self.passed: list[str] = []
        self.check = "declaration"

    def fail(self, message: str) -> None:
        name = getattr(self.cls, "__qualname__", repr(self.cls))
        raise AssertionError(f"check_model({name}): {self.check}: {message}")

    def expect(self, ok: bool, message: str) -> None:
        if not ok:
            self.fail(message)

    def done(self) -> None:
        self.passed.append(self.check)

    def build(self, seed: int = 0) -> GenerativeModel:
        try:
            config = self.cls.Config(
                **{**self.settings, "image_shape": self.image_shape, "num_classes": self.num_classes}
            )
            torch.manual_seed(seed)  # as genzoo builds a run's model (run_folder.build_model)
            return self.cls(config)
        except Exception as exc:
            self.fail(f"building it failed: {type(exc).__name__}: {exc}")

    def labels(self, model: GenerativeModel, n: int) -> dict[str, torch.Tensor]:
        return {"labels": torch.arange(n) % self.num_classes} if CONDITIONAL in model.capabilities else {}

    # -- the checks -----------------------------------------------------------------------------------------------
    def declaration(self) -> None:
        cls = self.cls
        self.expect(isinstance(cls, type) and issubclass(cls, GenerativeModel), "not a GenerativeModel subclass")
        self.expect(isinstance(getattr(cls, "name", None), str) and cls.name, "no name (a non-empty string)")
        self.expect(isinstance(getattr(cls, "summary", None), str) and cls.summary, "no summary (one line)")
        config = getattr(cls, "Config", None)
        self.expect(
            isinstance(config, type) and issubclass(config, ModelConfig) and dataclasses.is_dataclass(config),
            "Config is not a frozen dataclass derived from genzoo.models.base.ModelConfig",
        )
        caps = set(cls.capabilities)
        self.expect(bool(caps), "declares no capabilities (at least one verb)")
        self.expect(caps <= set(ALL_CAPABILITIES), f"unknown capabilities {sorted(caps - set(ALL_CAPABILITIES))}")
        if RECONSTRUCT in caps:
            self.expect({ENCODE, DECODE} <= caps, "declares reconstruct without encode and decode")
        self.done()

    def config_round_trip(self) -> None:
        """The settings go through config.yaml and back unchanged: what a run writes, load and resume read."""
        self.check = "config through config.yaml"
        try:
            config = self.cls.Config(
                **{**self.settings, "image_shape": self.image_shape, "num_classes": self.num_classes}
            )
            raw = RunConfig(model=config, model_name=self.cls.name).to_dict()["model"]
            raw.pop("name")
            again = build_dataclass(self.cls.Config, yaml.safe_load(yaml.safe_dump(raw)), "model")
        except (GenzooError, TypeError, ValueError, yaml.YAMLError) as exc:
            self.fail(f"{type(exc).__name__}: {exc} (settings must be bool, int, float, str, tuples or Literals)")
        self.expect(again == config, f"config.yaml gives back {again}, not {config}")
        self.done()

    def same_seed_same_weights(self) -> None:
        self.check = "same seed, same weights"
        a, b, other = self.build(5), self.build(5), self.build(6)
        pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
        self.expect(pa.keys() == pb.keys(), "two builds name their parameters differently")
        for key in pa:
            self.expect(torch.equal(pa[key], pb[key]), f"parameter {key} differs between two builds with seed 5")
        if pa:
            differs = any(not torch.equal(p, q) for p, q in zip(a.parameters(), other.parameters()))
            self.expect(differs, "seeds 5 and 6 build the same weights: initialise from torch's global RNG")
        self.done()

    def batch(self, images: torch.Tensor | None) -> Batch:
        n = 64
        if images is None and self.image_shape == (1, 28, 28):  # the shipped MNIST, verified on reading
            train = load_dataset("mnist", train_size=n, test_size=1).train
            return Batch(to_float(train.images), train.labels % self.num_classes)
        if images is None:
            images = torch.rand(n, *self.image_shape, generator=torch.Generator().manual_seed(0))
        self.check = "batch"
        self.expect(tuple(images.shape[1:]) == self.image_shape, f"images of shape {tuple(images.shape)}")
        return Batch(images.float(), torch.arange(len(images)) % self.num_classes)

    def groups_and_phases(self) -> None:
        self.check = "optimizer groups and phases"
        model = self.build()
        groups = model.optimizer_groups()
        self.expect(isinstance(groups, list) and groups, "optimizer_groups() gives no groups")
        self.expect(all(isinstance(g, OptimizerGroup) for g in groups), "optimizer_groups() holds non-OptimizerGroups")
        names = [g.name for g in groups]
        self.expect(len(set(names)) == len(names), f"group names repeat: {names}")
        for group in groups:
            self.expect(len(group.params) > 0, f"group {group.name!r} holds no parameters")
            self.expect(all(p.requires_grad for p in group.params), f"group {group.name!r} holds frozen parameters")
        grouped = {id(p) for g in groups for p in g.params}
        untrained = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in grouped]
        self.expect(not untrained, f"trainable parameters in no group (never trained): {untrained[:3]}")
        for step in range(4):
            phases = model.phases(step)
            self.expect(bool(phases) and set(phases) <= set(names), f"phases({step}) = {phases}; groups are {names}")
        self.done()

    def training_steps(self, batch: Batch) -> None:
        self.check = "training step"
        a, b = self.build(), self.build()
        a.train(), b.train()
        for phase in a.phases(0):
            torch.manual_seed(11)
            out = a.training_step(batch, 0, phase)
            self.expect(isinstance(out, StepOutput), f"phase {phase!r} returns a {type(out).__name__}, not StepOutput")
            loss = out.loss
            self.expect(isinstance(loss, torch.Tensor) and loss.ndim == 0, f"phase {phase!r}: the loss is not a scalar")
            self.expect(bool(torch.isfinite(loss)), f"phase {phase!r}: loss {loss.item()}")
            self.expect(loss.requires_grad, f"phase {phase!r}: the loss carries no gradient")
            for key, value in out.terms.items():
                self.expect(
                    value.ndim == 0 and not value.requires_grad,
                    f"phase {phase!r}: term {key!r} is not a detached scalar",
                )
            torch.manual_seed(11)
            again = b.training_step(batch, 0, phase)
            self.expect(torch.equal(loss, again.loss), f"phase {phase!r}: the same seed gives another loss")
            group = next(g for g in a.optimizer_groups() if g.name == phase)
            for p in a.parameters():
                p.grad = None
            loss.backward()
            grads = [p.grad for p in group.params if p.grad is not None]
            self.expect(bool(grads), f"phase {phase!r}: no parameter of its group gets a gradient")
            self.expect(all(bool(torch.isfinite(g).all()) for g in grads), f"phase {phase!r}: non-finite gradients")
        self.done()

    @torch.no_grad()
    def outputs(self, model: GenerativeModel) -> dict[str, torch.Tensor]:
        model.eval()
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(BATCH, *self.image_shape, generator=generator)
        caps = model.capabilities
        z = torch.randn(BATCH, model.latent_dim, generator=generator) if {ENCODE, DECODE, SAMPLE} & caps else None
        calls = {
            ENCODE: lambda: model.encode(x, **self.labels(model, BATCH)),
            DECODE: lambda: model.decode(z, **self.labels(model, BATCH)),
            RECONSTRUCT: lambda: model.reconstruct(x, **self.labels(model, BATCH)),
            SAMPLE: lambda: model.sample(
                BATCH + 2, generator=torch.Generator().manual_seed(7), **self.labels(model, BATCH + 2)
            ),
        }
        return {verb: call() for verb, call in calls.items() if verb in caps}

    def verbs(self) -> None:
        self.check = "declared verbs"
        model = self.build()
        out = self.outputs(model)
        for verb, tensor in out.items():
            self.expect(bool(torch.isfinite(tensor).all()), f"{verb} gives non-finite values")
            if verb == ENCODE:
                self.expect(
                    tensor.shape == (BATCH, model.latent_dim),
                    f"encode gives {tuple(tensor.shape)}, expected ({BATCH}, latent_dim={model.latent_dim})",
                )
                continue
            n = BATCH + 2 if verb == SAMPLE else BATCH
            self.expect(
                tuple(tensor.shape) == (n, *self.image_shape),
                f"{verb} gives {tuple(tensor.shape)}, expected {(n, *self.image_shape)}",
            )
            self.expect(tensor.dtype == torch.float32, f"{verb} gives {tensor.dtype} images, expected float32")
            self.expect(tensor.min() >= 0 and tensor.max() <= 1, f"{verb} gives images outside [0, 1]")
        if SAMPLE in out:
            again = self.outputs(model)[SAMPLE]
            self.expect(torch.equal(out[SAMPLE], again), "sample with the same generator seed gives other images")
        x = torch.rand(2, *self.image_shape)
        for verb in set(VERBS) - set(model.capabilities):
            try:
                {
                    ENCODE: lambda: model.encode(x),
                    DECODE: lambda: model.decode(torch.zeros(2, 4)),
                    RECONSTRUCT: lambda: model.reconstruct(x),
                    SAMPLE: lambda: model.sample(2),
                }[verb]()
            except CapabilityError:
                continue
            except Exception as exc:
                self.fail(f"{verb}, not declared, raises {type(exc).__name__} instead of CapabilityError")
            self.fail(f"{verb}, not declared, runs: declare it, or let the base class refuse it")
        self.done()

    def learning(self, batch: Batch, steps: int, lr: float) -> None:
        """As the contract test: one group's Adam steps lower its loss on the fixed batch (several groups, such as a
        GAN's players: each in turn, the others fixed), by at least 10%."""
        self.check = "Adam steps lower the loss"
        model = self.build()
        model.train()
        groups = model.optimizer_groups()
        trials = [None] if len(groups) == 1 else [g.name for g in groups]
        for only in trials:
            optimizers = {g.name: torch.optim.Adam(g.params, lr=(g.lr or lr) if only is None else lr) for g in groups}

            def phases(step: int, only: str | None = only) -> tuple[str, ...]:
                return model.phases(step) if only is None else (only,)

            def loss_now() -> float:
                torch.manual_seed(0)
                with torch.no_grad():
                    return sum(model.training_step(batch, 0, phase).loss.item() for phase in phases(0))

            before = loss_now()
            for step in range(steps):
                for phase in phases(step):
                    optimizers[phase].zero_grad(set_to_none=True)
                    model.training_step(batch, step, phase).loss.backward()
                    optimizers[phase].step()
            after = loss_now()
            what = f"group {only!r}'s" if only else "the"
            self.expect(after < 0.9 * before, f"{steps} steps took {what} loss from {before:.5g} to {after:.5g}")
        self.done()

    def round_trip(self) -> None:
        self.check = "state dict round trip (safetensors)"
        model = self.build(0)
        expected = self.outputs(model)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "checkpoints"
            try:
                save_checkpoint(folder, 1, model.state_dict(), {"step": 1}, {"epoch": 1.0, "model": model.name})
            except Exception as exc:
                self.fail(f"the trainer cannot write its state dict: {type(exc).__name__}: {exc}")
            fresh = self.build(1)
            fresh.load_state_dict(load_weights(latest_valid(folder)))
        after = self.outputs(fresh)
        for verb in expected:
            self.expect(torch.equal(after[verb], expected[verb]), f"{verb} differs after loading the state dict")
        own = model.state_dict()
        for key, value in fresh.state_dict().items():
            self.expect(torch.equal(value, own[key]), f"{key} differs after loading the state dict")
        self.done()
