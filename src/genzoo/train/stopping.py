"""Stopping safely: on a signal (a scheduler's SIGTERM, Ctrl-C) and on a loss that is no longer finite.

A signal does not kill the trainer: it is noted, the current step finishes, a checkpoint is written and
`TrainingInterrupted` carries the conventional exit code (128 + signal number: 143 for SIGTERM, 130 for SIGINT)
up to the command line. A second Ctrl-C gives up at once. A non-finite loss raises `NonFiniteLoss` before the
optimizer applies that step's gradients, so no checkpoint ever holds non-finite weights.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from genzoo.errors import GenzooError


class TrainingInterrupted(BaseException):
    """Training stopped on a signal after writing a checkpoint; `genzoo resume RUN` continues it exactly.
    A BaseException, like KeyboardInterrupt: an `except Exception` around a training call must not swallow a
    request to stop."""

    def __init__(self, signum: int, step: int, checkpoint: Path | None):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        self.exit_code = 128 + signum
        where = f"; checkpoint {checkpoint}" if checkpoint else ""
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}{where}")


class NonFiniteLoss(GenzooError):
    """The loss or one of its terms became NaN or infinite; training stopped without applying that step."""

    exit_code = 3


class StopSignals:
    """While active, SIGTERM and SIGINT set `signum` instead of ending the process. Only the main thread can
    install handlers; elsewhere (a training thread in a notebook) this does nothing and signals act as usual.

    `escalate`: a second SIGINT raises KeyboardInterrupt at once. Off under torchrun, whose launcher passes a
    terminal's Ctrl-C on to workers that already got it from the terminal: that second copy must not cost the
    checkpoint."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, escalate: bool = True):
        self.signum: int | None = None
        self.escalate = escalate
        self.previous: dict[int, object] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.escalate and signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: the user does not want to wait for the checkpoint
        self.signum = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous.clear()
