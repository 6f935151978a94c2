"""Writing checkpoints that are never half-written (the trainer is their only writer; reading them, with the
SHA-256 checks, lives with the run folder: run_folder.py).

    checkpoints/step-000469/
        model.safetensors   the weights (safetensors: no code runs on load)
        train_state.pt      optimizer states, RNG states, position; read only with torch.load(weights_only=True)
        meta.json           step, epoch, model name and the SHA-256 of both files above

A checkpoint is assembled in a temporary folder beside the others, every file fsynced, then renamed into place
(rename is atomic on POSIX), so a crash leaves either the old set or the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from genzoo.files import fsync_dir, sha256_file, umask
from genzoo.files import fsync_file as _fsync_file  # a module global: fault-injection tests hook it per file

# The reading side, named here too so the trainer (and its tests) reach the whole format as `ckpt.*`.
from genzoo.run_folder import (
    META,
    STATE,
    WEIGHTS,
    Checkpoint,
    latest_valid,
    list_checkpoints,
    load_train_state,
    load_weights,
    step_of,
    validate,
)

__all__ = [  # the writing side defined here, and the reading side re-exported
    "META",
    "STATE",
    "WEIGHTS",
    "Checkpoint",
    "install",
    "keep_copy",
    "latest_valid",
    "list_checkpoints",
    "load_train_state",
    "load_weights",
    "prune",
    "save_checkpoint",
    "step_of",
    "validate",
]


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
        install(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def install(tmp: Path, final: Path) -> None:
    """Put a finished folder in place by renames alone; a folder already at `final` (the same step written again
    by a resumed run, or the previous best/) is swapped out whole, never merged."""
    if final.exists():
        old = final.with_name(final.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    fsync_dir(final.parent)


def keep_copy(checkpoint: Path, final: Path) -> None:
    """A copy of a written checkpoint folder at `final` (a run's best/), made beside it and then installed, so a
    crash leaves either the old copy or the new one, checked by the same SHA-256s on reading."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        for name in (WEIGHTS, STATE, META):
            shutil.copyfile(checkpoint / name, tmp / name)
            _fsync_file(tmp / name)
        os.chmod(tmp, 0o777 & ~umask())
        install(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def prune(folder: Path, keep: int) -> None:
    """Keep the newest `keep` checkpoints; also remove temporary folders a killed writer left behind (only one
    process ever writes a run's checkpoints, and it is the caller, so none of them is being written now)."""
    for path in list_checkpoints(folder)[keep:]:
        shutil.rmtree(path, ignore_errors=True)
    for leftover in folder.glob(".step-*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
