"""The viewer page, driven in headless Chromium: upload an image, see the scores and every method's heatmap."""

from __future__ import annotations

import base64
import contextlib
import io
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mlcore.explainers import method_names
from tests.helpers import CLASSES
from tests.http.conftest import LiveServer
from tests.images import mr_dicom_bytes, sample_path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root)"),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


GRID = 24
# Keep a copy of every panel's painted pixels (heatmap over the image).
SNAPSHOT = """() => { window.painted = {}; for (const c of document.querySelectorAll('.panel canvas')) {
    window.painted[c.parentElement.id] = c.getContext('2d').getImageData(0, 0, c.width, c.height).data.slice(); } }"""
# The heat layer alone: |painted - base| summed over RGB, averaged over a grid×grid of blocks.
HEAT_LAYER = """([method, grid]) => {
    const c = document.querySelector(`#panel-${method} canvas`);
    const base = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const painted = window.painted[`panel-${method}`];
    const sums = new Array(grid * grid).fill(0), counts = new Array(grid * grid).fill(0);
    for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
        const i = 4 * (y * c.width + x);
        const b = Math.floor(y * grid / c.height) * grid + Math.floor(x * grid / c.width);
        for (let k = 0; k < 3; k++) sums[b] += Math.abs(painted[i + k] - base[i + k]);
        counts[b] += 1;
    }
    const rows = [];
    for (let r = 0; r < grid; r++) {
        rows.push(sums.slice(r * grid, (r + 1) * grid).map((s, k) => s / counts[r * grid + k]));
    }
    return rows;
}"""


@contextlib.contextmanager
def _viewer(url: str) -> Iterator[Any]:
    """Headless Chromium on the viewer at ``url`` (the page), once its model line names the tiny test model."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/")
            page.wait_for_function("document.getElementById('model').textContent.includes('tiny-test-model')")
            yield page
        finally:
            browser.close()


def _server_map_on_grid(server: LiveServer, image: Path, upload: str, method: str) -> np.ndarray:
    """The method's map as the server gives it (JSON), averaged over the same grid of blocks."""
    content_type = "image/jpeg" if upload == "jpeg" else "application/dicom"
    with server.client() as http:
        answer = http.post(
            f"/explain?method={method}",
            content=image.read_bytes(),
            headers={"content-type": content_type, "accept": "application/json"},
        ).json()
    heat = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["heatmap"]["png_base64"]))), np.float64)
    rows = np.arange(heat.shape[0]) * GRID // heat.shape[0]
    cols = np.arange(heat.shape[1]) * GRID // heat.shape[1]
    grid = np.zeros((GRID, GRID))
    np.add.at(grid, (rows[:, None], cols[None, :]), heat)
    counts = np.zeros((GRID, GRID))
    np.add.at(counts, (rows[:, None], cols[None, :]), 1)
    return grid / counts


def test_the_page_is_served(server: LiveServer) -> None:
    with server.client() as http:
        page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="file"' in page.text and "/explain" in page.text


