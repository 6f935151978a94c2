"""What a report or the run browser shows of a run folder, read from the folder alone (never from a trainer).

`read_run` gathers the facts cheaply: no model is built and no weights are loaded, so listing a folder of a
hundred runs takes a moment. A run that cannot be read is listed with its problem instead of stopping the list.
"""

from __future__ import annotations

import io
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genzoo.config import read_yaml
from genzoo.errors import GenzooError
from genzoo.evaluate.results import read_eval
from genzoo.run_folder import CONFIG_FILE, EVAL_FILE, METRICS_FILE, RunFolder

SKIPPED_FOLDERS = {"checkpoints", "samples", "reconstructions", "tb"}  # parts of a run, never runs themselves


@dataclass
class RunInfo:
    path: Path
    name: str  # as listed: the folder's path relative to the browsed root
    config: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    evaluation: dict[str, Any] = field(default_factory=dict)
    step: int = 0  # the newest checkpoint's step (0 before the first)
    problem: str | None = None  # why the folder could not be read, if it could not

    @property
    def model(self) -> str:
        model = self.config.get("model")
        return str(model.get("name", "?")) if isinstance(model, dict) else "?"

    @property
    def dataset(self) -> str:
        data = self.config.get("data")
        return str(data.get("dataset", "mnist")) if isinstance(data, dict) else "mnist"  # mnist: the default

    @property
    def epochs(self) -> float | None:
        at_step = [r["epoch"] for r in self.metrics if r.get("step") == self.step and "epoch" in r]
        return at_step[-1] if at_step else None

    @property
    def capabilities(self) -> frozenset[str]:
        from genzoo.models.registry import MODELS, get_model_class

        try:
            return get_model_class(self.model).capabilities
        except GenzooError:  # a model this version does not know: nothing to offer but the files
            return frozenset() if self.model not in MODELS else MODELS[self.model].capabilities

    def inside(self, path: Path) -> bool:
        """Whether `path` is a file of this run once links and '..' are resolved: pages show nothing else."""
        try:
            return path.resolve().is_relative_to(self.path.resolve()) and path.is_file()
        except (OSError, ValueError):  # a link loop, a name with a NUL byte
            return False

    def pictures(self, folder: str) -> list[Path]:
        """The per-epoch grids of `folder` ("samples" or "reconstructions"), oldest first."""
        return sorted(p for p in (self.path / folder).glob("epoch-*.png") if self.inside(p))

    @property
    def progress_gif(self) -> Path | None:
        """The GIF of the grids over training: of samples, or of reconstructions for a model that cannot sample."""
        for folder in ("samples", "reconstructions"):
            gif = self.path / folder / "progress.gif"
            if self.inside(gif):
                return gif
        return None

    @property
    def evaluation_plots(self) -> list[Path]:
        names = self.evaluation.get("posterior", {}).get("plots", [])
        return [self.path / name for name in names if isinstance(name, str) and self.inside(self.path / name)]

    @property
    def config_text(self) -> str:
        config = self.path / CONFIG_FILE
        return config.read_text(encoding="utf-8", errors="replace") if self.inside(config) else ""


