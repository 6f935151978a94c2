"""The genzoo command line with a fault injected at an exact point. Reliability tests start it as a subprocess,
alone or under torchrun (then once per rank), so that real signals and real SIGKILLs hit a real process.

    python fault_injection.py FAULT[,FAULT...] -- train vae --config cfg.yaml --out run

Faults (STEP counts from 1, like the step numbers in metrics.jsonl; `:rankN` limits a fault to that rank):
    signal:TERM@STEP   the process sends itself SIGTERM (or INT, KILL) while it computes step STEP
    kill-in-checkpoint@STEP   SIGKILL once checkpoint STEP's files are written, before the folder is renamed into place
    kill-in-log@STEP   SIGKILL halfway through writing the train line of STEP to metrics.jsonl (a torn last line)
    nan@STEP           the loss of step STEP reads NaN to the trainer's check (torchrun: on the chosen rank only)
    hold@STEP          after step STEP, create $GENZOO_TEST_RELEASE.held and wait until $GENZOO_TEST_RELEASE exists
                       (a writer caught in the middle of its run, for tests of what other processes may do meanwhile)
    deferred-checks    read the stop/non-finite flags at log lines only, as the trainer does on CUDA
    check-replicas     after every optimizer update, every rank's parameters must equal rank 0's (exit 17 if not)
    none               nothing: the plain command line
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from genzoo.cli import main
from genzoo.models.base import StepOutput
from genzoo.train import checkpoint, trainer
from genzoo.train.logging import MetricsLog

RANK = int(os.environ.get("RANK", "0"))


def kill(sig: int = signal.SIGKILL) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), sig)


def during_step(step: int, action) -> None:
    """Run `action` right after an optimizer update of step `step` (every phase of it)."""
    original = trainer.Trainer._accumulate

    def hooked(self, phase, out):
        original(self, phase, out)
        if self.step + 1 == step:
            action()

    trainer.Trainer._accumulate = hooked


def kill_in_checkpoint(step: int) -> None:
    original = checkpoint._fsync_file

    def hooked(path):
        original(path)
        # meta.json is the last file of the temporary folder; the rename into step-N comes after it.
        if path.name == checkpoint.META and path.parent.name.startswith(f".step-{step:06d}."):
            kill()

    checkpoint._fsync_file = hooked


def kill_in_log(step: int) -> None:
    original = MetricsLog.write

    def hooked(self, record):
        if record["step"] == step and record["split"] == "train":
            line = MetricsLog.line(record)
            self.file.write(line[: len(line) // 2])
            self.file.flush()
            kill()
        original(self, record)

    MetricsLog.write = hooked


def nan_at(step: int) -> None:
    original = trainer.Trainer._reduce

    def hooked(self, phase, out, signals):
        if self.step + 1 == step:
            out = StepOutput(out.loss * float("nan"), out.terms)
        original(self, phase, out, signals)

    trainer.Trainer._reduce = hooked


def hold_until_released() -> None:
    release = Path(os.environ["GENZOO_TEST_RELEASE"])
    release.with_suffix(".held").touch()
    deadline = time.monotonic() + 300
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def deferred_checks() -> None:
    original = trainer.Trainer.__init__

    def hooked(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.check_every_phase = False

    trainer.Trainer.__init__ = hooked


def check_replicas() -> None:
    original = trainer.Trainer._accumulate

    def hooked(self, phase, out):
        original(self, phase, out)
        flat = torch.cat([p.detach().flatten() for p in self.model.parameters()])
        copies = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
        dist.all_gather(copies, flat)
        if not all(torch.equal(copies[0], c) for c in copies):
            print(f"rank {RANK}: parameters differ between ranks after step {self.step + 1}", file=sys.stderr)
            os._exit(17)

    trainer.Trainer._accumulate = hooked


def install(fault: str) -> None:
    fault, _, rank = fault.partition(":rank")
    if (rank and int(rank) != RANK) or fault == "none":
        return
    name, _, step = fault.partition("@")
    if name.startswith("signal:"):
        sig = getattr(signal, "SIG" + name.removeprefix("signal:"))
        during_step(int(step), lambda: kill(sig))
    elif name == "kill-in-checkpoint":
        kill_in_checkpoint(int(step))
    elif name == "kill-in-log":
        kill_in_log(int(step))
    elif name == "nan":
        nan_at(int(step))
    elif name == "hold":
        during_step(int(step), hold_until_released)
    elif name == "deferred-checks":
        deferred_checks()
    elif name == "check-replicas":
        check_replicas()
    else:
        raise SystemExit(f"unknown fault {fault!r}")


if __name__ == "__main__":
    # Ctrl-C as a terminal's genzoo sees it, even when the suite itself was started with SIGINT ignored (a shell's
    # background job): the signal tests send SIGINT and expect KeyboardInterrupt's path.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    faults, separator, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    assert separator == "--", __doc__
    for fault in faults.split(","):
        install(fault)
    sys.exit(main(args))
