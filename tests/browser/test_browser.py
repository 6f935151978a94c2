"""The pages of `genzoo serve` and `genzoo report` as a person sees them, in a real browser.

Debian's headless `chromium`, driven through `chromium-driver` by selenium, opens the pages of a server over a few
runs trained here (a small VAE with a 2-D code, a tiny GAN, a run with no checkpoint yet, a run folder named with
HTML in it) and the report file, clicks and types as a person would, and fails on any console error. A missing
browser is a failure that says how to install it (`make browser`, as root), never a skip.

A full-page screenshot of every page is saved to $GENZOO_SCREENSHOTS when it is set, else to a pytest tmp folder;
the folder is printed at the end of the module.
"""

from __future__ import annotations

import base64
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

import genzoo
from genzoo.report import server as server_module
from genzoo.report.server import make_server
from tests.conftest import build_tiny_config

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # said by the `browser` fixture, as a failure
    webdriver = None

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL = (
    "install them with `make browser` (as root: apt-get install -y chromium chromium-driver) and "
    "`pip install -e '.[test]'` (selenium)"
)
WAIT = 30  # seconds a page may take to show what a test waits for (a loaded 2-core machine)
ODD = "<img src=x onerror=alert(1)>"  # a run folder's name that would be an element if a page did not escape it