def read_run(path: Path | str, name: str | None = None) -> RunInfo:
    """The facts of one run folder. Raises GenzooError when it is not a run folder at all."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise GenzooError(f"{path}: not a run folder (no {CONFIG_FILE}); train one with `genzoo train`")
    info = RunInfo(path=path, name=name or path.resolve().name)
    folder = RunFolder(path)
    try:
        for file in (CONFIG_FILE, METRICS_FILE, EVAL_FILE):
            if (path / file).exists() and not info.inside(path / file):
                raise GenzooError(f"{path / file} links outside the run folder; it is not read")
        info.config = read_yaml(path / CONFIG_FILE)
        if not isinstance(info.config.get("model"), dict) or "name" not in info.config["model"]:
            raise GenzooError(f"{path / CONFIG_FILE} names no model (model.name); not a config genzoo wrote")
        info.metrics = folder.metrics()
        info.evaluation = read_eval(path)
    except GenzooError as exc:
        info.problem = str(exc)
    info.step = folder.newest_step() or 0  # by name: listing must not hash every file
    return info


def find_runs(root: Path | str) -> list[RunInfo]:
    """Every run folder under `root` (itself included), sorted by name. Symbolic links are not followed, so a
    link cannot lead the browser out of its root."""
    root = Path(root)
    found = []
    for folder, subfolders, files in os.walk(root, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if d not in SKIPPED_FOLDERS and not d.startswith("."))
        if CONFIG_FILE in files:
            here = Path(folder)
            found.append(read_run(here, here.relative_to(root).as_posix() if here != root else root.resolve().name))
    return sorted(found, key=lambda run: run.name)


# -- training curves ------------------------------------------------------------------------------------------
SKIPPED_TERMS = {"step", "epoch", "split"}
MAX_PANELS = 12
MAX_POINTS = 400  # train points drawn per term: a long run logs thousands
PYPLOT_LOCK = threading.Lock()


def loss_terms(metrics: list[dict[str, Any]]) -> list[str]:
    """The scalar terms a run logged, in first-seen order."""
    seen: dict[str, None] = {}
    for record in metrics:
        for key, value in record.items():
            if key not in SKIPPED_TERMS and isinstance(value, (int, float)) and not isinstance(value, bool):
                seen.setdefault(key)
    return list(seen)


def curves_png(run: RunInfo) -> bytes | None:
    """One panel per logged term against epochs: train (line, thinned to MAX_POINTS) and test (dots). PNG bytes,
    or None when the run logged nothing yet. pyplot keeps global state, so the server's threads draw in turn."""
    terms = loss_terms(run.metrics)[:MAX_PANELS]
    if not terms:
        return None
    with PYPLOT_LOCK:
        return _draw_curves(run, terms)


def _draw_curves(run: RunInfo, terms: list[str]) -> bytes:
    from genzoo.explore.plots import pyplot

    plt = pyplot()
    columns = min(3, len(terms))
    rows = math.ceil(len(terms) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.6 * rows), dpi=90, squeeze=False)
    # Every panel spans the epochs the run logged, so that a term logged once (a test-only figure after the
    # first epoch) is a dot at its epoch on the same axis as the others, not a lone dot on an axis of its own.
    xs_all = [r.get("epoch", r["step"]) for r in run.metrics]
    x_low, x_high = (min(xs_all), max(xs_all)) if xs_all else (0.0, 1.0)
    pad = 0.05 * (x_high - x_low) if x_high > x_low else 0.5
    for ax, term in zip(axes.flat, terms):
        values, last = [], None
        for split, style in (
            ("train", dict(lw=1, color="tab:blue")),
            ("test", dict(marker="o", ms=3, lw=1, color="tab:orange")),
        ):
            points = [
                (r.get("epoch", r["step"]), r[term])
                for r in run.metrics
                if r.get("split", "train") == split and isinstance(r.get(term), (int, float)) and math.isfinite(r[term])
            ]
            if split == "train" and len(points) > MAX_POINTS:
                points = points[:: math.ceil(len(points) / MAX_POINTS)]
            if points:
                xs, ys = zip(*points)
                if len(points) == 1:  # a line needs two points: mark the one
                    style = {**style, "marker": "o", "ms": 4}
                ax.plot(xs, ys, label=split, **style)
                values, last = values + list(ys), points[-1]
        ax.set_xlim(x_low - pad, x_high + pad)
        if last is not None and max(values) == min(values):  # one value: centre it in a readable range, print it
            half = max(abs(last[1]) * 0.1, 0.05)
            ax.set_ylim(last[1] - half, last[1] + half)
            ax.annotate(f"{last[1]:.4g}", last, textcoords="offset points", xytext=(-4, 6), ha="right", fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False)  # tick labels are the values, not offsets from one
        ax.set_title(term, fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(terms) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
