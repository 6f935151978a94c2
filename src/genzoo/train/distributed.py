"""Data-parallel training across processes started by `torchrun` (gloo on CPU, NCCL on CUDA).

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; with WORLD_SIZE > 1 the trainer joins the process group, gives each
rank its own contiguous share of every global batch (data/batches.py), and after each phase's backward averages
that phase's gradients over the ranks before its optimizer steps. Because every rank starts from the same
seed (hence the same weights) and applies the same averaged gradients, parameters stay identical on every rank
without a broadcast. Only rank 0 writes the run folder.

Gradients are averaged with one all-reduce per phase over a flat buffer: simpler than wrapping the model in
DistributedDataParallel, correct for models with several optimizer groups updated in turn (GANs, FactorVAE),
where DDP's hooks would reduce every parameter's gradient in every phase.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from genzoo.errors import GenzooError

T = TypeVar("T")


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> Distributed:
    """Read torchrun's variables; a plain `python`/`genzoo` call is a world of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Distributed(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world)


def setup(device: torch.device) -> Distributed:
    """Join the process group when launched by torchrun (idempotent); returns this process's place in it."""
    ctx = from_environment()
    if ctx.active and device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL collectives (and all_gather_object) use the current device
    if ctx.active and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return ctx


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[Distributed]:
    """setup() for the length of a training call; a group this call created is destroyed at its end (one that
    the caller had already initialised is left alone)."""
    created = from_environment().active and not dist.is_initialized()
    ctx = setup(device)
    try:
        yield ctx
    finally:
        if created and dist.is_initialized():
            dist.destroy_process_group()


def average_gradients(params: list[torch.nn.Parameter], world_size: int, flags: torch.Tensor) -> torch.Tensor:
    """Replace each gradient by its mean over the ranks, with one all-reduce over a flat copy of them all.

    `flags` (a few float32 values on the gradients' device: this rank's non-finite loss and stop request) ride
    along in the same buffer and come back summed over the ranks, so every rank takes the same decision from
    the same numbers without a second collective."""
    unreached = [p for p in params if p.grad is None]
    for p in unreached:  # a parameter this phase did not reach here: zeros, so that every rank's buffer lines up
        p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    flat = _flatten_dense_tensors([*grads, flags.float()])
    dist.all_reduce(flat)
    reduced_flags = flat[-flags.numel() :].clone()
    if grads:
        flat = flat[: -flags.numel()].div_(world_size)
        for grad, reduced in zip(grads, _unflatten_dense_tensors(flat, grads)):
            grad.copy_(reduced)
    for p in unreached:  # reached by no rank: no gradient, as in one process (the optimizer then skips it)
        if not p.grad.any():
            p.grad = None
    return reduced_flags


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of a tensor over the ranks (for logged losses)."""
    values = values.clone()
    dist.all_reduce(values)
    return values.div_(dist.get_world_size())


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank if it is true on any (all ranks agree to stop together: no deadlock)."""
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_object(obj):
    """Rank 0's `obj` on every rank (e.g. a run folder named after rank 0's clock)."""
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj) -> list:
    """Every rank's `obj` (e.g. RNG states for a checkpoint), in rank order, on every rank."""
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def on_rank_zero(ctx: Distributed, device: torch.device, action: Callable[[], T], what: str) -> T | None:
    """Rank 0's share of the work (writing the run folder), with every rank told whether it failed: none is left
    waiting in a collective, and none moves on before the files are on disk. Returns the action's result on
    rank 0 (None elsewhere). An OSError (disk full, no permission) becomes a one-line GenzooError."""
    result, error = None, None
    if ctx.is_main:
        try:
            result = action()
        except OSError as exc:
            error = GenzooError(f"{what} failed: {exc}")
        except Exception as exc:  # re-raised below, once the other ranks know
            error = exc
    failed = any_rank(error is not None, device) if ctx.active else error is not None
    if failed:
        raise error or GenzooError(f"rank 0 failed while {what}; its message says why")
    return result