# -- runs, server, browser ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A folder of runs: a VAE with a 2-D code trained long enough to draw digit-like shapes (64 steps, a few
    seconds), a tiny GAN (8 steps, no encoder), a run with no checkpoint yet, and a copy of the VAE under a name
    made of HTML."""
    root = tmp_path_factory.mktemp("browser-runs")
    vae = build_tiny_config(
        "vae",
        model={"hidden": [128], "latent_dim": 2},
        data={"train_size": 3072, "test_size": 256},
        train={"batch_size": 48, "log_every": 16, "lr": 4e-3},  # 64 steps: blurry 0, 1, 8, 9 across the manifold
    )
    genzoo.train(vae, root / "vae", verbose=False)
    genzoo.train(build_tiny_config("gan"), root / "gan", verbose=False)
    (root / "fresh").mkdir()
    shutil.copy(root / "vae" / "config.yaml", root / "fresh" / "config.yaml")
    shutil.copytree(root / "vae", root / ODD)
    shutil.copytree(root / "gan", root / "gan-slow")  # for the loading state: its model is loaded only there
    return root


@pytest.fixture(scope="module")
def base_url(root) -> Iterator[str]:
    server = make_server(root, port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory, request) -> Iterator[Path]:
    folder = Path(os.environ.get("GENZOO_SCREENSHOTS") or tmp_path_factory.mktemp("browser-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"browser screenshots: {folder}")


def find_browser() -> tuple[str, str]:
    """(browser, driver) executables, or a failure that says what is missing and how to install it."""
    browser = next((path for path in map(shutil.which, BROWSERS) if path), None)
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", browser), ("chromium-driver", driver)) if not path]
    if webdriver is None:
        missing.append("selenium (Python)")
    if missing:
        pytest.fail(f"the browser tests need {', '.join(missing)}; {INSTALL}", pytrace=False)
    return browser, driver


class Page:
    """One headless Chromium, what the tests ask of it, and the console messages it logged."""

    def __init__(self, driver, base_url: str, shots: Path):
        self.driver, self.base_url, self.shots = driver, base_url, shots

    def open(self, path: str) -> None:
        self.driver.get(path if ":" in path.split("/")[0] else self.base_url + path)

    def wait(self, condition: Callable[[], object], what: str) -> object:
        try:
            return WebDriverWait(self.driver, WAIT, poll_frequency=0.05).until(lambda _: condition())
        except TimeoutException:
            raise AssertionError(f"waited {WAIT} s for {what}; console: {self.console()}") from None

    def find(self, selector: str):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str) -> list:
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def shown(self, selector: str) -> bool:
        elements = self.all(selector)
        return bool(elements) and elements[0].is_displayed()

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def console(self) -> list[dict]:
        """The console messages since the last call (reading them empties the browser's log)."""
        return self.driver.get_log("browser")

    def assert_no_console_errors(self) -> None:
        errors = [entry["message"] for entry in self.console() if entry["level"] == "SEVERE"]
        assert not errors, f"console errors: {errors}"

    def images(self) -> list[dict]:
        """Every <img> that is on screen or has a source: its source, size as loaded and size as shown."""
        return self.js(
            "return [...document.images].filter((i) => i.getAttribute('src') || i.getClientRects().length)"
            ".map((i) => ({id: i.id, src: i.currentSrc.slice(0, 200), complete: i.complete, natural: i.naturalWidth,"
            " shown: i.clientWidth, visible: i.getClientRects().length > 0}))"
        )

    def assert_images_loaded(self) -> list[dict]:
        images = self.wait(lambda: all(i["complete"] for i in self.images()) and self.images(), "images to load")
        broken = [i for i in images if i["natural"] == 0]
        assert not broken, f"images that did not load: {broken}"
        return images

    def pixels(self, selector: str) -> str:
        """What an <img> shows, as a data: URL of its pixels (drawn through a canvas)."""
        return self.js(
            "const i = arguments[0], c = document.createElement('canvas');"
            "c.width = i.naturalWidth; c.height = i.naturalHeight; c.getContext('2d').drawImage(i, 0, 0);"
            "return c.toDataURL();",
            self.find(selector),
        )

    def screenshot(self, name: str) -> Path:
        """A screenshot of the whole page, not only the window (Chrome DevTools' captureBeyondViewport)."""
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path = self.shots / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@pytest.fixture(scope="module")
def browser(request, shots) -> Iterator[Page]:
    binary, driver_path = find_browser()  # first: a missing browser is said before any run is trained
    base_url = request.getfixturevalue("base_url")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start; the pages are our own
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-proxy-server",
        "--window-size=1280,900",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except WebDriverException as exc:
        pytest.fail(f"chromium ({binary}) did not start under {driver_path}: {exc.msg}; {INSTALL}", pytrace=False)
    driver.set_page_load_timeout(WAIT)
    page = Page(driver, base_url, shots)
    yield page
    driver.quit()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    """The module's browser, its console emptied before the test; after it, no console error may be left."""
    browser.console()
    yield browser
    browser.assert_no_console_errors()


def explore(name: str) -> str:
    return f"/explore?name={quote(name, safe='')}"


def wait_for_explorer(page: Page) -> None:
    """Until the explorer has loaded its model, decoded the centre and drawn its default manifold."""
    page.wait(lambda: page.shown("#explorer") and page.shown("#plot"), "the explorer and its default manifold")
    assert not page.shown("#loading") and not page.shown("#failed")


# -- the index and the run pages ------------------------------------------------------------------------------------
def test_index_names_every_column_and_says_how_fd_lenet_is_filled(page):
    page.open("/")
    assert page.find("h1").text.startswith("genzoo runs under")
    header = [th.text for th in page.all("table th")]
    assert header == ["run", "model", "data set", "step", "epochs", "FD-lenet", "latent space", "problem"]
    rows = {row.find_element(By.CSS_SELECTOR, "td").text: row for row in page.all("tbody tr")}
    assert set(rows) == {ODD, "fresh", "gan", "gan-slow", "vae"}  # the HTML name shows as text
    assert page.all("img[src='x']") == []
    unscored = rows["vae"].find_elements(By.CSS_SELECTOR, "td")[5].find_element(By.CSS_SELECTOR, "span")
    assert unscored.text == "-" and "genzoo evaluate" in unscored.get_attribute("title")
    assert "genzoo evaluate RUN fills it in" in page.find("p.note").text
    assert "no checkpoint yet" in rows["fresh"].text
    assert page.find("link[rel=icon]").get_attribute("href").startswith("data:image/svg+xml")
    page.screenshot("index")


def test_a_run_page_shows_its_name_facts_pictures_and_curves(page):
    page.open("/run?name=vae")
    assert [h.text for h in page.all("h1")] == ["vae"]
    assert page.all("table.facts thead") == []  # facts have no (empty) header row
    assert "steps trained" in page.find("table.facts").text
    images = {i["src"].split("path=")[-1]: i for i in page.assert_images_loaded()}
    grids = [i for src, i in images.items() if src.startswith(("samples%2Fepoch", "reconstructions%2Fepoch"))]
    gif = next(i for src, i in images.items() if src.endswith("progress.gif"))
    assert len(grids) == 2 and all(i["shown"] == 2 * i["natural"] for i in grids)  # 56 px per digit, as the GIF
    assert gif["shown"] == gif["natural"] == grids[0]["shown"]
    captions = [c.text for c in page.all("figcaption")]
    assert any("rows 1, 3, 5, ... are test images" in c for c in captions), captions
    assert any(i["src"].startswith(f"{page.base_url}/curves.png") for i in images.values())
    page.screenshot("run-vae")
    page.open("/run?name=gan")  # curves logged once (a test line after one epoch), no reconstructions
    page.assert_images_loaded()
    page.screenshot("run-gan")


def test_other_sites_cannot_frame_the_pages(page):
    """A page of another origin (here a data: URL) that frames a run page gets Chromium's error page instead."""
    page.open(f"data:text/html,<iframe src='{page.base_url}/run?name=vae'></iframe>")
    page.driver.switch_to.frame(page.find("iframe"))
    try:
        framed = page.wait(lambda: (url := page.js("return location.href")) != "about:blank" and url, "the frame")
        assert framed.startswith("chrome-error://") and "steps trained" not in page.driver.page_source, framed
    finally:
        page.driver.switch_to.default_content()


# -- the explorer ---------------------------------------------------------------------------------------------------
def test_the_explorer_shows_a_loading_state_until_its_model_is_loaded(page, monkeypatch):
    gate = threading.Event()

    class SlowToLoad(server_module.LatentSpace):  # a model that takes long to load, as a big one does
        def __init__(self, run):
            gate.wait(WAIT)
            super().__init__(run)

    monkeypatch.setattr(server_module, "LatentSpace", SlowToLoad)
    page.open(explore("gan-slow"))
    assert page.shown("#loading") and "loading the model of gan-slow" in page.find("#loading").text
    assert not page.shown("#explorer") and not page.shown("#failed")
    assert [i for i in page.images() if i["visible"]] == []  # no broken picture, no dead buttons
    assert [b.text for b in page.all("button") if b.is_displayed()] == []
    page.screenshot("explore-loading")
    gate.set()
    wait_for_explorer(page)
    page.assert_images_loaded()


def test_the_vae_explorer_decodes_moves_encodes_and_draws_its_manifold(page):
    page.open(explore("vae"))
    wait_for_explorer(page)
    page.assert_images_loaded()
    assert "vae: 2 latent dimensions" in page.find("#about").text
    # The default manifold, with its axes named and their ranges (the central 90% of N(0, 1): +-1.64).
    assert page.find("#xname").text == "z[0] \u2192" or page.find("#xname").text == "z[1] \u2192"
    assert {page.find("#xleft").text, page.find("#ybottom").text} == {"-1.64"}
    assert {page.find("#xright").text, page.find("#ytop").text} == {"1.64"}
    assert "the other dimensions at the centre" in page.find("#plotcaption").text
    first_grid = page.pixels("#grid")
    # A slider moved with the keyboard, as a person can: the decoding changes.
    centre = page.pixels("#decoded")
    slider = page.find("#sliders input[type=range]")
    slider.send_keys(Keys.END)
    page.wait(lambda: page.pixels("#decoded") != centre, "the decoding to follow the slider")
    assert float(slider.get_attribute("value")) > 2.5  # its end: the central 99.7% of N(0, 1)
    moved = page.pixels("#decoded")
    page.find("#random").click()
    page.wait(lambda: page.pixels("#decoded") != moved, "a random code's decoding")
    # Encoding test image 3 (a 0): the original beside its decoding, as large, and captioned.
    index = page.find("#index")
    index.clear()
    index.send_keys("3")
    page.find("#encode").click()
    page.wait(lambda: page.shown("#originalbox"), "the encoded test image")
    images = {i["id"]: i for i in page.assert_images_loaded()}
    assert images["original"]["shown"] == images["decoded"]["shown"] == 224
    assert page.find("#originalcaption").text.startswith("test image 3 (class 0): the encoded original")
    page.screenshot("explore-vae")
    # A side the page cannot draw: said beside the field, in its words, and the old grid goes.
    side = page.find("#side")
    side.clear()
    side.send_keys("31", Keys.ENTER)
    page.wait(lambda: not page.shown("#plot"), "the stale grid to go")
    error = page.find("#manifolderror")
    assert error.text == "side must be a whole number from 2 to 30"
    assert abs(error.rect["y"] - side.rect["y"]) < 20 and "invalid" in side.get_attribute("class")
    assert page.find("#codeerror").text == ""
    page.screenshot("explore-vae-error")
    side.clear()
    side.send_keys("5", Keys.ENTER)
    page.wait(lambda: page.shown("#plot") and page.find("#manifolderror").text == "", "the 5 x 5 grid")
    page.wait(
        lambda: page.js("return document.getElementById('grid').naturalWidth") == 2 * (5 * 30 + 2),
        "the 5 x 5 grid's picture",
    )
    assert page.pixels("#grid") != first_grid
    # x and y the same dimension: refused beside the menus.
    x, y = (page.find(f"#dim{axis}").get_attribute("value") for axis in "xy")
    Select(page.find("#dimy")).select_by_value(x)
    page.wait(lambda: page.find("#manifolderror").text == "x and y must be two different dimensions", "the error")
    assert not page.shown("#plot") and "invalid" in page.find("#dimy").get_attribute("class")
    Select(page.find("#dimy")).select_by_value(y)
    page.wait(lambda: page.shown("#plot"), "the grid to come back")
    page.find("#manifold").click()
    page.wait(lambda: page.find("#manifoldstate").text == "", "the redrawing")
    page.assert_images_loaded()


def test_the_gan_explorer_has_no_encoder_and_draws_its_manifold(page):
    page.open(explore("gan"))
    wait_for_explorer(page)
    assert not page.shown("#encodebox")
    assert len(page.all("#sliders input[type=range]")) == 8  # the tiny GAN's noise
    decoded = page.pixels("#decoded")
    page.find("#random").click()
    page.wait(lambda: page.pixels("#decoded") != decoded, "a random code's decoding")
    page.assert_images_loaded()
    page.screenshot("explore-gan")


def test_a_run_without_a_checkpoint_shows_only_the_message(page):
    page.open(explore("fresh"))
    assert page.find(".problem").text.startswith("no checkpoint yet")
    assert page.all("button, img, input, select") == []
    page.screenshot("explore-fresh")


def test_a_run_folder_named_with_html_shows_as_text_everywhere(page):
    page.open(f"/run?name={quote(ODD, safe='')}")
    assert page.find("h1").text == ODD and page.all("img[src='x']") == []
    page.open(explore(ODD))
    wait_for_explorer(page)  # the name reaches the script intact: the model behind it loads
    assert page.find("h1").text == f"latent space of {ODD}" and page.all("img[src='x']") == []
    assert page.driver.title == f"explore {ODD}"


# -- the report file ------------------------------------------------------------------------------------------------
def test_the_report_file_shows_every_picture(page, root, tmp_path):
    out = genzoo.report([root / "vae", root / "gan"], tmp_path / "report.html")
    page.open(Path(out).resolve().as_uri())
    assert page.find("h1").text == "genzoo report: 2 runs"
    images = page.assert_images_loaded()
    assert len(images) >= 7 and all(i["src"].startswith("data:image/") for i in images)
    assert [h.text for h in page.all("h2[id]")] == ["vae", "gan"]
    page.screenshot("report")
