"""A run folder, read: the one place that knows its layout and answers its config, checkpoints, metrics, model
and data. Everything that reads a run (the API's verbs, evaluation, reports, the run browser) goes through here,
never through the trainer; the trainer is the run's only writer (train/).

    runs/<name>/
      config.yaml          the resolved config (RunConfig), enough to rebuild the model
      metrics.jsonl        one JSON object per logged step, flushed per line
      checkpoints/step-N/  model.safetensors, train_state.pt, meta.json (step, epoch, model, SHA-256 of both)
      best/                train.keep_best: the checkpoint of the lowest validation loss, in the same form
      eval.json            sections written by `genzoo evaluate`
      data.npz             a run trained on the user's own arrays (genzoo.train(..., data=...)): them
      code.yaml            a run of the user's own model class or networks: their import paths (models/own.py)
      .lock                while a process writes the folder (train, resume, evaluate): see RunLock
      samples/ reconstructions/ tb/

A checkpoint is trusted only after every file's SHA-256 matches meta.json (`validate`); a damaged one is named
and skipped in favour of the newest valid one. Listing checkpoints reads names only (no hashing), so a folder
of a hundred runs lists in a moment.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import socket
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file
from torch import nn

from genzoo.config import RunConfig, read_yaml
from genzoo.data.arrays import ARRAYS, ARRAYS_SPEC, DATA_FILE, as_dataset
from genzoo.data.datasets import load_dataset
from genzoo.data.types import Dataset
from genzoo.errors import GenzooError
from genzoo.files import LOCK_FILE, FolderBusy, FolderLock, atomic_write_text, sha256_file
from genzoo.models.base import GenerativeModel
from genzoo.models.own import build_networks, find_class, import_path, install_networks, is_genzoos
from genzoo.models.registry import MODELS, get_model_class, load_entry_points, register

CONFIG_FILE, METRICS_FILE, EVAL_FILE, CHECKPOINTS = "config.yaml", "metrics.jsonl", "eval.json", "checkpoints"
# Your own classes a run needs, by import path (models/own.py): {model: {name, class}, networks: {NAME: {class,
# kwargs}}}; written only for a run that has any
CODE_FILE = "code.yaml"
BEST = "best"  # train.keep_best: a copy of the checkpoint with the lowest validation loss
WEIGHTS, STATE, META = "model.safetensors", "train_state.pt", "meta.json"  # the files of one checkpoint
# train.ema_decay: the moving average of the weights travels in model.safetensors beside the live weights, each
# tensor under its live name with this prefix (a colon cannot clash with a module path)
AVERAGE_PREFIX = "average:"


# -- checkpoints: found by name, trusted after their hashes check out ----------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    meta: dict[str, Any]

    @property
    def epoch(self) -> int:
        return self.meta["epoch"]


def step_of(path: Path) -> int | None:
    """The step in a checkpoint folder's name (step-000123 -> 123), None for any other name."""
    try:
        return int(path.name.removeprefix("step-")) if path.name.startswith("step-") else None
    except ValueError:
        return None


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint folders, newest first (by step)."""
    if not folder.is_dir():
        return []
    found = [(s, p) for p in folder.iterdir() if p.is_dir() and (s := step_of(p)) is not None]
    return [p for _, p in sorted(found, reverse=True)]


def validate(path: Path) -> Checkpoint:
    """Read meta.json and check every file's SHA-256; raise GenzooError naming the defect."""
    meta_path = path / META
    try:
        meta = json.loads(meta_path.read_text())
        files = meta["files"]
        step = int(meta["step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GenzooError(f"{meta_path}: missing or unreadable ({exc})") from exc
    for name in (WEIGHTS, STATE):
        file = path / name
        if not file.is_file():
            raise GenzooError(f"{file}: missing")
        if sha256_file(file) != files.get(name):
            raise GenzooError(f"{file}: SHA-256 does not match meta.json (truncated or corrupted)")
    return Checkpoint(path, step, meta)


def latest_valid(folder: Path) -> Checkpoint | None:
    """The newest checkpoint whose files check out; damaged ones are reported with a warning and skipped."""
    for path in list_checkpoints(folder):
        try:
            return validate(path)
        except GenzooError as exc:
            warnings.warn(f"skipping damaged checkpoint {path.name}: {exc}", stacklevel=2)
    return None


def load_weights(checkpoint: Checkpoint, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint.path / WEIGHTS), device=str(device))


def split_average(weights: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A checkpoint's tensors -> (live weights, averaged weights under the live names; {} without an average)."""
    live = {k: v for k, v in weights.items() if not k.startswith(AVERAGE_PREFIX)}
    average = {k.removeprefix(AVERAGE_PREFIX): v for k, v in weights.items() if k.startswith(AVERAGE_PREFIX)}
    return live, average


def load_train_state(checkpoint: Checkpoint) -> dict[str, Any]:
    # weights_only=True: tensors and plain containers only; a pickled payload is refused, never executed.
    path = checkpoint.path / STATE
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = next((line.strip() for line in str(exc).splitlines() if "Unsupported global" in line), "")
        raise GenzooError(f"{path}: refused: it holds objects other than tensors and plain data. {detail}") from exc


# -- a config's model and data (a run folder's, or one about to be trained) ------------------------------------
def build_model(
    config: RunConfig, dataset: Dataset | None = None, training: bool = False
) -> tuple[RunConfig, GenerativeModel]:
    """Seed, fill the model config's image shape and class count from the data set, and build the model (after
    checking that it fits in this machine's memory)."""
    if dataset is not None:
        model_config = dataclasses.replace(
            config.model, image_shape=dataset.image_shape, num_classes=dataset.num_classes
        )
        config = config.replace(model=model_config)
    model_class = get_model_class(config.model_name)
    check_fits_in_memory(config, model_class, training)
    torch.manual_seed(config.seed)
    return config, model_class(config.model)


# Bytes per parameter: fp32 weights; training adds their gradients and Adam's two moments (and maybe an average).
BYTES_TO_LOAD, BYTES_TO_TRAIN = 4, 16


def machine_memory() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(config: RunConfig, model_class: type[GenerativeModel], training: bool) -> None:
    """Count the parameters on the meta device (shapes only, nothing allocated) and refuse, in one line, a model
    whose weights (and, to train, gradients and optimizer moments) exceed the machine's memory, instead of an
    allocator's traceback after minutes. A model that cannot be built on the meta device is not checked here."""
    memory = machine_memory()
    try:
        with torch.device("meta"):
            probe = model_class(config.model)
    except Exception:  # e.g. a model reading a value from a tensor while it is built: building it will tell
        return
    count = sum(p.numel() for p in probe.parameters()) + sum(b.numel() for b in probe.buffers())
    need = count * (BYTES_TO_TRAIN if training else BYTES_TO_LOAD)
    if memory is not None and need > memory:
        what = "training it needs" if training else "its weights need"
        extra = " (weights, gradients and Adam's two moments in fp32)" if training else ""
        raise GenzooError(
            f"the {config.model_name} model this config describes has {count:,} parameters: {what} about "
            f"{need / 2**30:,.0f} GiB{extra}, but this machine has {memory / 2**30:,.0f} GiB; "
            "check the model.* sizes (latent_dim, hidden, channels, ...)"
        )


def load_data(config: RunConfig, **sizes: int | None) -> Dataset:
    """The config's data set in memory; `train_size=` / `test_size=` replace the config's subset sizes. The
    validation images stay in train here (evaluation protocols count from the start of train); training holds
    them out with `Dataset.holding_out(config.data.validation_size)`."""
    d = config.data
    sizes = {"train_size": d.train_size, "test_size": d.test_size, **sizes}
    if d.dataset == ARRAYS:  # the user's own arrays (data/arrays.py): an .npz, not a registered data set
        return sized(ARRAYS_SPEC.load(d.data_dir, None, d.folder_options()), **sizes)
    return load_dataset(d.dataset, d.data_dir, options=d.folder_options(), **sizes)


def own_code_record(model_class: type, networks: dict[str, dict] | None) -> dict[str, Any]:
    """What code.yaml records for a run: the model class when it is not genzoo's own, the networks' records."""
    code: dict[str, Any] = {}
    if not is_genzoos(model_class):
        code["model"] = {"name": model_class.name, "class": import_path(model_class)}
    if networks:
        code["networks"] = networks
    return code


def sized(dataset: Dataset, train_size: int | None = None, test_size: int | None = None) -> Dataset:
    """The first `train_size` / `test_size` images of each split (all for None), as load_dataset keeps them."""
    return Dataset(dataset.spec, dataset.train.subset(train_size), dataset.test.subset(test_size))


def with_own_data(config: RunConfig, data: Any, run_dir: Path) -> tuple[RunConfig, Dataset, Dataset]:
    """For genzoo.train(config, data=...): (the config naming the arrays as the run keeps them, in
    run_dir/data.npz; the whole data set to write there; the data set load_data will read back, with the config's
    subset sizes). `data` is checked here, before any run folder is made (data/arrays.py says what it may be)."""
    whole = as_dataset(data, config.data.test_fraction)
    own = dataclasses.replace(config.data, dataset=ARRAYS, data_dir=str((Path(run_dir) / DATA_FILE).resolve()))
    config = config.replace(data=own)
    return config, whole, sized(whole, config.data.train_size, config.data.test_size)


def global_rng_kept():
    """A block whose torch.manual_seed is undone at its end, on the CPU and on every GPU (torch.manual_seed seeds
    them all, so forking the CPU alone would leave the caller's CUDA streams reseeded)."""
    return torch.random.fork_rng(devices=range(torch.cuda.device_count()) if torch.cuda.is_available() else [])


class RunLock(FolderLock):
    """The one-writer lock of a run folder (files.FolderLock), taken by every process that writes the folder:
    train (before --overwrite clears it), resume, evaluate; under torchrun rank 0 alone. Readers (sample, report,
    serve, compare) never take it. A second writer gets one line naming the holder."""

    def __init__(self, folder: Path):
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"
        since = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        super().__init__(folder, {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "since": since})

    def acquire(self) -> None:
        try:
            super().acquire()
        except FolderBusy as busy:
            h = busy.holder
            who = (
                f"PID {h.get('pid')} on {h.get('host')} ({h.get('command')}) has been writing it since {h.get('since')}"
                if h
                else "another process is writing it"
            )
            raise GenzooError(
                f"{busy.folder} is in use: {who}; one process at a time writes a run folder: wait for it to end "
                "or stop it (the lock of a process that died is taken over by itself)"
            ) from None
        except OSError as exc:
            raise GenzooError(f"cannot write the run folder {self.path.parent}: {exc.strerror or exc}") from exc

    def check_free(self) -> None:
        """Raise the in-use error now if another process writes the folder (a courtesy before slow reading; the
        lock itself is taken later, and only then counts). Leaves no lock file behind in a folder that exists."""
        if self.path.parent.is_dir():
            self.acquire()
            self.release()


class RunFolder:
    """One run folder on disk. Cheap to make (nothing is read until asked); every answer is read anew, so a run
    still training shows its newest state. `path` is kept as given, and error messages name it so."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    def holds_run(self) -> bool:
        """Whether a run was started here (a config or checkpoints): what `train` refuses to overwrite."""
        return self.config_file.exists() or self.checkpoints_dir.exists()

    def lock(self) -> RunLock:
        """This folder's writer lock, not yet taken (`with folder.lock():` or acquire()/release())."""
        return RunLock(self.path)

    def prepare(self, overwrite: bool) -> None:
        """Refuse to clobber an existing run unless asked; fail before training if the folder cannot be written.
        Called with the folder's lock held: --overwrite clears everything but the lock file."""
        if self.holds_run():
            if not overwrite:
                raise GenzooError(
                    f"{self.path} already holds a run; continue it with `genzoo resume {self.path}`, "
                    "or pick another --out (or pass --overwrite to replace it)"
                )
            for entry in self.path.iterdir():
                if entry.name == LOCK_FILE:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise GenzooError(f"cannot write the run folder {self.path}: {exc.strerror or exc}") from exc

    # -- what the run is ---------------------------------------------------------------------------------------
    def config(self) -> RunConfig:
        """config.yaml, validated (an error names the file). A run trained on the user's own arrays reads them from
        its own data.npz when the path config.yaml recorded is gone (the folder was moved or copied); a run of the
        user's own model class says what to import when that class is not registered."""
        if not self.config_file.is_file():
            raise GenzooError(f"{self.path}: not a genzoo run folder (no {CONFIG_FILE})")
        own_model = self.own_code().get("model")
        if own_model and own_model.get("name") not in MODELS:  # registered on import: find its module, or say it
            load_entry_points()
            if own_model.get("name") not in MODELS:
                register(find_class(own_model["class"], f"{self.path} (model {own_model['name']!r})"))
        config = RunConfig.load(self.config_file)
        d, own = config.data, self.path / DATA_FILE
        if d.dataset == ARRAYS and not (d.data_dir and Path(d.data_dir).is_file()) and own.is_file():
            config = config.replace(data=dataclasses.replace(d, data_dir=str(own.resolve())))
        return config

    def data(self, **sizes: int | None) -> Dataset:
        """The run's data set; `train_size=` / `test_size=` replace the config's subset sizes."""
        return load_data(self.config(), **sizes)

    def own_code(self) -> dict[str, Any]:
        """code.yaml: the import paths of the user's own model class and networks this run needs ({} for none)."""
        path = self.path / CODE_FILE
        if not path.is_file():
            return {}
        code = read_yaml(path)
        if not all(isinstance(code.get(key, {}), dict) for key in ("model", "networks")):
            raise GenzooError(f"{path}: expected {{model: {{name, class}}, networks: {{NAME: {{class, kwargs}}}}}}")
        return code

    def write_own_code(self, code: dict[str, Any]) -> None:
        if code:
            atomic_write_text(self.path / CODE_FILE, yaml.safe_dump(code, sort_keys=False))

    def networks(self) -> dict[str, nn.Module]:
        """The user's networks this run trained with, built anew from code.yaml ({} for a run without): their
        classes must be importable in this process (models/own.py says what to import otherwise)."""
        record = self.own_code().get("networks")
        return build_networks(record, str(self.path)) if record else {}

    def metrics(self) -> list[dict[str, Any]]:
        """Every record of metrics.jsonl, in order ([] when there is none). A line torn by a crash while it was
        written (only ever the last one) is skipped, as a resume would drop it."""
        if not self.metrics_file.exists():
            return []
        records = []
        for line in self.metrics_file.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "step" in record:
                records.append(record)
        return records

    # -- its checkpoints and model -------------------------------------------------------------------------------
    def newest_step(self) -> int | None:
        """The step of the newest checkpoint by name (not validated: no file is hashed); None before the first."""
        newest = list_checkpoints(self.checkpoints_dir)
        return step_of(newest[0]) if newest else None

    def newest_checkpoint(self) -> Checkpoint:
        """The newest valid checkpoint (damaged ones are skipped with a warning); an error when there is none."""
        checkpoint = latest_valid(self.checkpoints_dir)
        if checkpoint is None:
            raise GenzooError(f"{self.path}: no valid checkpoint in {self.checkpoints_dir}")
        return checkpoint

    def best_checkpoint(self) -> Checkpoint:
        """The checkpoint train.keep_best kept (lowest validation loss), checked; an error when there is none."""
        if not (self.path / BEST).is_dir():
            raise GenzooError(
                f"{self.path}: no {BEST}/ checkpoint (train with --set train.keep_best=true and "
                "--set data.validation_size=N)"
            )
        return validate(self.path / BEST)

    def check_model(self, checkpoint: Checkpoint, name: str) -> None:
        """Refuse a checkpoint of another model than the one config.yaml names."""
        if checkpoint.meta.get("model") not in (None, name):
            raise GenzooError(
                f"{checkpoint.path}: holds a {checkpoint.meta['model']!r} model but {self.config_file} "
                f"describes {name!r}"
            )

    def load_weights(self, model: GenerativeModel, checkpoint: Checkpoint, averaged: bool = True) -> None:
        """Load a checkpoint's weights into `model`, naming (up to three) parameters whose shapes do not fit: the
        moving average of the weights where the run kept one (train.ema_decay) and `averaged`, else the live ones
        (what training continues from)."""
        self.check_model(checkpoint, model.name)
        live, average = split_average(load_weights(checkpoint))
        weights = average if averaged and average else live
        own = model.state_dict()
        problems = [
            f"{k}: {tuple(v.shape)} in the checkpoint, {tuple(own[k].shape)} in the model"
            for k, v in weights.items()
            if k in own and v.shape != own[k].shape
        ]
        problems += [f"{k}: missing from the checkpoint" for k in own.keys() - weights.keys() - model.optional_state]
        problems += [f"{k}: not in the model" for k in weights.keys() - own.keys()]
        if problems:  # the config describes another shape of model than the one trained
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise GenzooError(
                f"{checkpoint.path / WEIGHTS} does not fit the model {self.config_file} "
                f"describes: {'; '.join(sorted(problems)[:3])}{more}"
            )
        model.load_state_dict(weights)

    def load_model(
        self, device: str | torch.device = "cpu", checkpoint: Checkpoint | None = None, averaged: bool = True
    ) -> GenerativeModel:
        """The trained model (the newest valid checkpoint unless one is given), in eval mode: with the moving
        average of its weights where the run kept one, unless averaged=False. Leaves the global RNG as it was."""
        with global_rng_kept():
            _, model = build_model(self.config())
            install_networks(model, self.networks())  # the user's own, if any (checked when the run was trained)
        self.load_weights(model, checkpoint or self.newest_checkpoint(), averaged)
        return model.to(device).eval()
