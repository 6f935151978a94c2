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
from urllib.parse import quote

from PIL import Image, UnidentifiedImageError

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
h1 { font-size: 1.5em; margin-bottom: .3em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; margin: 1.4em 0 .4em; }
nav { margin-bottom: .6em; } nav a { margin-right: .2em; }
table { border-collapse: collapse; margin: .6em 0; } td, th { padding: .2em .6em; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
th.num { text-align: right; } table.facts td:first-child { color: #555; } table.facts td.num { text-align: left; }
tr.floor td { color: #666; font-style: italic; }
img.grid { image-rendering: pixelated; border: 1px solid #ddd; max-width: 100%; height: auto; }
img.plot { max-width: 100%; height: auto; }
figure { display: inline-block; margin: 0 1.5em 1em 0; vertical-align: top; }
figcaption { color: #666; max-width: 32em; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: 12px; }
.problem { color: #a00; } .muted { color: #777; } a { color: #0a5; } .note { color: #666; font-size: .92em; }
"""
# The pages' icon, inline (a report opened from disk has no server to ask for /favicon.ico): a 2x2 grid of
# grey squares, like the sample grids the pages show.
ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#0a5"/>'
    '<rect x="3" y="3" width="4.5" height="4.5" fill="#fff"/>'
    '<rect x="8.5" y="3" width="4.5" height="4.5" fill="#cec"/>'
    '<rect x="3" y="8.5" width="4.5" height="4.5" fill="#cec"/>'
    '<rect x="8.5" y="8.5" width="4.5" height="4.5" fill="#fff"/>'
    "</svg>"
)
ICON_LINK = f'<link rel="icon" type="image/svg+xml" href="data:image/svg+xml,{quote(ICON_SVG)}">'
# A report is a file that may be mailed: it runs no script and loads nothing from anywhere (its pictures are
# data: URIs), and says so to the browser. (frame-ancestors cannot be set from a <meta>; the server sends it.)
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
GRID_ZOOM = 2  # sample and reconstruction grids (28 px per digit) are shown twice their size, as the GIF is


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
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{head}{ICON_LINK}'
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def table(
    header: Sequence[str] | None, rows: Iterable[Sequence[object]], classes: Sequence[str] = (), css: str = ""
) -> str:
    """A table of escaped cells; cells that read as numbers are right-aligned. `classes`: one per row (or none).
    `header` None: a table of facts, one per row, with no header row."""

    def numeric(value: object) -> bool:
        text = escape(value)
        return (
            not isinstance(value, Markup) and text.replace(".", "", 1).replace("-", "", 1).replace("e", "", 1).isdigit()
        )

    def cell(value: object) -> str:
        if isinstance(value, Markup):
            return f"<td>{value}</td>"
        return f'<td class="num">{escape(value)}</td>' if numeric(value) else f"<td>{escape(value)}</td>"

    rows = list(rows)
    classes = list(classes) + [""] * (len(rows) - len(classes))
    head = ""
    if header is not None:  # a column of numbers has its name over them, on the right
        columns = [[row[k] for row in rows if k < len(row)] for k in range(len(header))]
        names = [
            f'<th class="num">{escape(h)}</th>' if any(map(numeric, column)) else f"<th>{escape(h)}</th>"
            for h, column in zip(header, columns)
        ]
        head = "<thead><tr>" + "".join(names) + "</tr></thead>"
    body = "".join(f'<tr class="{escape(c)}">' + "".join(map(cell, row)) + "</tr>" for row, c in zip(rows, classes))
    attributes = f' class="{escape(css)}"' if css else ""
    return f"<table{attributes}>{head}<tbody>{body}</tbody></table>"


def anchor(href: str, text: str) -> Markup:
    return Markup(f'<a href="{escape(href)}">{escape(text)}</a>')


def figure(src: str, caption: str, css: str = "grid", size: tuple[int, int] | None = None) -> str:
    """An image with its caption; `size` (width, height): the size it is shown at (the layout then does not jump
    as pictures load)."""
    shown = "" if size is None else f' width="{size[0]}" height="{size[1]}"'
    wrap = "" if size is None else f' style="max-width: max(16em, {size[0]}px)"'  # a long caption wraps under its image
    return (
        f'<figure><img class="{css}" src="{escape(src)}" alt="{escape(caption)}"{shown}><figcaption{wrap}>'
        f"{escape(caption)}</figcaption></figure>"
    )


def picture_size(path: Path, zoom: int = 1) -> tuple[int, int] | None:
    """The size of a picture file times `zoom` (PIL reads only its header), or None if it cannot be read."""
    try:
        with Image.open(path) as image:
            return image.width * zoom, image.height * zoom
    except (OSError, UnidentifiedImageError):
        return None


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
    return table(None, rows, css="facts")


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
    """The newest sample and reconstruction grids (shown at GRID_ZOOM, the GIF's own scale) and the GIF."""
    shown = []
    captions = {
        "samples": "samples from fixed noise, {epoch}",
        "reconstructions": "reconstructions, {epoch}: rows 1, 3, 5, ... are test images, the row below each "
        "is their reconstruction",
    }
    for folder in ("samples", "reconstructions"):
        frames = run.pictures(folder)
        if frames:
            number = frames[-1].stem.removeprefix("epoch-")  # epoch-002.png -> "epoch 2"
            caption = captions[folder].format(epoch=f"epoch {int(number) if number.isdigit() else number}")
            shown.append(figure(src(frames[-1]), caption, size=picture_size(frames[-1], GRID_ZOOM)))
    if gif and run.progress_gif:
        what = run.progress_gif.parent.name  # samples, or reconstructions for a model that cannot sample
        shown.append(figure(src(run.progress_gif), f"{what} over training", size=picture_size(run.progress_gif)))
    return "".join(shown) or '<p class="muted">no pictures yet</p>'


def run_html(run: RunInfo, src: Source, curves: str | None, links: str = "", gif: bool = True, level: int = 2) -> str:
    """A run's section: facts, evaluation, pictures, training curves and its config. `curves`: the address of
    its curves image (None: it logged nothing yet). `level`: its heading's (1 on a page of its own, 2 in a
    report of several); the section's own headings are h3 either way."""
    parts = [f'<h{level} id="{escape(run.name)}">{escape(run.name)}</h{level}>', links]
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
    title = "genzoo report: " + (runs[0].name if len(runs) == 1 else f"{len(runs)} runs")
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
    head = f'<meta http-equiv="Content-Security-Policy" content="{REPORT_CSP}">'
    return page(title, "\n".join(parts), head)
