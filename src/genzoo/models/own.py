"""Your own code in a genzoo model: networks that replace a model's own (its encoder, decoder, generator, ...) and
the record a run keeps of them and of your model class, by import path, so that loading the run rebuilds them.

    genzoo.train(config, "runs/mine", networks={"encoder": MyEncoder(784, 40), "decoder": (MyDecoder, {"d": 20})})

A network is an nn.Module instance, or (class, keyword arguments) for genzoo to build. It replaces the model's
attribute of that name after the model is built, and must give what the replaced module gave: both are run on the
inputs the model hands its own module in a training step on a dummy batch, and each output's shape is compared
(a mismatch is one line naming the network, the input and both shapes). To rebuild it when the run is loaded, the
run records the class as "module:QualName" with its keyword arguments (plain YAML values): given as (class,
kwargs), or read back from an instance whose constructor keeps each argument as an attribute of the same name
(scikit-learn's convention). Nothing is ever imported from a name a run folder holds: loading finds the class
among the modules already imported (yours, or an installed package's `genzoo.models` entry point) and otherwise
says what to import.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from genzoo.data.batches import Batch
from genzoo.errors import GenzooError
from genzoo.models.base import GenerativeModel
from genzoo.models.registry import load_entry_points

PLAIN = (type(None), bool, int, float, str)


def import_path(cls: type) -> str:
    """The "module:QualName" a class is found by again."""
    return f"{cls.__module__}:{cls.__qualname__}"


def is_genzoos(cls: type) -> bool:
    return cls.__module__ == "genzoo" or cls.__module__.startswith("genzoo.")


def find_class(path: str, what: str) -> type:
    """The class at "module:QualName" among the modules this process has imported (after the entry points are
    loaded); a GenzooError saying what to import otherwise. `what` names what needs it, for the message."""
    module_name, _, qualname = path.partition(":")
    if module_name not in sys.modules:
        load_entry_points()
    module = sys.modules.get(module_name)
    if module_name == "__main__" and module is not None and not _has(module, qualname):
        raise GenzooError(
            f"{what} needs class {qualname}, defined in the script that trained it: define it (or import it) "
            "in this script before loading"
        )
    if module is None:
        raise GenzooError(
            f"{what} needs class {path}: import {module_name} first (genzoo imports no code a run folder names), or "
            "make it reachable through a genzoo.models entry point"
        )
    if not _has(module, qualname):
        raise GenzooError(f"{what} needs class {path}, but module {module_name} has no {qualname}")
    return _get(module, qualname)


def _get(module: Any, qualname: str) -> Any:
    value = module
    for part in qualname.split("."):
        value = getattr(value, part)
    return value


def _has(module: Any, qualname: str) -> bool:
    try:
        _get(module, qualname)
        return True
    except AttributeError:
        return False


# -- networks ---------------------------------------------------------------------------------------------------------
def plain(value: Any) -> bool:
    """Whether a value survives YAML as it is (tuples come back as lists)."""
    if isinstance(value, PLAIN):
        return True
    if isinstance(value, (list, tuple)):
        return all(plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    return False


def as_plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [as_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: as_plain(v) for k, v in value.items()}
    return value


def network_of(name: str, given: Any) -> tuple[nn.Module, dict[str, Any]]:
    """(the module, its record {"class": path, "kwargs": {...}}) for `networks[name]`: an nn.Module instance or a
    pair (nn.Module subclass, kwargs)."""
    where = f"networks[{name!r}]"
    if isinstance(given, tuple) and len(given) == 2 and isinstance(given[0], type):
        cls, kwargs = given
        if not issubclass(cls, nn.Module) or not isinstance(kwargs, dict):
            raise GenzooError(f"{where}: ({cls.__name__}, ...); expected (an nn.Module subclass, a dict of arguments)")
        if not plain(kwargs):
            raise GenzooError(
                f"{where}: arguments {kwargs!r}; expected plain values (numbers, strings, lists, dicts), which a run "
                "can record"
            )
        try:
            module = cls(**kwargs)
        except Exception as exc:
            raise GenzooError(f"{where}: {cls.__name__}(**{kwargs!r}) failed: {_said(exc)}") from None
        return module, {"class": import_path(cls), "kwargs": as_plain(kwargs)}
    if not isinstance(given, nn.Module):
        raise GenzooError(f"{where}: a {type(given).__name__}; expected an nn.Module or (its class, its arguments)")
    return given, {"class": import_path(type(given)), "kwargs": arguments_of(given, where)}


def arguments_of(module: nn.Module, where: str) -> dict[str, Any]:
    """The constructor arguments of an instance, read back from its attributes of the same names."""
    cls = type(module)
    kwargs = {}
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        value = getattr(module, parameter.name, inspect.Parameter.empty)
        if value is inspect.Parameter.empty or not plain(value):
            found = "keeps no attribute of that name" if value is inspect.Parameter.empty else "keeps a non-plain value"
            raise GenzooError(
                f"{where}: genzoo cannot read {cls.__name__}'s argument {parameter.name!r} back from the instance "
                f"(it {found}), so the run could not rebuild it; pass ({cls.__name__}, {{{parameter.name!r}: ...}}) "
                f"instead, or keep the argument as self.{parameter.name}"
            )
        kwargs[parameter.name] = as_plain(value)
    return kwargs


def build_networks(record: dict[str, dict[str, Any]], what: str) -> dict[str, nn.Module]:
    """The modules a run's record describes, built anew (their weights then come from a checkpoint)."""
    built = {}
    for name, entry in record.items():
        cls = find_class(entry["class"], f"{what} (its {name})")
        try:
            built[name] = cls(**entry.get("kwargs", {}))
        except Exception as exc:
            raise GenzooError(
                f"{what}: rebuilding its {name} as {entry['class']}(**{entry.get('kwargs')!r}) failed: {_said(exc)}"
            ) from None
    return built


