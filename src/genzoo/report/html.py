"""HTML pages of runs, shared by `genzoo report` (one self-contained file) and `genzoo serve` (the run browser).

A page is built from `RunInfo` facts and a `Source` that turns a file of the run into the address an <img> reads:
a data: URI for the report, so the file can be mailed or archived alone, or a /file link for the server. Every
piece of text that comes from a run folder (names, config values, metric keys) is escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Iterable, Sequence
from itertools import groupby
from pathlib import Path

from genzoo.errors import GenzooError
from genzoo.evaluate.leaderboard import SAMPLED_BY, leaderboard
from genzoo.report.runs import CONFIG_FILE, RunInfo, curves_png

Source = Callable[[Path], str]  # a file inside a run folder -> the URL an <img> loads it from

MIME = {
    ".png": "image/png",
    ".gif": "image/gif",
    ".json": "application/json",
    ".jsonl": "application/json",
    ".yaml": "text/plain; charset=utf-8",
}

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .6em 0; } td, th { padding: .2em .6em; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.floor td { color: #666; font-style: italic; }
img.grid { image-rendering: pixelated; border: 1px solid #ddd; max-width: 100%; }
figure { display: inline-block; margin: 0 1.5em 1em 0; vertical-align: top; } figcaption { color: #666; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: 12px; }
.problem { color: #a00; } .muted { color: #777; } a { color: #0a5; }
"""


class Markup(str):
    """HTML built here (a link), which `table` places as it is; any other cell is text and gets escaped."""


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def embedded(path: Path) -> str:
    """The Source of a self-contained report: the file itself, base64-encoded into the page."""
    return data_uri(path.read_bytes(), MIME.get(path.suffix, "application/octet-stream"))


def page(title: str, body: str, head: str = "") -> str:
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style>{head}</head>\n<body>\n{body}\n</body></html>\n"
    )


def table(header: Sequence[str], rows: Iterable[Sequence[object]], classes: Sequence[str] = ()) -> str:
    """A table of escaped cells; cells that read as numbers are right-aligned. `classes`: one per row (or none)."""

    def cell(value: object) -> str:
        if isinstance(value, Markup):
            return f"<td>{value}</td>"
        text = escape(value)
        numeric = text.replace(".", "", 1).replace("-", "", 1).replace("e", "", 1).isdigit()
        return f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>"

    rows = list(rows)
    classes = list(classes) + [""] * (len(rows) - len(classes))
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(f'<tr class="{escape(c)}">' + "".join(map(cell, row)) + "</tr>" for row, c in zip(rows, classes))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def anchor(href: str, text: str) -> Markup:
    return Markup(f'<a href="{escape(href)}">{escape(text)}</a>')


def figure(src: str, caption: str, css: str = "grid") -> str:
    return (
        f'<figure><img class="{css}" src="{escape(src)}" alt="{escape(caption)}"><figcaption>'
        f"{escape(caption)}</figcaption></figure>"
    )


# -- the pieces of a run's page -------------------------------------------------------------------------------
def facts(run: RunInfo) -> str:
    train = run.config.get("train", {})
    epochs = "-" if run.epochs is None else f"{run.epochs:.4g}"
    rows = [
        ("model", run.model),
        ("data set", run.dataset),
        ("steps trained", run.step),
        ("epochs", epochs),
        ("batch size", train.get("batch_size", "-")),
        ("precision", train.get("precision", "-")),
        ("seed", run.config.get("seed", "-")),
        ("can", ", ".join(sorted(run.capabilities)) or "-"),
    ]
    return table(["", ""], rows)


def _samples(run: RunInfo) -> int:
    """The sample count of a run's sample-quality figures (0 where it has none)."""
    sections = [run.evaluation.get(key) or {} for key in SAMPLED_BY]
    return max((section.get("protocol", {}).get("samples") or 0 for section in sections), default=0)


