"""Checkpoints that are never half-written and never trusted blindly.

    checkpoints/step-000469/
        model.safetensors   the weights (safetensors: no code runs on load)
        train_state.pt      optimizer states, RNG states, position; read only with torch.load(weights_only=True)
        meta.json           step, epoch, model name and the SHA-256 of both files above

A checkpoint is assembled in a temporary folder beside the others, every file fsynced, then renamed into place
(rename is atomic on POSIX), so a crash leaves either the old set or the new one. On load, each file's SHA-256
is checked against meta.json; a damaged checkpoint is named and skipped in favour of the newest valid one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genzoo.errors import GenzooError

WEIGHTS, STATE, META = "model.safetensors", "train_state.pt", "meta.json"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@functools.cache
def umask() -> int:
    """The process's umask. tempfile makes files 0o600 and folders 0o700; run files get the modes open() and
    mkdir() would give instead, or a run folder shared with a group would hold files only its writer can read."""
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, rename over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    meta: dict[str, Any]

    @property
    def epoch(self) -> int:
        return self.meta["epoch"]


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def save_checkpoint(
    folder: Path, step: int, weights: dict[str, torch.Tensor], train_state: dict[str, Any], meta: dict[str, Any]
) -> Path:
    """Write checkpoints/step-N atomically and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".step-{step:06d}.", suffix=".tmp", dir=folder))
    os.chmod(tmp, 0o777 & ~umask())
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()}, str(tmp / WEIGHTS))
        torch.save(train_state, tmp / STATE)
        for name in (WEIGHTS, STATE):
            _fsync_file(tmp / name)
        files = {name: sha256_file(tmp / name) for name in (WEIGHTS, STATE)}
        (tmp / META).write_text(json.dumps({**meta, "step": step, "files": files}, indent=2))
        _fsync_file(tmp / META)
        if final.exists():  # the same step written again (a resumed run re-reaching it): swap, never merge
            old = final.with_name(final.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        fsync_dir(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


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


def prune(folder: Path, keep: int) -> None:
    """Keep the newest `keep` checkpoints; also remove temporary folders a killed writer left behind (only one
    process ever writes a run's checkpoints, and it is the caller, so none of them is being written now)."""
    for path in list_checkpoints(folder)[keep:]:
        shutil.rmtree(path, ignore_errors=True)
    for leftover in folder.glob(".step-*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)


def load_weights(checkpoint: Checkpoint, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint.path / WEIGHTS), device=str(device))


def load_train_state(checkpoint: Checkpoint) -> dict[str, Any]:
    # weights_only=True: tensors and plain containers only; a pickled payload is refused, never executed.
    path = checkpoint.path / STATE
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = next((line.strip() for line in str(exc).splitlines() if "Unsupported global" in line), "")
        raise GenzooError(f"{path}: refused: it holds objects other than tensors and plain data. {detail}") from exc
