"""Shared fixtures for the genzoo test suite.

Layers: tests/unit (pure functions and single classes), tests/integration (CLI and API end to end, downloads),
tests/reliability (exact resume, damaged checkpoints, unsafe pickles, bf16).

Everything trains tiny: a few hundred MNIST images, batches of 32-64, one or two epochs, hidden layers of a few
dozen units. Nothing is written inside the repository: every test runs with its working directory in a tmp
folder, the download cache points into tmp, and run folders are tmp paths.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

import genzoo
from genzoo.config import merge
from genzoo.data.datasets import load_dataset
from genzoo.train import checkpoint as ckpt
from genzoo.train import devices
from genzoo.train.checkpoint import WEIGHTS, list_checkpoints

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = REPO / "data" / "mnist"
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# Per-model tiny settings; a model not listed here is built with its own defaults.
TINY_MODEL: dict[str, dict[str, Any]] = {
    "ae": {"hidden": [32], "latent_dim": 4},
    "vae": {"hidden": [32], "latent_dim": 4},
    "conv-ae": {"channels": [4, 8], "latent_dim": 4},
    "dae": {"hidden": [32], "latent_dim": 4},
    "cae": {"latent_dim": 8},
    "lstm-ae": {"hidden": [16], "latent_dim": 4},
    "gan": {"hidden_g": [32], "hidden_d": [32], "noise_dim": 8},
    "cgan": {"width_g": 4, "width_d": 4, "noise_dim": 8},
    "dcgan": {"width_g": 4, "width_d": 4, "noise_dim": 8},
    "wgan-gp": {"width_g": 4, "width_d": 4, "noise_dim": 8, "n_critic": 3},
    "sngan": {"width_g": 4, "width_d": 4, "noise_dim": 8},
    "infogan": {"width_g": 4, "width_d": 4, "noise_dim": 8, "q_hidden": 8},
    "acgan": {"width_g": 4, "width_d": 4, "noise_dim": 8},
    "aae": {"hidden": [32], "latent_dim": 4, "hidden_d": [16]},
    "vae-gan": {"channels": [4, 8], "latent_dim": 4, "width_d": 4},
    "cvae": {"hidden": [32], "latent_dim": 4},
    "iwae": {"hidden": [32], "latent_dim": 4, "samples": 3},
    "vamp-vae": {"hidden": [32], "latent_dim": 4, "pseudo_inputs": 8},
    "info-vae": {"hidden": [32], "latent_dim": 4},
    "beta-tcvae": {"hidden": [32], "latent_dim": 4},
    "factor-vae": {"hidden": [32], "latent_dim": 4, "discriminator_hidden": [16, 16]},
    "ladder-vae": {"hidden": [32, 16], "latent_dims": [4, 2]},
    "wae": {"hidden": [32], "latent_dim": 4},
    "rae": {"hidden": [32], "latent_dim": 4},
    "dip-vae": {"hidden": [32], "latent_dim": 4},
    "cat-vae": {"hidden": [32], "categoricals": 3, "classes": 4},
    "vq-vae": {"channels": [4, 8], "codes": 8, "code_dim": 4, "prior_channels": 8, "prior_layers": 2},
}
# Train settings a model's tiny runs always carry: dcgan's exercise the moving average of the weights.
TINY_TRAIN: dict[str, dict[str, Any]] = {"dcgan": {"ema_decay": 0.9}}


@pytest.fixture(autouse=True)
def cpu_without_bf16(monkeypatch):
    """Every test sees a CPU without native bf16 (so train.precision=auto means fp32), whatever the machine: no
    result depends on the CPU the suite runs on. Tests of the other branch patch the probe themselves."""
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: False)


PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def build_tiny_config(model_name: str = "vae", /, **sections: dict[str, Any] | int) -> dict[str, Any]:
    """A plain config dict (same shape as config.yaml) for a run of a few seconds at most.

    256 training images in batches of 32 = 8 steps per epoch, 64 test images, one epoch, log every 4 steps,
    no TensorBoard, CPU. `sections` are merged over it:
    build_tiny_config("vae", model={"beta": 4}, train={"epochs": 2}, seed=3).
    """
    base: dict[str, Any] = {
        "model": {"name": model_name, **TINY_MODEL.get(model_name, {})},
        "data": {"dataset": "mnist", "train_size": 256, "test_size": 64},
        "train": {
            "epochs": 1,
            "batch_size": 32,
            "log_every": 4,
            "tensorboard": False,
            "device": "cpu",
            "precision": "fp32",  # the same in a subprocess on any CPU (auto is tested apart, probe faked)
            "grid_size": 16,
            "eval_batch_size": 64,
            **TINY_TRAIN.get(model_name, {}),
        },
        "seed": 0,
    }
    return merge(base, copy.deepcopy(sections))


def one_line_error(stderr: str) -> str:
    """The CLI's error for bad input: exactly one line, `genzoo: error: ...`; returns it."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("genzoo: error: ")
    return lines[0]


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def newest_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(list_checkpoints(Path(run_dir) / "checkpoints")[0] / WEIGHTS))


