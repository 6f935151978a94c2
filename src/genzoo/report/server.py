"""`genzoo serve`: a local web page to browse the runs under a folder and explore their latent spaces.

Built on the standard library's threading HTTP server: one user on their own machine needs no framework. It
binds 127.0.0.1 unless told otherwise, answers GET and HEAD only, and serves nothing but the run folders it
found under its root: runs are addressed by their listed names (a whitelist, not a path), and a file inside a
run is served only when its resolved path stays inside that run and its kind is one the pages show.

    /                              every run, with the leaderboards of the evaluated ones
    /run?name=R                    one run's page (facts, evaluation, pictures, curves, config)
    /explore?name=R                sliders over R's latent code, decoded as you move them; a 2-D manifold
    /explore.js                    the explorer's script (a file of its own: the pages run no inline script)
    /favicon.ico                   the pages' icon (an SVG)
    /file?run=R&path=P             a picture or record file of R (png, gif, json, jsonl, yaml)
    /curves.png?run=R              R's training curves
    /api/latent?run=R              JSON: latent size, slider ranges, centre, classes
    /api/decode?run=R&z=..&label=  PNG: the decoding of one code (z: comma-separated numbers)
    /api/code?run=R&index=I        JSON: the code of test image I, or &seed=S: a random code
    /api/manifold?run=R&dims=a,b&n=N&label=   PNG: the decodings over a grid of two latent dimensions; its
                                   X-Manifold-Axes header (JSON) names the two and their first and last values

Every answer forbids other sites to frame it (Content-Security-Policy frame-ancestors 'none', X-Frame-Options)
and limits what a page may load to this server (scripts from /explore.js only; pictures from here, data: and
blob: URIs).
"""

from __future__ import annotations

import io
import ipaddress
import json
import math
import socket
import threading
import traceback
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import torch

from genzoo.data.batches import to_float
from genzoo.errors import GenzooError
from genzoo.explore import latent
from genzoo.explore.grids import image_grid, to_pil
from genzoo.models.base import CONDITIONAL, DECODE, ENCODE
from genzoo.report import html
from genzoo.report.runs import RunInfo, curves_png, find_runs, read_run
from genzoo.run_folder import RunFolder
from genzoo.samplers import fit_gaussian_mixture

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
EXPLORE_TEST_IMAGES = 2000  # test images encoded to set slider ranges and to pick codes from
EXPLORE_COMPONENTS = 10  # Gaussians in the mixture a prior-less model's random codes are drawn from
MAX_Z = 1e3  # |z| beyond this is refused: a guard against absurd input (codes without a prior can be large)
MAX_MANIFOLD = 30
MANIFOLD_SIDE = 10  # the side of the grid the explorer draws when it opens (10 x 10 decodings, 604 px)
SCALE = 8  # decoded images are enlarged (nearest neighbour) so a 28 px digit is visible


class BadRequest(GenzooError):
    """A request the browser can fix: answered 400 with this message."""


class NotFound(GenzooError):
    """Answered 404 with this message."""


class Misdirected(GenzooError):
    """A request addressed to another host name: answered 421."""


class ProblemPage(GenzooError):
    """A page about a run that has a problem (409), as HTML for a person: `page`."""

    def __init__(self, message: str, page: str):
        super().__init__(message)
        self.page = page


LOCAL_NAMES = {"127.0.0.1", "localhost", "::1"}
# Sent with every answer: the pages load scripts, styles and pictures from this server only (pictures also as
# data: and blob: URIs, which the explorer makes of the decodings), and no other site may put them in a frame.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def png(images: torch.Tensor, nrow: int, scale: int = 1) -> bytes:
    picture = to_pil(image_grid(images, nrow, padding=0 if len(images) == 1 else 2))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), resample=0)  # 0: nearest
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def manifold_missing_reason(model: Any) -> str | None:
    """Why a model has no 2-D manifold to draw (None: it has one), in the words the explorer shows instead."""
    why = getattr(model, "axes_missing_reason", None)
    if why:
        return f"model {model.name!r} has no manifold to draw: {why}"
    if model.latent_dim < 2:
        return f"model {model.name!r} has one latent dimension: a 2-D manifold needs two"
    return None