@pytest.mark.parametrize("upload", ["jpeg", "dicom"])
def test_upload_shows_scores_and_all_heatmaps(server: LiveServer, tmp_path: Path, upload: str) -> None:
    if upload == "jpeg":
        image = sample_path("pituitary")
    else:
        image = tmp_path / "slice.dcm"
        image.write_bytes(mr_dicom_bytes())
    with _viewer(server.url) as page:
        page.set_input_files("#file", str(image))
        page.wait_for_selector("#scores .bar", timeout=30_000)
        shown = page.eval_on_selector_all("#scores .bar", "rows => rows.map(r => r.dataset.class)")
        assert sorted(shown) == CLASSES
        page.wait_for_function(
            "[...document.querySelectorAll('.panel')].every(p => p.dataset.state === 'done')", timeout=120_000
        )
        methods = [
            panel.removeprefix("panel-") for panel in page.eval_on_selector_all(".panel", "ps => ps.map(p => p.id)")
        ]
        assert methods == method_names()  # the panels are the server's declared methods
        sentences = page.eval_on_selector_all(".panel .evidence", "ps => ps.map(p => p.hidden ? '' : p.textContent)")
        assert all(s.startswith(("The answer depends", "The answer does not", "Inconclusive")) for s in sentences)
        page.evaluate(SNAPSHOT)
        page.fill("#opacity", "0")  # the canvases now show the base image alone
        page.dispatch_event("#opacity", "input")
        for method in methods:
            layer = np.array(page.evaluate(HEAT_LAYER, [method, GRID]))
            expected = _server_map_on_grid(server, image, upload, method)
            assert layer.max() > 10, method  # something was painted over the base image
            assert np.corrcoef(layer.ravel(), expected.ravel())[0, 1] > 0.5, method  # ... and it is the map
            assert layer[expected == 0].max(initial=0) < 1, method  # nothing where the map is empty
        page.screenshot(path=str(tmp_path / f"viewer-{upload}.png"), full_page=True)


def test_a_refusal_or_a_flag_is_shown_before_any_heatmap(
    start_ood_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    noise = tmp_path / "noise.png"
    Image.fromarray((np.random.default_rng(0).random((96, 96)) * 255).astype(np.uint8)).save(noise)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(start_ood_server().url + "/")
            page.set_input_files("#file", str(noise))
            page.wait_for_selector("#check[data-state='refused']", timeout=30_000)
            shown = page.locator("#check > p").inner_text()
            assert shown == "Not answered. This image does not look like a brain MRI slice."
            assert not re.search(r"\d", shown) and page.locator("#check details").get_attribute("open") is None
            assert not page.is_visible("#check details > p")  # the reason and the numbers wait behind "Details"
            assert not page.is_visible("#legend") and page.locator(".panel").count() == 0
            assert page.locator("#scores .bar").count() == 0
            page.screenshot(path=str(tmp_path / "refused.png"))
            page.click("#check details > summary")
            assert "threshold" in page.inner_text("#check details > p")
            page.goto(start_ood_server(ood_policy="flag").url + "/")
            page.set_input_files("#file", str(noise))
            page.wait_for_selector("#check[data-state='flagged']", timeout=30_000)
            page.wait_for_selector("#scores .bar", timeout=30_000)
            flagged = page.locator("#check > p").inner_text()
            assert flagged.endswith("The answer below may be wrong.") and not re.search(r"\d", flagged)
            page.screenshot(path=str(tmp_path / "flagged.png"))
        finally:
            browser.close()


def test_a_second_image_opened_while_the_first_is_explained_ends_with_every_panel_drawn(
    start_server: Callable[..., LiveServer],
) -> None:
    """The first image's explanations still run on the server when the second one is opened; with no waiting line
    (max_queue 0) the server answers the second image's heavy requests 503 + Retry-After until its one heavy worker is
    free. The viewer waits and asks again: every panel of the second image is drawn, none shows an error."""
    server = start_server(max_queue=0)
    first, second = sample_path("glioma"), sample_path("pituitary")
    with server.client() as http:
        expected = http.post("/predict", content=second.read_bytes(), headers={"content-type": "image/jpeg"}).json()
    with _viewer(server.url) as page:
        page.set_input_files("#file", str(first))
        page.wait_for_selector(".panel[data-state='running']", timeout=30_000)
        page.set_input_files("#file", str(second))
        page.wait_for_function(
            "document.querySelectorAll('.panel').length > 0 && "
            "[...document.querySelectorAll('.panel')].every(p => p.dataset.state === 'done')",
            timeout=120_000,
        )
        states = page.eval_on_selector_all(".panel .state", "ps => ps.map(p => p.textContent)")
        assert len(states) == len(method_names()) and all(s.startswith("target ") for s in states), states
        top = page.eval_on_selector("#scores .bar.top", "row => row.dataset.class")
        assert top == expected["label"]  # the second image's answer, not the first's