def assert_same_run(a: Path, b: Path, final_step: int = 16, same_config: bool = True) -> None:
    """Run folders a and b hold the same run, bit for bit: weights, optimizer and RNG states at `final_step`,
    metrics.jsonl, reconstruction grids (and config.yaml, unless `same_config` is False)."""
    name = f"step-{final_step:06d}"
    weights_a = ckpt.load_weights(ckpt.validate(a / "checkpoints" / name))
    weights_b = ckpt.load_weights(ckpt.validate(b / "checkpoints" / name))
    assert weights_a.keys() == weights_b.keys()
    for key in weights_a:
        assert torch.equal(weights_a[key], weights_b[key]), key
    state_a = ckpt.load_train_state(ckpt.validate(a / "checkpoints" / name))
    state_b = ckpt.load_train_state(ckpt.validate(b / "checkpoints" / name))
    assert state_a["step"] == state_b["step"] == final_step
    for group, opt_a in state_a["optimizers"].items():
        opt_b = state_b["optimizers"][group]
        for index, slots in opt_a["state"].items():
            for slot, value in slots.items():
                assert torch.equal(value, opt_b["state"][index][slot]), (group, index, slot)
    assert len(state_a["ranks"]) == len(state_b["ranks"])
    for rank_a, rank_b in zip(state_a["ranks"], state_b["ranks"]):
        assert torch.equal(rank_a["rng"]["cpu"], rank_b["rng"]["cpu"])
        assert rank_a["counts"] == rank_b["counts"]
        assert rank_a["running"].keys() == rank_b["running"].keys()
        assert all(torch.equal(rank_a["running"][k], rank_b["running"][k]) for k in rank_a["running"])
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()
    if same_config:
        assert (a / "config.yaml").read_bytes() == (b / "config.yaml").read_bytes()
    for picture in sorted([*a.glob("reconstructions/epoch-*.png"), *a.glob("samples/epoch-*.png")]):
        assert picture.read_bytes() == (b / picture.relative_to(a)).read_bytes(), picture.name


FAULT_SCRIPT = REPO / "tests" / "reliability" / "fault_injection.py"


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def genzoo_command(*args: str | Path, fault: str = "none", processes: int = 1) -> tuple[list[str], dict]:
    """(command, environment) of `genzoo ARGS` with a fault from fault_injection.py; under torchrun when
    processes > 1. A lone process uses this process's thread count, so that its arithmetic matches an
    in-process run bit for bit."""
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable]
    if processes > 1:  # torchrun: one thread per rank (its default), a free port on this machine
        env["OMP_NUM_THREADS"] = "1"
        command += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    return [*command, str(FAULT_SCRIPT), fault, "--", *map(str, args)], env


def run_genzoo(
    *args: str | Path, fault: str = "none", processes: int = 1, timeout: float = 400
) -> subprocess.CompletedProcess:
    command, env = genzoo_command(*args, fault=fault, processes=processes)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Corrupt a file in place without changing its size (default: a byte in the middle)."""
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Keep every test away from the repository, the user's cache, $GENZOO_DATA_DIR and any proxy."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GENZOO_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def tiny_config():
    """The tiny config builder, as a fixture: tiny_config("vae", train={"epochs": 2})."""
    return build_tiny_config


@pytest.fixture(scope="session")
def mnist_small():
    """The first 256 training and 64 test images of the shipped MNIST, loaded once."""
    return load_dataset("mnist", train_size=256, test_size=64)


@pytest.fixture(scope="session")
def tiny_vae_run(tmp_path_factory) -> Path:
    """A tiny VAE trained once per session for 2 epochs (16 steps); returns its run folder. Treat as read-only."""
    run_dir = tmp_path_factory.mktemp("session-run") / "vae"
    genzoo.train(build_tiny_config("vae", train={"epochs": 2}), run_dir, verbose=False)
    return run_dir


@pytest.fixture
def run_copy(tiny_vae_run, tmp_path) -> Path:
    """A writable copy of tiny_vae_run, for tests that damage, edit or extend a run."""
    return Path(shutil.copytree(tiny_vae_run, tmp_path / "run"))


@pytest.fixture(scope="session")
def tiny_ae_run(tmp_path_factory) -> Path:
    """A tiny (untied) autoencoder trained once per session for 1 epoch; returns its run folder. Read-only."""
    run_dir = tmp_path_factory.mktemp("session-run") / "ae"
    genzoo.train(build_tiny_config("ae"), run_dir, verbose=False)
    return run_dir