def replace_networks(model: GenerativeModel, networks: dict[str, Any], check: bool = True) -> dict[str, dict]:
    """Put `networks` (what genzoo.train(networks=...) takes) in place of the model's modules of those names;
    returns their record for code.yaml. With `check`, first compare each new module's outputs with the replaced
    one's on a dummy training step, then run a step with them (module docstring). The model's weights, buffers,
    training mode and the global RNG are as they were afterwards, but for the new modules."""
    if not isinstance(networks, dict) or not networks:
        raise GenzooError(f"networks={networks!r}; expected a dict such as {{'encoder': MyEncoder(...)}}")
    own = dict(model.named_children())
    built, record = {}, {}
    for name, given in networks.items():
        if name not in own:
            raise GenzooError(
                f"networks[{name!r}]: model {model.name!r} has no network of that name; its networks: "
                f"{', '.join(sorted(own))}"
            )
        built[name], record[name] = network_of(name, given)
    if check:
        _check_shapes(model, {name: own[name] for name in built}, built)
    install_networks(model, built)
    if check:
        _run_steps(model, "with your networks")
    return record


def install_networks(model: GenerativeModel, modules: dict[str, nn.Module]) -> None:
    """Set each module as the model's attribute of its name (unchecked: replace_networks checks; a loaded run's
    were checked when it was trained)."""
    device = next(model.parameters()).device
    for name, module in modules.items():
        if name not in dict(model.named_children()):
            raise GenzooError(f"networks[{name!r}]: model {model.name!r} has no network of that name")
        setattr(model, name, module.to(device))
    if hasattr(model, "_phase_names"):
        del model._phase_names  # its optimizer groups are read anew


def _dummy_batch(model: GenerativeModel, n: int = 4) -> Batch:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(n, *model.config.image_shape, generator=generator)
    y = torch.arange(n) % max(1, model.config.num_classes)
    device = next(model.parameters()).device
    return Batch(x.to(device), y.to(device))


def _kept(model: GenerativeModel, work: Callable[[], Any]) -> Any:
    """Run `work` and put the model's state (weights, buffers such as batch-norm statistics, training mode) and
    the global RNG back as they were."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    training = model.training
    devices = range(torch.cuda.device_count()) if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices):  # (with gradients: a penalty may differentiate the network)
            return work()
    finally:
        model.load_state_dict(state, strict=False)
        model.train(training)


def _run_steps(model: GenerativeModel, how: str) -> None:
    batch = _dummy_batch(model)

    def steps() -> None:
        for phase in model.phases(0):
            try:
                model.training_step(batch, 0, phase)
            except Exception as exc:
                raise GenzooError(
                    f"networks: model {model.name!r}'s training step (phase {phase!r}) {how} failed: {_said(exc)}"
                ) from None

    _kept(model, steps)


def _said(exc: Exception) -> str:
    """An exception in one line: its type and its message's first line."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def _shapes(value: Any) -> Any:
    """The shape structure of a module's output: a tensor's shape, or the same for each item of a tuple/list."""
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)):
        return tuple(_shapes(v) for v in value)
    return "None" if value is None else type(value).__name__


def _check_shapes(model: GenerativeModel, old: dict[str, nn.Module], new: dict[str, nn.Module]) -> None:
    """Each new module, run on every input its old one got in one training step per phase, gives outputs of the old
    one's shapes."""
    calls: dict[str, list] = {name: [] for name in old}
    hooks = [
        module.register_forward_hook(
            lambda _, args, kwargs, output, name=name: calls[name].append((args, kwargs, output)), with_kwargs=True
        )
        for name, module in old.items()
    ]
    try:
        model.phases(0)  # (cached before any hook fires)
        _run_steps(model, "before your networks")
    finally:
        for hook in hooks:
            hook.remove()

    def compare() -> None:
        for name, module in new.items():
            if not calls[name]:
                raise GenzooError(
                    f"networks[{name!r}]: model {model.name!r} does not run its {name} in a training step; nothing to "
                    "replace it for"
                )
            module.to(next(model.parameters()).device).train(model.training)
            for args, kwargs, output in calls[name][:4]:  # a module called many times per step: its first calls
                inputs = ", ".join(str(_shapes(a)) for a in args)
                try:
                    got = module(*args, **kwargs)
                except Exception as exc:
                    raise GenzooError(
                        f"networks[{name!r}]: {type(module).__name__} failed on the input the {model.name} model gives "
                        f"its {name} ({inputs}): {_said(exc)}"
                    ) from None
                if _shapes(got) != _shapes(output):
                    raise GenzooError(
                        f"networks[{name!r}]: {type(module).__name__} gives {_shapes(got)} for input {inputs}, where "
                        f"the {model.name} model's own {name} gives {_shapes(output)}; expected the same shapes"
                    )

    _kept(model, compare)