class LatentSpace:
    """One run's model, loaded once, and what the explorer needs of it: slider ranges per latent dimension (the
    traversal quantiles of its prior, or of its test codes when it has no fixed prior), the point the sliders
    start at, and decoding. Torch calls run under a lock: requests arrive on several threads."""

    def __init__(self, run: RunInfo):
        folder = RunFolder(run.path)
        self.model = folder.load_model()
        latent.require(self.model, DECODE)
        self.dataset = folder.data(train_size=1, test_size=EXPLORE_TEST_IMAGES)
        self.lock = threading.Lock()
        with torch.no_grad():
            self.codes = (
                latent.encode_split(self.model, self.dataset.test).cpu() if ENCODE in self.model.capabilities else None
            )
        d = self.model.latent_dim
        ends = [latent.axis_values(self.model, 2, self.codes, k, latent.TRAVERSAL_QUANTILES) for k in range(d)]
        # Sliders in the order worth moving: the dimensions the data uses most first (a VAE's active units).
        order = latent.widest_dims(self.codes, d) if self.codes is not None else list(range(d))
        self.spec = {
            "run": run.name,
            "model": self.model.name,
            "latent_dim": d,
            "order": order,
            "low": [float(e[0]) for e in ends],
            "high": [float(e[1]) for e in ends],
            "centre": [float(v) for v in latent.centre(self.model, self.codes, d)],
            "classes": list(self.dataset.spec.classes) if CONDITIONAL in self.model.capabilities else None,
            "can_encode": self.codes is not None,
            "test_images": len(self.dataset.test),
            "class_names": list(self.dataset.spec.classes),  # to caption an encoded test image
            "prior": getattr(self.model, "latent_prior", None),
            "manifold": manifold_missing_reason(self.model),  # None: the page draws one
            "manifold_side": [2, MAX_MANIFOLD, MANIFOLD_SIDE],  # least, most, default
        }
        # Without a fixed prior, "random code" draws from a Gaussian mixture of the test codes (what `sample
        # --sampler gmm` does with training codes), so a plain autoencoder shows new images, not test images.
        self.mixture = None
        if self.spec["prior"] is None and self.codes is not None and CONDITIONAL not in self.model.capabilities:
            self.mixture = fit_gaussian_mixture(self.codes, min(EXPLORE_COMPONENTS, len(self.codes)), seed=0).to("cpu")

    def label(self, value: str | None) -> int | None:
        """A conditional model's class from the query (default 0); None for any other model, which must not be
        given one (as `genzoo sample --label` refuses it)."""
        if CONDITIONAL not in self.model.capabilities:
            if value not in (None, ""):
                raise BadRequest(f"label={value[:30]}: model {self.model.name!r} is not conditional; leave label out")
            return None
        label = 0 if value in (None, "") else parse_int(value, "label")
        classes = len(self.spec["classes"])
        if not 0 <= label < classes:
            raise BadRequest(f"label {label} is out of range: this model knows 0..{classes - 1}")
        return label

    def decode(self, z: list[float], label: int | None) -> bytes:
        d = self.spec["latent_dim"]
        if len(z) != d:
            raise BadRequest(f"z has {len(z)} numbers; this model's code has {d}")
        code = torch.tensor([z], dtype=torch.float32, device=self.model.device)
        with self.lock, torch.no_grad():
            labels = None if label is None else torch.full((1,), label)
            image = self.model.decode(code, **self.model.conditioning(labels))
        return png(image, 1, SCALE)

    def code(self, index: int | None, seed: int | None) -> dict[str, Any]:
        """The code of test image `index` (with its image and label), or a random code for `seed`: a draw of the
        prior where it is fixed, else of the mixture fitted to the test codes, else (a conditional model's codes
        per class) the code of a random test image."""
        if index is None:
            generator = torch.Generator().manual_seed(seed or 0)
            prior = self.spec["prior"]
            if prior in ("gaussian", "uniform"):
                d = self.spec["latent_dim"]
                if prior == "gaussian":
                    return {"z": torch.randn(d, generator=generator).tolist()}
                return {"z": (torch.rand(d, generator=generator) * 2 - 1).tolist()}
            if self.mixture is not None:
                return {"z": self.mixture.sample(1, generator)[0].tolist()}
            if self.codes is None:
                raise BadRequest(
                    f"model {self.model.name!r} has neither a fixed prior nor an encoder to draw codes from"
                )
            index = int(torch.randint(len(self.codes), (1,), generator=generator))
        if self.codes is None:
            raise BadRequest(f"model {self.model.name!r} has no encoder: it cannot give the code of a test image")
        if not 0 <= index < len(self.codes):
            raise BadRequest(f"index {index} is out of range: 0..{len(self.codes) - 1} (the first test images)")
        image = to_float(self.dataset.test.images[index : index + 1])
        return {
            "z": self.codes[index].tolist(),
            "index": index,
            "label": int(self.dataset.test.labels[index]),
            "image": html.data_uri(png(image, 1, SCALE), "image/png"),
        }

    def manifold(self, dims: tuple[int, int] | None, n: int, label: int | None) -> tuple[bytes, dict[str, Any]]:
        """The PNG of an n x n manifold and its axes: {"dims": [x, y], "x": [first, last], "y": [top, bottom]}
        (columns run over x left to right, rows over y top to bottom, as latent.manifold lays them out)."""
        if not 2 <= n <= MAX_MANIFOLD:
            raise BadRequest(f"n {n} is out of range: 2..{MAX_MANIFOLD}")
        codes = self.codes
        if codes is not None and label is not None:  # a conditional encoder: the axes span that class's codes
            codes = codes[self.dataset.test.labels[: len(codes)] == label]
        with self.lock, torch.no_grad():
            try:
                images, (x, y) = latent.manifold(self.model, n, dims, codes, label=label)
            except GenzooError as exc:
                raise BadRequest(str(exc)) from exc
            xs, ys = (latent.axis_values(self.model, n, codes, k) for k in (x, y))  # the values latent.manifold used
        axes = {"dims": [x, y], "x": [float(xs[0]), float(xs[-1])], "y": [float(ys[-1]), float(ys[0])]}
        return png(images, n, 2), axes


