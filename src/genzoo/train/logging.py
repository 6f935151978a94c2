"""Where training numbers go: metrics.jsonl (always), TensorBoard (when installed), the console.

metrics.jsonl holds one JSON object per line, flushed as written, with only deterministic content (step, epoch,
split and loss terms; no clock), so a resumed run's file equals an uninterrupted run's byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from genzoo.files import atomic_write_text
from genzoo.run_folder import METRICS_FILE


class MetricsLog:
    def __init__(self, run_dir: Path, tensorboard: bool = True):
        self.path = run_dir / METRICS_FILE
        self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (open for the log's life; close())
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is an optional extra
                self.tb = None
            else:
                self.tb = SummaryWriter(str(run_dir / "tb"))

    @staticmethod
    def truncate(run_dir: Path, step: int) -> None:
        """Drop lines logged after `step` (a resume from that step will log them again)."""
        path = run_dir / METRICS_FILE
        if not path.exists():
            return
        kept = [line for line in path.read_text().splitlines(keepends=True) if _step(line) <= step]
        atomic_write_text(path, "".join(kept))

    @staticmethod
    def line(record: dict[str, Any]) -> str:
        return json.dumps(record) + "\n"

    def write(self, record: dict[str, Any]) -> None:
        self.file.write(self.line(record))
        self.file.flush()
        if self.tb is not None:
            prefix = record.get("split", "train")
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                    self.tb.add_scalar(f"{prefix}/{key}", value, record["step"])

    def image(self, tag: str, picture: np.ndarray, step: int) -> None:
        if self.tb is not None:
            self.tb.add_image(tag, picture, step, dataformats="HWC")

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()


def _step(line: str) -> int:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return 1 << 62  # an unreadable (torn) last line is dropped


class NullLog:
    """What ranks other than 0 log to under torchrun: nothing (rank 0 alone writes the run folder)."""

    def write(self, record: dict[str, Any]) -> None:
        pass

    def image(self, tag: str, picture: np.ndarray, step: int) -> None:
        pass

    def close(self) -> None:
        pass