def leaderboard_html(runs: Sequence[RunInfo]) -> str:
    """The `genzoo compare` table of the evaluated runs, one table per data set and sample count (figures of
    different data sets, or from other sample counts, are not comparable), the real-data floor first."""
    key = lambda r: (r.dataset, _samples(r))
    evaluated = sorted((r for r in runs if r.evaluation), key=key)
    groups = [(k, list(g)) for k, g in groupby(evaluated, key=key)]
    parts = []
    for (dataset, samples), group in groups:
        several = sum(1 for (d, _), _ in groups if d == dataset) > 1
        title = escape(dataset) + (f", {samples:,} samples" if several and samples else "")
        try:
            header, rows = leaderboard([r.path for r in group], [r.name for r in group])
        except GenzooError as exc:  # e.g. evaluated with another feature network: say so, show the rest
            parts.append(f'<h3>{title}</h3><p class="problem">{escape(exc)}</p>')
            continue
        classes = ["floor" if row[0] == "real data (floor)" else "" for row in rows]
        parts.append(f"<h3>{title}</h3>" + table(header, rows, classes))
    return "".join(parts)


def posterior_html(run: RunInfo, src: Source) -> str:
    posterior = run.evaluation.get("posterior")
    if not posterior or "kl_per_dim" not in posterior:  # (eval.json of genzoo 0.1 filed GAN health here too)
        return ""
    kl = sum(posterior.get("kl_per_dim", []))
    text = (
        f"<p>{escape(posterior.get('active_units', '?'))} of {len(posterior.get('kl_per_dim', []))} latent units "
        f"active; KL {kl:.2f} nats per test image.</p>"
    )
    return text + "".join(figure(src(p), p.stem.replace("_", " "), css="plot") for p in run.evaluation_plots)


def pictures_html(run: RunInfo, src: Source, gif: bool = True) -> str:
    shown = []
    for folder in ("samples", "reconstructions"):
        frames = run.pictures(folder)
        if frames:
            shown.append(figure(src(frames[-1]), f"{folder}, {frames[-1].stem.replace('-', ' ')}"))
    if gif and run.progress_gif:
        shown.append(figure(src(run.progress_gif), "samples over training"))
    return "".join(shown) or '<p class="muted">no pictures yet</p>'


def run_html(run: RunInfo, src: Source, curves: str | None, links: str = "", gif: bool = True) -> str:
    """A run's section: facts, evaluation, pictures, training curves and its config. `curves`: the address of
    its curves image (None: it logged nothing yet)."""
    parts = [f'<h2 id="{escape(run.name)}">{escape(run.name)}</h2>', links]
    if run.problem:
        parts.append(f'<p class="problem">{escape(run.problem)}</p>')
    parts.append(facts(run))
    if run.evaluation:
        parts += ["<h3>evaluation</h3>", leaderboard_html([run]), posterior_html(run, src)]
    else:
        parts.append(f'<p class="muted">not evaluated: <code>genzoo evaluate {escape(run.path)}</code></p>')
    parts += ["<h3>pictures</h3>", pictures_html(run, src, gif)]
    if curves:
        parts += ["<h3>training curves</h3>", figure(curves, "train (line) and test (dots) per epoch", css="plot")]
    parts.append(f"<details><summary>{CONFIG_FILE}</summary><pre>{escape(run.config_text)}</pre></details>")
    return "\n".join(parts)


def report(runs: Sequence[RunInfo], gif: bool = True) -> str:
    """One self-contained page: the leaderboard of the evaluated runs, then every run's section, pictures and
    curves embedded."""
    title = runs[0].name if len(runs) == 1 else f"{len(runs)} genzoo runs"
    parts = [f"<h1>{escape(title)}</h1>"]
    if len(runs) > 1:
        board = leaderboard_html(runs)
        parts += [
            "<h2>leaderboard</h2>",
            board or '<p class="muted">no run is evaluated yet</p>',
            "<p>" + " &middot; ".join(anchor(f"#{r.name}", r.name) for r in runs) + "</p>",
        ]
    for run in runs:
        curves = curves_png(run)
        parts.append(run_html(run, embedded, data_uri(curves, "image/png") if curves else None, gif=gif))
    return page(title, "\n".join(parts))
