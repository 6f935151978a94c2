"""Where training runs and in which precision: device selection, deterministic GPU kernels, and what
`train.precision: auto` resolves to.

auto means bf16 autocast where the device computes bf16 natively and fp32 elsewhere:

- a CPU with AVX512-BF16 or AMX (x86) or the BF16 extension (Arm), read from /proc/cpuinfo. Without them
  PyTorch emulates bf16 through fp32 conversions, several times slower than plain fp32;
- a CUDA device of compute capability 8.0 or newer (Ampere on), whose tensor cores take bf16;
- and only for a model that keeps its quality in bf16 (`GenerativeModel.bf16_safe`, measured per model in
  benchmarks/results/precision.md); the others get fp32 everywhere.

A run's config.yaml records what auto resolved to (fp32 or bf16), so a resumed run keeps its precision even on
another machine.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from genzoo.config import RunConfig
from genzoo.errors import GenzooError

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(spec: str, local_rank: int | None = None) -> torch.device:
    """The device for `train.device`; under torchrun (local_rank given) each process takes GPU `local_rank`."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GenzooError(f"train.device={spec!r} but CUDA is not available here; use cpu or auto")
    if device.type == "cuda" and local_rank is not None:
        if local_rank >= torch.cuda.device_count():
            raise GenzooError(
                f"torchrun started process LOCAL_RANK={local_rank} but this machine has "
                f"{torch.cuda.device_count()} GPU(s); start at most that many processes per node, "
                "or pass --device cpu"
            )
        device = torch.device("cuda", local_rank)
    return device


def deterministic_cuda() -> None:
    """Make GPU runs repeatable, as exact resume needs: cuDNN's deterministic algorithms without autotuning,
    PyTorch's deterministic kernels where an op has one (a warning where it has none, e.g. some index_add
    backwards), and cuBLAS with a fixed workspace (read when its first handle is made, so set before any GPU
    matmul). Costs some speed on convolutions; the CPU path is deterministic already."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def cpu_has_bf16() -> bool | None:
    """Whether this CPU computes bf16 natively (x86: AVX512-BF16 or AMX; Arm: the BF16 extension), from Linux's
    /proc/cpuinfo; None where that cannot be read (then auto takes fp32)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    flags = set(text.split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def native_bf16(device: torch.device) -> bool:
    """Whether `device` runs bf16 matrix products in hardware (what makes autocast pay)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        return bool(cpu_has_bf16())
    return False


def resolve_precision(requested: str, device: torch.device, bf16_safe: bool = True) -> str:
    """fp32 or bf16 for `train.precision`: an explicit choice stands; auto takes bf16 where the hardware has
    it and the model keeps its quality in it."""
    if requested not in PRECISIONS:
        raise GenzooError(f"train.precision={requested!r}; expected one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    return "bf16" if bf16_safe and native_bf16(device) else "fp32"


def with_precision(config: RunConfig, device: torch.device, bf16_safe: bool) -> RunConfig:
    """The config with train.precision resolved (what config.yaml and checkpoints record)."""
    precision = resolve_precision(config.train.precision, device, bf16_safe)
    return config.replace(train=dataclasses.replace(config.train, precision=precision))


def compile_networks(model: torch.nn.Module) -> None:
    """`train.compile`: torch.compile each network the model holds (its direct submodules with parameters), in place.

    The networks, not `training_step`: a step's Python (the step number in warm-up and annealing schedules,
    the phase, noise drawn for a batch) would make torch.compile guard on values that change every step and
    recompile until it gives up, while the networks are where the time goes and their inputs keep one shape
    all epoch. In place (`nn.Module.compile`), so parameter names, state dicts and checkpoints stay those of
    the eager model."""
    for network in model.children():
        if any(True for _ in network.parameters()):  # not parameter-free helpers (likelihoods, health monitors)
            network.compile()