def link(page: str, /, **params: str) -> str:
    """A page address with its query encoded (a run name may hold '/', '&' or spaces); escape it for HTML."""
    return f"{page}?{urlencode(params)}"


def parse_int(text: str, key: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{key}={text[:30]!r}: expected a whole number") from None
    if value < 0:
        raise BadRequest(f"{key}={value}: expected a whole number >= 0")
    if value >= 2**63:
        raise BadRequest(f"{key}={text[:30]}: expected a whole number from 0 to 2**63 - 1")
    return value


def parse_code(text: str) -> list[float]:
    try:
        z = [float(v) for v in text.split(",")]
    except ValueError:
        raise BadRequest(f"z={text[:60]!r}: expected comma-separated numbers") from None
    if not all(math.isfinite(v) and abs(v) <= MAX_Z for v in z):
        raise BadRequest(f"z: every number must be finite and within +-{MAX_Z:g}")
    return z


class RunBrowser:
    """The state behind the server: its root, the run folders found there (listed anew for the index page, so
    new runs appear; each page reads its run afresh, so a run still training shows its newest state), and a few
    loaded latent spaces, least recently used dropped first, reloaded when a newer checkpoint appears."""

    def __init__(self, root: Path | str, keep_models: int = 4):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise GenzooError(f"{root}: not a folder; serve a folder of runs (e.g. runs/)")
        self.keep_models = keep_models
        self.spaces: OrderedDict[tuple[str, int], LatentSpace] = OrderedDict()  # (run name, step) -> space
        self.loading: dict[str, threading.Lock] = {}  # one per run: a model loads once, others keep working
        self.lock = threading.Lock()  # guards the two dicts above, held only briefly
        self.paths: dict[str, Path] = {}
        self.rescan()

    def rescan(self) -> list[RunInfo]:
        runs = find_runs(self.root)
        self.paths = {run.name: run.path for run in runs}
        return runs

    def run(self, name: str | None) -> RunInfo:
        """The run listed as `name`, read now. Only listed names are accepted: a name is never taken as a path."""
        if name not in self.paths or not self.paths[name].is_dir():
            self.rescan()  # it may have appeared (or gone) since the last listing
        if name not in self.paths:
            raise NotFound(f"no run named {name!r} under {self.root}")
        return read_run(self.paths[name], name)

    def space(self, name: str | None) -> LatentSpace:
        run = self.run(name)
        if run.problem:
            raise GenzooError(f"{name}: {run.problem}")
        if run.step == 0:
            raise GenzooError(f"{name}: no checkpoint yet; the explorer opens once the run has saved one")
        key = (run.name, run.step)
        with self.lock:
            lock = self.loading.setdefault(run.name, threading.Lock())
        with lock:  # a second request for the same model waits for the first load instead of repeating it
            with self.lock:
                space = self.spaces.get(key)
            if space is None:
                space = LatentSpace(run)  # seconds: outside the shared lock, so other runs keep answering
            with self.lock:
                for old in [k for k in self.spaces if k[0] == run.name and k != key]:
                    del self.spaces[old]  # an older checkpoint of this run
                self.spaces[key] = space
                self.spaces.move_to_end(key)
                while len(self.spaces) > self.keep_models:
                    self.spaces.popitem(last=False)
        return space

    def file(self, name: str | None, relative: str | None) -> Path:
        """A file of a run for the pages to show, or NotFound: it must stay inside the run folder once links
        and '..' are resolved, and be of a kind the pages show."""
        run = self.run(name)
        path = run.path / (relative or "")
        if not relative or path.suffix not in html.MIME or not run.inside(path):
            raise NotFound(f"{relative!r} is not a file this server shows for run {name!r}")
        return path

    # -- pages ----------------------------------------------------------------------------------------------
    def index_page(self) -> str:
        runs = self.rescan()
        rows = []
        for run in runs:
            fd = run.evaluation.get("quality", {}).get("fd_lenet")
            unscored = html.Markup(
                f'<span class="muted" title="genzoo evaluate {html.escape(run.path)} fills it in">-</span>'
            )
            explore = (
                ""
                if DECODE not in run.capabilities or run.problem
                else "no checkpoint yet"
                if run.step == 0
                else html.anchor(link("/explore", name=run.name), "explore")
            )
            rows.append(
                [
                    html.anchor(link("/run", name=run.name), run.name),
                    run.model,
                    run.dataset,
                    run.step,
                    "-" if run.epochs is None else f"{run.epochs:.4g}",
                    unscored if fd is None else f"{fd:.2f}",
                    explore,
                    run.problem or "",
                ]
            )
        header = ["run", "model", "data set", "step", "epochs", "FD-lenet", "latent space", "problem"]
        listing = (
            html.table(header, rows)
            + '<p class="note">FD-lenet: the Fréchet distance of 10,000 samples to the test images in the features of '
            "the shipped LeNet (lower is better); <code>genzoo evaluate RUN</code> fills it in, - until then.</p>"
            if rows
            else '<p class="muted">no runs here yet: <code>genzoo train vae --out runs/my-vae</code></p>'
        )
        board = html.leaderboard_html([run for run in runs if not run.problem])
        body = f"<h1>genzoo runs under {html.escape(str(self.root))}</h1>{listing}" + (
            f"<h2>leaderboards</h2>{board}" if board else ""
        )
        return html.page("genzoo runs", body)

    def run_page(self, name: str | None) -> str:
        run = self.run(name)
        src = lambda path: link("/file", run=run.name, path=path.relative_to(run.path).as_posix())
        links = [html.anchor("/", "all runs")]
        if DECODE in run.capabilities and run.step and not run.problem:
            links.append(html.anchor(link("/explore", name=run.name), "explore the latent space"))
        curves = link("/curves.png", run=run.name) if run.metrics else None
        nav = "<nav>" + " &middot; ".join(links) + "</nav>"
        return html.page(run.name, nav + html.run_html(run, src, curves, level=1))

    def explore_page(self, name: str | None) -> str:
        """The explorer of a run; for a run that cannot be explored yet (no checkpoint), a page that says only
        that. A run with a problem is refused (GenzooError: 409), with the same kind of page."""
        run = self.run(name)
        if DECODE not in run.capabilities and not run.problem:
            raise BadRequest(f"model {run.model!r} cannot decode: there is no latent space to explore")
        nav = html.anchor("/", "all runs") + " &middot; " + html.anchor(link("/run", name=run.name), "this run's page")
        if run.problem or run.step == 0:
            why = run.problem or "no checkpoint yet; the explorer opens once the run has saved one (reload then)"
            body = (
                f"<nav>{nav}</nav><h1>latent space of {html.escape(run.name)}</h1>"
                f'<p class="problem">{html.escape(why)}</p>'
            )
            if run.problem:
                raise ProblemPage(f"{name}: {run.problem}", html.page(f"explore {run.name}", body))
            return html.page(f"explore {run.name}", body)
        template = resources.files("genzoo.report").joinpath("explore.html").read_text(encoding="utf-8")
        return (
            template.replace("{{ICON}}", html.ICON_LINK)
            .replace("{{NAV}}", nav)
            .replace("{{RUN}}", html.escape(run.name))  # in text and in the data-run attribute; the script reads it
        )


class Handler(BaseHTTPRequestHandler):
    browser: RunBrowser  # set on the subclass `serve` builds
    server_version = "genzoo"
    timeout = 60  # seconds a connection may sit idle: a stalled client does not hold a thread forever

    def do_HEAD(self) -> None:
        self.do_GET(body=False)

    def do_GET(self, body: bool = True) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        headers: dict[str, str] = {}
        try:
            self.check_host()
            status, (kind, payload, *extra) = HTTPStatus.OK, self.route(url.path, query)
            headers = extra[0] if extra else {}
        except ProblemPage as exc:
            status, kind, payload = HTTPStatus.CONFLICT, "text/html; charset=utf-8", exc.page.encode()
        except BadRequest as exc:
            status, kind, payload = HTTPStatus.BAD_REQUEST, "text/plain; charset=utf-8", str(exc).encode()
        except NotFound as exc:
            status, kind, payload = HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", str(exc).encode()
        except Misdirected as exc:
            status, kind, payload = HTTPStatus.MISDIRECTED_REQUEST, "text/plain; charset=utf-8", str(exc).encode()
        except GenzooError as exc:  # e.g. a damaged checkpoint: the user's run, not the server, needs a look
            status, kind, payload = HTTPStatus.CONFLICT, "text/plain; charset=utf-8", str(exc).encode()
        except Exception as exc:  # a bug: answer (the page shows it) and keep serving; the traceback goes to stderr
            traceback.print_exc()
            status, kind = HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8"
            payload = f"internal error: {type(exc).__name__}: {exc}".encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def end_headers(self) -> None:
        """Every answer, the standard library's own errors (501 for POST) included, carries SECURITY_HEADERS."""
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        super().end_headers()

    def check_host(self) -> None:
        """On a loopback address, answer only requests addressed to this machine by name or number: a web page
        elsewhere cannot then reach the server through a DNS name it points at 127.0.0.1 (DNS rebinding)."""
        if not ipaddress.ip_address(self.server.server_address[0]).is_loopback:
            return
        host = urlsplit("//" + (self.headers.get("Host") or "")).hostname or ""
        if host not in LOCAL_NAMES:
            raise Misdirected(
                f"Host {host!r} is not this machine; open http://127.0.0.1:{self.server.server_address[1]}/"
            )

    def route(self, path: str, q: dict[str, str]) -> tuple[str, bytes] | tuple[str, bytes, dict[str, str]]:
        """(content type, body) or (content type, body, extra headers) of the answer to `path`."""
        b, page = self.browser, "text/html; charset=utf-8"
        if path == "/":
            return page, b.index_page().encode()
        if path == "/favicon.ico":
            return "image/svg+xml", html.ICON_SVG.encode()
        if path == "/explore.js":
            script = resources.files("genzoo.report").joinpath("explore.js").read_bytes()
            return "text/javascript; charset=utf-8", script
        if path == "/run":
            return page, b.run_page(q.get("name")).encode()
        if path == "/explore":
            return page, b.explore_page(q.get("name")).encode()
        if path == "/file":
            file = b.file(q.get("run"), q.get("path"))
            return html.MIME[file.suffix], file.read_bytes()
        if path == "/curves.png":
            curves = curves_png(b.run(q.get("run")))
            if curves is None:
                raise NotFound("this run has logged no metrics yet")
            return "image/png", curves
        if path == "/api/latent":
            return "application/json", json.dumps(b.space(q.get("run")).spec).encode()
        if path == "/api/decode":
            space = b.space(q.get("run"))
            return "image/png", space.decode(parse_code(q.get("z", "")), space.label(q.get("label")))
        if path == "/api/code":
            space = b.space(q.get("run"))
            index = parse_int(q["index"], "index") if "index" in q else None
            seed = parse_int(q["seed"], "seed") if "seed" in q else None
            return "application/json", json.dumps(space.code(index, seed)).encode()
        if path == "/api/manifold":
            space = b.space(q.get("run"))
            dims = None
            if q.get("dims"):
                parts = q["dims"].split(",")
                if len(parts) != 2:
                    raise BadRequest(f"dims={q['dims']!r}: expected two latent dimensions, e.g. dims=0,1")
                dims = (parse_int(parts[0], "dims"), parse_int(parts[1], "dims"))
            n = parse_int(q.get("n", "15"), "n")
            picture, axes = space.manifold(dims, n, space.label(q.get("label")))
            return "image/png", picture, {"X-Manifold-Axes": json.dumps(axes)}
        raise NotFound(f"no page {path!r}; start at /")

    def log_message(self, format: str, *args: Any) -> None:  # one short line per request, on stderr
        if getattr(self.server, "quiet", False):
            return
        super().log_message(format, *args)


def make_server(
    root: Path | str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, quiet: bool = False
) -> ThreadingHTTPServer:
    """A server for the runs under `root`, bound but not yet serving (port 0: any free port)."""
    if not 0 <= port <= 65535:
        raise GenzooError(f"--port {port} is out of range; expected 0..65535 (0 picks a free port)")
    browser = RunBrowser(root)
    handler = type("RunHandler", (Handler,), {"browser": browser})
    server_class = (
        type("RunServer", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
        if ":" in host
        else ThreadingHTTPServer
    )  # an IPv6 address such as ::1
    try:
        server = server_class((host, port), handler)
    except socket.gaierror as exc:
        raise GenzooError(f"--host {host!r}: not an address of this machine ({exc.strerror or exc})") from exc
    except OSError as exc:
        raise GenzooError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); try another --port or --host"
        ) from exc
    server.daemon_threads = True
    server.quiet = quiet
    return server
