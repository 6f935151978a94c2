"""A leaderboard of runs from their eval.json files, with the real-data floor as its first row.

Nothing is recomputed: `genzoo evaluate` wrote every figure with its protocol, and runs are comparable when
they share a data set, a feature network and a sample count (FD and KID, the floor's too, move with the number
of samples): checked, a mismatch is reported, not silently mixed. A run trained on after its evaluation is
named with the step its figures describe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError
from genzoo.evaluate.results import read_eval
from genzoo.run_folder import RunFolder

# (column title, section, key, format); a missing figure prints as "-".
COLUMNS = [
    ("FD-lenet", "quality", "fd_lenet", "{:.2f}"),
    ("KID-lenet x1e3", "quality", "kid_lenet", "{:.2f}"),
    ("precision", "quality", "precision", "{:.3f}"),
    ("recall", "quality", "recall", "{:.3f}"),
    ("density", "quality", "density", "{:.3f}"),
    ("coverage", "quality", "coverage", "{:.3f}"),
    ("class. score", "quality", "classifier_score", "{:.2f}"),
    ("cond. acc.", "quality", "conditional_accuracy", "{:.3f}"),
    ("recon MSE", "codes", "reconstruction_mse", "{:.4f}"),
    ("kNN probe", "codes", "knn_accuracy", "{:.3f}"),
    ("logreg probe", "codes", "logistic_accuracy", "{:.3f}"),
    ("NLL nats", "nll", "nll", "{:.2f}"),
]
SCALE = {"kid_lenet": 1e3}


def _cell(sections: dict[str, Any], section: str, key: str, fmt: str) -> str:
    value = sections.get(section, {}).get(key)
    return "-" if value is None else fmt.format(value * SCALE.get(key, 1))


SAMPLED_BY = {"quality": "", "quality-gmm": " (gmm)"}  # eval.json section -> suffix of the row's name


def leaderboard(run_dirs: list[Path | str], names: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """(header, rows): the floor first (from the first run with sample-quality figures), then each run sorted by
    FD-lenet (runs without it last). Rows name runs by `names` (default: their folders' names); a run evaluated
    with `--sampler gmm` as well has a second row, "NAME (gmm)"."""
    if not run_dirs:
        raise GenzooError("compare needs at least one run folder")
    names = names or [Path(run).name for run in run_dirs]
    named = []
    for run, name in zip(map(Path, run_dirs), names):
        sections = read_eval(run)
        if not sections:
            raise GenzooError(f"{run}: no eval.json; run `genzoo evaluate {run}` first")
        named.append((name + _stale(run, sections), sections, str(run)))
    return rank(named)


def rank(named: list[tuple[str, dict[str, Any], str]]) -> tuple[list[str], list[list[str]]]:
    """The leaderboard of (name, eval.json sections, where they came from) entries: also for sections kept
    elsewhere than in run folders (a benchmark's json), so a table can be rebuilt without the runs."""
    entries, floor, protocol = [], None, None
    for name, sections, source in named:
        for key in SAMPLED_BY:
            quality = sections.get(key)
            if quality:
                p = quality["protocol"]
                this = (p["dataset"], p["feature_net_sha256"], p.get("samples"))
                if protocol is None:
                    protocol, floor = this, quality["floor"]
                elif this[:2] != protocol[:2]:
                    raise GenzooError(
                        f"{source}: evaluated on {this[0]} with another feature network than the first "
                        f"run ({protocol[0]}); its figures are not comparable"
                    )
                elif this[2] != protocol[2]:
                    raise GenzooError(
                        f"{source}: evaluated with {this[2]} samples, the first run with {protocol[2]}; "
                        "FD and KID (and the floor) depend on the sample count, so re-evaluate one "
                        "of them with the same --samples"
                    )
        sampled = [key for key in SAMPLED_BY if key in sections]
        for key in sampled or ["quality"]:  # one row per sampler measured (one row without sample figures)
            row = {k: v for k, v in sections.items() if k not in SAMPLED_BY}
            if key in sections:
                row["quality"] = sections[key]
            entries.append((name + SAMPLED_BY[key], row))
    entries.sort(key=lambda e: e[1].get("quality", {}).get("fd_lenet", float("inf")))
    header = ["run"] + [title for title, *_ in COLUMNS]
    rows = []
    if floor is not None:
        rows.append(
            ["real data (floor)"]
            + [_cell({"quality": floor}, s, k, f) if s == "quality" else "-" for _, s, k, f in COLUMNS]
        )
    rows += [[name] + [_cell(sections, s, k, f) for _, s, k, f in COLUMNS] for name, sections in entries]
    return header, rows


def _stale(run: Path, sections: dict[str, Any]) -> str:
    """ " (step N of M)" when the figures describe step N but the run has since trained to step M, else ""."""
    steps = {section.get("step") for section in sections.values() if isinstance(section, dict)} - {None}
    trained = RunFolder(run).newest_step()
    if not steps or trained is None or steps == {trained}:
        return ""
    return f" (step {min(steps)} of {trained})"


def format_table(header: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])
