"""A run's eval.json: one JSON object of named sections, e.g.

    {"nll": {"nll": 86.9, "elbo": -91.2, "k": 5000, "n_images": 10000, "seed": 0, "dataset": ...},
     "posterior": {"active_units": 21, "kl_per_dim": [...], ...}}

Each evaluation replaces its own sections and keeps the others, so evaluations written by different tools (test
likelihood, posterior collapse, sample quality) live side by side. Written atomically.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError
from genzoo.files import atomic_write_text
from genzoo.run_folder import EVAL_FILE


def read_eval(run_dir: Path | str) -> dict[str, Any]:
    """The sections of a run's eval.json ({} when there is none yet)."""
    path = Path(run_dir) / EVAL_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GenzooError(f"{path}: not readable JSON ({exc}); move it away to start a new one") from exc
    if not isinstance(data, dict):
        raise GenzooError(f"{path}: expected a JSON object of named sections, got {type(data).__name__}")
    return data


def _plain(value: Any) -> Any:
    """JSON has no NaN or infinity: they are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def update_eval(run_dir: Path | str, sections: dict[str, dict[str, Any]]) -> Path:
    """Merge `sections` into the run's eval.json (a section of the same name is replaced whole); returns its path."""
    path = Path(run_dir) / EVAL_FILE
    data = read_eval(run_dir)
    data.update(_plain(sections))
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return path
