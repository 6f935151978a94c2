"""`genzoo report` (one self-contained HTML page) and `genzoo serve` (the run browser and latent explorer)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo
from genzoo.cli import main
from genzoo.data.batches import to_float
from genzoo.data.datasets import load_dataset
from genzoo.models.registry import get_model_class
from genzoo.report.runs import find_runs, read_run
from genzoo.report.server import SCALE, make_server, manifold_missing_reason
from tests.conftest import TINY_MODEL, build_tiny_config, genzoo_command, one_line_error

PROTOCOL = {"dataset": "mnist", "feature_net_sha256": "abc"}


def fake_eval(run: Path, fd: float) -> None:
    """An eval.json as `genzoo evaluate` writes it (the report only reads it; evaluate has its own tests)."""
    quality = {"fd_lenet": fd, "precision": 0.5, "floor": {"fd_lenet": 0.41}, "protocol": PROTOCOL}
    (run / "eval.json").write_text(json.dumps({"quality": quality}))


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_vae_run) -> Path:
    """A folder of runs as users keep them: a (fake-)evaluated VAE, a conditional GAN, a plain autoencoder, a
    folder with an odd name, and one that is not a run."""
    root = tmp_path_factory.mktemp("runs")
    vae = Path(shutil.copytree(tiny_vae_run, root / "vae"))
    fake_eval(vae, 12.5)
    genzoo.train(build_tiny_config("cgan"), root / "gans" / "cgan", verbose=False)
    genzoo.train(build_tiny_config("ae"), root / "ae", verbose=False)
    shutil.copytree(tiny_vae_run, root / "<b>odd")
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("not a run")
    return root


# -- the static report ------------------------------------------------------------------------------------------
def test_report_is_one_self_contained_page(root, tmp_path, capsys):
    out = tmp_path / "report" / "runs.html"
    assert main(["report", str(root / "vae"), str(root / "gans" / "cgan"), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    page = out.read_text()
    # The leaderboard: the floor first, then the evaluated run; the unevaluated one says how to evaluate it.
    assert re.search(r"<tr class=\"floor\"><td>real data \(floor\)</td><td class=\"num\">0.41</td>", page)
    assert '<td>vae</td><td class="num">12.50</td>' in page
    assert "genzoo evaluate" in page
    # Every picture is embedded (the page needs no other file) and decodes as the PNG it claims to be.
    images = re.findall(r"src=\"data:image/(png|gif);base64,([^\"]+)\"", page)
    assert len(images) >= 6  # per run: samples, reconstructions (vae), progress GIF, curves
    for kind, payload in images:
        assert Image.open(io.BytesIO(base64.b64decode(payload))).format.lower() == kind
    assert not re.search(r"src=\"(?!data:)", page)
    assert "latent_dim: 4" in page  # the config, shown as written


def test_report_loads_nothing_runs_no_script_and_titles_its_runs(root, tmp_path):
    out = tmp_path / "one.html"
    assert main(["report", str(root / "vae"), "-o", str(out)]) == 0
    page = out.read_text()
    assert "<h1>genzoo report: vae</h1>" in page and '<h2 id="vae">vae</h2>' in page
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:;' in page
    assert "<script" not in page and '<table class="facts"><tbody>' in page
    assert "rows 1, 3, 5, ... are test images, the row below each is their reconstruction" in page


def test_report_escapes_what_comes_from_run_folders(root, tmp_path):
    out = tmp_path / "odd.html"
    assert main(["report", str(root / "<b>odd"), "-o", str(out)]) == 0
    page = out.read_text()
    assert "&lt;b&gt;odd" in page and "<b>odd" not in page


def test_report_keeps_runs_scored_with_other_sample_counts_in_their_own_tables(tiny_vae_run, tmp_path):
    for name, samples in (("full", 10_000), ("quick", 1_000)):
        run = Path(shutil.copytree(tiny_vae_run, tmp_path / name))
        quality = {
            "fd_lenet": 5.0,
            "floor": {"fd_lenet": 0.41 if samples == 10_000 else 1.59},
            "protocol": {**PROTOCOL, "samples": samples},
        }
        (run / "eval.json").write_text(json.dumps({"quality": quality}))
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "full"), str(tmp_path / "quick"), "-o", str(out)]) == 0
    page = out.read_text()
    assert "<h3>mnist, 1,000 samples</h3>" in page and "<h3>mnist, 10,000 samples</h3>" in page
    assert "depend on the sample count" not in page  # grouped, so no table had to refuse


def test_report_of_a_folder_that_is_not_a_run_is_one_clear_error(root, tmp_path, capsys):
    assert main(["report", str(root / "notes"), "-o", str(tmp_path / "r.html")]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "notes" in line and "not a run folder" in line
    assert not (tmp_path / "r.html").exists()


def test_find_runs_lists_run_folders_only_and_skips_a_torn_metrics_line(root, tmp_path):
    assert [run.name for run in find_runs(root)] == ["<b>odd", "ae", "gans/cgan", "vae"]
    run = Path(shutil.copytree(root / "vae", tmp_path / "torn"))
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 99, "split": "tra')  # a crash in the middle of a line
    info = read_run(run)
    assert info.problem is None and info.step == 16 and info.epochs == 2
    assert info.metrics == read_run(root / "vae").metrics


# -- the server -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(root):
    server = make_server(root, port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def get(server, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    host, port = server.server_address[:2]
    request = urllib.request.Request(f"http://{host}:{port}{path}", method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def headers_of(server, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of an answer, error or not."""
    host, port = server.server_address[:2]
    request = urllib.request.Request(f"http://{host}:{port}{path}", method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def png_of(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    assert image.format == "PNG"
    return image


def test_the_server_listens_on_this_machine_only_by_default(server):
    assert server.server_address[0] == "127.0.0.1"


def test_index_lists_every_run_with_links_and_the_leaderboard(server):
    status, kind, body = get(server, "/")
    page = body.decode()
    assert status == 200 and kind.startswith("text/html")
    for name in ("vae", "gans/cgan"):
        assert f'href="/run?name={name.replace("/", "%2F")}"' in page
        assert f'href="/explore?name={name.replace("/", "%2F")}"' in page
    assert "&lt;b&gt;odd" in page and "<b>odd" not in page
    assert "notes" not in page
    assert "real data (floor)" in page and "12.50" in page


def test_a_run_page_links_only_to_files_the_server_serves(server):
    status, _, body = get(server, "/run?name=gans%2Fcgan")
    assert status == 200
    links = re.findall(r"src=\"(/[^\"]+)\"", body.decode())
    assert any(link.startswith("/curves.png") for link in links) and any("samples" in link for link in links)
    for link in links:
        status, kind, picture = get(server, link.replace("&amp;", "&"))
        assert status == 200 and kind.startswith("image/"), link
        assert Image.open(io.BytesIO(picture)).format in ("PNG", "GIF")


def test_decode_returns_the_models_own_decoding(server, root):
    spec = json.loads(get(server, "/api/latent?run=vae")[2])
    d = spec["latent_dim"]
    assert d == 4 and sorted(spec["order"]) == list(range(d)) and spec["classes"] is None
    assert all(lo < c < hi for lo, c, hi in zip(spec["low"], spec["centre"], spec["high"]))
    z = [0.5, -1.0, 2.0, 0.25]
    status, kind, body = get(server, "/api/decode?run=vae&z=" + ",".join(map(str, z)))
    assert status == 200 and kind == "image/png"
    served = torch.from_numpy(np.asarray(png_of(body), dtype=np.float32))  # (28 * SCALE, 28 * SCALE)
    assert served.shape == (28 * SCALE, 28 * SCALE)
    with torch.no_grad():
        expected = genzoo.load(root / "vae").decode(torch.tensor([z]))[0, 0]
    assert torch.allclose(served[::SCALE, ::SCALE] / 255, expected, atol=1 / 255 + 1e-6)


def test_code_of_a_test_image_is_its_encoding(server, root):
    answer = json.loads(get(server, "/api/code?run=vae&index=3")[2])
    x = to_float(load_dataset("mnist", train_size=1, test_size=4).test.images[3:4])
    with torch.no_grad():
        expected = genzoo.load(root / "vae").encode(x)[0]
    assert torch.allclose(torch.tensor(answer["z"]), expected, atol=1e-5)
    assert answer["label"] == 0 and answer["image"].startswith("data:image/png;base64,")  # test image 3 is a 0
    random = json.loads(get(server, "/api/code?run=vae&seed=1")[2])["z"]
    assert len(random) == 4 and random == json.loads(get(server, "/api/code?run=vae&seed=1")[2])["z"]


def test_random_code_of_an_autoencoder_is_a_new_code_from_the_fitted_mixture(server, root):
    """A plain autoencoder has no prior: its random codes are mixture draws near its test codes, not copies."""
    spec = json.loads(get(server, "/api/latent?run=ae")[2])
    assert spec["prior"] is None and spec["can_encode"]
    draws = torch.tensor([json.loads(get(server, f"/api/code?run=ae&seed={seed}")[2])["z"] for seed in range(8)])
    assert draws.shape == (8, spec["latent_dim"]) and "index" not in json.loads(
        get(server, "/api/code?run=ae&seed=1")[2]
    )
    assert torch.equal(draws[1], torch.tensor(json.loads(get(server, "/api/code?run=ae&seed=1")[2])["z"]))
    x = to_float(load_dataset("mnist", train_size=1, test_size=2000).test.images)
    with torch.no_grad():
        codes = genzoo.load(root / "ae").encode(x)  # the codes the mixture was fitted to
    nearest = torch.cdist(draws, codes).min(1).values  # (8,)
    spread = torch.cdist(codes[:100], codes).median()
    assert (nearest > 1e-4).all() and (nearest < spread).all()


def test_a_conditional_model_takes_a_label_and_draws_a_manifold(server):
    spec = json.loads(get(server, "/api/latent?run=gans/cgan")[2])
    assert spec["classes"] == [str(d) for d in range(10)] and spec["can_encode"] is False
    z = ",".join(["0.1"] * spec["latent_dim"])
    three, seven = (get(server, f"/api/decode?run=gans/cgan&z={z}&label={k}")[2] for k in (3, 7))
    assert png_of(three).size == (28 * SCALE, 28 * SCALE) and three != seven  # the label reaches the generator
    status, _, body = get(server, "/api/manifold?run=gans/cgan&dims=0,1&n=5&label=2")
    assert status == 200 and png_of(body).size == (2 * (5 * 30 + 2),) * 2  # 5 tiles of 28 + 2 px padding, x2


@pytest.mark.parametrize(
    "path, status, words",
    [
        ("/file?run=vae&path=../../../../etc/passwd", 404, "not a file this server shows"),
        ("/file?run=vae&path=/etc/passwd", 404, "not a file this server shows"),
        ("/file?run=vae&path=%2e%2e/gans/cgan/config.yaml", 404, "not a file this server shows"),
        ("/file?run=vae&path=checkpoints", 404, "not a file this server shows"),
        ("/file?run=vae&path=link.png", 404, "not a file this server shows"),  # a link out of the run
        ("/run?name=..", 404, "no run named '..'"),
        ("/run?name=notes", 404, "no run named 'notes'"),
        ("/nowhere", 404, "no page '/nowhere'"),
        ("/api/decode?run=vae&z=1,2", 400, "z has 2 numbers; this model's code has 4"),
        ("/api/decode?run=vae&z=1,2,x,4", 400, "expected comma-separated numbers"),
        ("/api/decode?run=vae&z=1,nan,0,0", 400, "must be finite"),
        ("/api/decode?run=gans/cgan&z=0&label=10", 400, "label 10 is out of range: this model knows 0..9"),
        ("/api/code?run=vae&index=5000", 400, "index 5000 is out of range"),
        ("/api/code?run=gans/cgan&index=0", 400, "has no encoder"),
        ("/api/manifold?run=vae&dims=0,0", 400, "two distinct latent dimensions"),
        ("/api/manifold?run=vae&n=500", 400, "n 500 is out of range"),
        ("/api/code?run=vae&index=", 400, "index='': expected a whole number"),
        ("/api/code?run=vae&seed=99999999999999999999999", 400, "from 0 to 2**63 - 1"),
        ("/api/code?run=vae&index=-1", 400, "index=-1: expected a whole number >= 0"),
        ("/api/decode?run=vae&z=0,0,0,0&label=1", 400, "model 'vae' is not conditional; leave label out"),
        ("/file?run=vae&path=%00eval.json", 404, "not a file this server shows"),
        ("/run?name=", 404, "no run named ''"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(server, root, path, status, words):
    link = root / "vae" / "link.png"
    if not link.exists():
        outside = root.parent / "outside.png"
        Image.new("L", (2, 2)).save(outside)
        link.symlink_to(outside)
    got, kind, body = get(server, path)
    assert got == status and kind.startswith("text/plain") and words in body.decode(), body


def test_a_page_reads_its_run_now_and_a_link_out_of_the_run_is_never_read(server, root, tmp_path):
    run = root / "growing"
    shutil.copytree(root / "vae", run)
    assert b'<td>steps trained</td><td class="num">16</td>' in get(server, "/run?name=growing")[2]
    later = run / "checkpoints" / "step-000020"
    shutil.copytree(run / "checkpoints" / "step-000016", later)  # the run saved a newer checkpoint
    assert b'<td>steps trained</td><td class="num">20</td>' in get(server, "/run?name=growing")[2]
    secret = tmp_path / "secret.yaml"
    secret.write_text("model: {name: vae}\npassword: hunter2\n")
    (run / "config.yaml").unlink()
    (run / "config.yaml").symlink_to(secret)
    status, _, body = get(server, "/run?name=growing")
    assert status == 200 and b"hunter2" not in body and b"links outside the run folder" in body
    assert get(server, "/explore?name=growing")[0] == 409  # the problem is the run's, said in one line
    shutil.rmtree(run)
    assert get(server, "/run?name=growing")[0] == 404  # deleted while the server runs


def test_requests_for_another_host_name_are_refused(server):
    host, port = server.server_address[:2]
    request = urllib.request.Request(f"http://{host}:{port}/", headers={"Host": f"attacker.example:{port}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(request, timeout=60)
    assert refused.value.code == 421


def test_a_run_without_a_checkpoint_offers_no_explorer(server, root, tmp_path):
    run = root / "fresh"
    run.mkdir()
    shutil.copy(root / "vae" / "config.yaml", run / "config.yaml")
    try:
        page = get(server, "/")[2].decode()
        assert "no checkpoint yet" in page and "/explore?name=fresh" not in page
        status, _, body = get(server, "/api/latent?run=fresh")
        assert status == 409 and b"no checkpoint yet" in body
        # Its explorer, opened all the same (a bookmark), is the message alone: no script, no dead controls.
        status, kind, body = get(server, "/explore?name=fresh")
        assert status == 200 and kind.startswith("text/html") and b"no checkpoint yet" in body
        assert b"<script" not in body and b"<button" not in body and b"<img" not in body
    finally:
        shutil.rmtree(run)


@pytest.mark.parametrize(
    "path, method",
    [
        ("/", "GET"),
        ("/run?name=vae", "GET"),
        ("/explore?name=vae", "GET"),
        ("/explore.js", "GET"),
        ("/file?run=vae&path=config.yaml", "GET"),
        ("/api/latent?run=vae", "GET"),
        ("/nowhere", "GET"),  # an error
        ("/", "POST"),  # the standard library's own 501
    ],
)
def test_every_answer_forbids_other_sites_to_frame_it(server, path, method):
    _, headers, _ = headers_of(server, path, method)
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy and "default-src 'none'" in policy
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"


def test_pages_run_no_inline_script_and_the_explorer_keeps_a_run_name_as_text(server):
    for path in ("/", "/run?name=vae", "/explore?name=vae"):
        page = get(server, path)[2].decode()
        assert re.findall(r"<script[^>]*>", page) == (['<script src="/explore.js">'] if "explore" in path else [])
        assert '<link rel="icon" type="image/svg+xml" href="data:image/svg+xml,' in page  # no /favicon.ico 404
    page = get(server, "/explore?name=%3Cb%3Eodd")[2].decode()
    assert '<body data-run="&lt;b&gt;odd">' in page and "<b>odd" not in page
    status, kind, script = get(server, "/explore.js")
    assert status == 200 and kind.startswith("text/javascript") and b"document.body.dataset.run" in script
    status, kind, icon = get(server, "/favicon.ico")
    assert status == 200 and kind == "image/svg+xml" and icon.startswith(b"<svg")


def test_the_index_names_every_column_and_the_run_page_has_its_name_as_title(server):
    page = get(server, "/")[2].decode()
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", page)[1]
    assert re.findall(r"<th[^>]*>([^<]*)</th>", header) == [
        "run", "model", "data set", "step", "epochs", "FD-lenet", "latent space", "problem",
    ]  # fmt: skip
    assert "<code>genzoo evaluate RUN</code> fills it in" in page
    assert re.search(r'<span class="muted" title="genzoo evaluate [^"]*ae fills it in">-</span>', page)  # the ae
    page = get(server, "/run?name=gans%2Fcgan")[2].decode()
    assert '<h1 id="gans/cgan">gans/cgan</h1>' in page and "<h2" not in page.split("<h3>")[0]
    assert '<table class="facts"><tbody>' in page  # no empty header row over the facts
    grids = re.findall(r'<img class="grid" src="[^"]*epoch-001.png" alt="[^"]*" width="(\d+)" height="(\d+)"', page)
    assert grids == [("244", "244")]  # 16 samples of 28 px (+ 2 px padding) shown twice their size, as the GIF


def test_the_manifold_names_its_axes_and_their_ranges(server):
    spec = json.loads(get(server, "/api/latent?run=vae")[2])
    assert spec["manifold"] is None and spec["manifold_side"] == [2, 30, 10]
    assert spec["class_names"] == [str(d) for d in range(10)]
    status, headers, body = headers_of(server, "/api/manifold?run=vae&dims=2,1&n=4")
    assert status == 200 and png_of(body).size == (2 * (4 * 30 + 2),) * 2
    axes = json.loads(headers["X-Manifold-Axes"])
    assert axes["dims"] == [2, 1]  # columns over z[2], rows over z[1]
    # A VAE's axes span the central 90% of N(0, 1): left to right low to high, top to bottom high to low.
    assert axes["x"] == pytest.approx([-1.6449, 1.6449], abs=1e-4)
    assert axes["y"] == pytest.approx([1.6449, -1.6449], abs=1e-4)


@pytest.mark.parametrize(
    "name, settings, words",
    [
        ("vq-vae", TINY_MODEL["vq-vae"], "model 'vq-vae' has no manifold to draw: its code is a grid of vectors"),
        ("vae", {"hidden": [8], "latent_dim": 1}, "model 'vae' has one latent dimension: a 2-D manifold needs two"),
        ("vae", {"hidden": [8], "latent_dim": 2}, None),
    ],
)
def test_the_explorer_says_why_a_model_has_no_manifold(name, settings, words):
    cls = get_model_class(name)
    why = manifold_missing_reason(cls(cls.Config(**settings)))
    assert why == words if words is None else why.startswith(words)


def test_only_get_and_head_are_answered(server):
    assert get(server, "/", method="HEAD")[:2] == (200, "text/html; charset=utf-8")
    assert get(server, "/", method="POST")[0] == 501
    assert get(server, "/", method="PUT")[0] == 501


def test_serve_refuses_a_missing_folder_and_a_bad_port_or_host(root, tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nope"), "--port", "0"]) == 2
    assert "nope" in one_line_error(capsys.readouterr().err)
    assert main(["serve", str(root), "--port", "70000"]) == 2
    assert "--port 70000 is out of range" in one_line_error(capsys.readouterr().err)
    assert main(["serve", str(root), "--host", "no.such.host.invalid", "--port", "0"]) == 2
    assert "not an address of this machine" in one_line_error(capsys.readouterr().err)


def test_report_refuses_a_folder_as_output_and_names_a_run_given_twice_once(root, tmp_path, capsys):
    assert main(["report", str(root / "vae"), "-o", str(tmp_path)]) == 2
    assert "is a folder" in one_line_error(capsys.readouterr().err)
    out = tmp_path / "twice.html"
    assert main(["report", str(root / "vae"), str(root / "vae" / "."), "-o", str(out), "--no-gif"]) == 0
    page = out.read_text()
    assert page.count("<h2 id=") == 1 and "samples over training" not in page


def test_genzoo_serve_prints_its_address_serves_and_stops_on_ctrl_c(root):
    command, env = genzoo_command("serve", root, "--port", "0")
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            line = process.stdout.readline()
            address = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            assert address, line
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(f"http://127.0.0.1:{address[1]}/", timeout=60) as response:
                assert response.status == 200 and b"gans/cgan" in response.read()
        finally:
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
