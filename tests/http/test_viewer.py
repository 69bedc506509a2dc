"""The viewer page, driven in headless Chromium: upload an image, see the scores and every method's heatmap."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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


def test_the_page_is_served(server: LiveServer) -> None:
    with server.client() as http:
        page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="file"' in page.text and "/explain" in page.text


@pytest.mark.parametrize("upload", ["jpeg", "dicom"])
def test_upload_shows_scores_and_all_heatmaps(server: LiveServer, tmp_path: Path, upload: str) -> None:
    from playwright.sync_api import sync_playwright

    if upload == "jpeg":
        image = sample_path("pituitary")
    else:
        image = tmp_path / "slice.dcm"
        image.write_bytes(mr_dicom_bytes())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.url + "/")
            page.wait_for_function("document.getElementById('model').textContent.includes('tiny-test-model')")
            page.set_input_files("#file", str(image))
            page.wait_for_selector("#scores .bar", timeout=30_000)
            shown = page.eval_on_selector_all("#scores .bar", "rows => rows.map(r => r.dataset.class)")
            assert sorted(shown) == CLASSES
            page.wait_for_function(
                "[...document.querySelectorAll('.panel')].every(p => p.dataset.state === 'done')", timeout=120_000
            )
            for method in ("gradcam", "lime", "integrated_gradients", "occlusion"):
                painted = page.evaluate(
                    """(method) => { const c = document.querySelector(`#panel-${method} canvas`);
                        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                        let lit = 0; for (let i = 0; i < d.length; i += 4) lit += d[i] + d[i + 1] + d[i + 2] > 0;
                        return [c.width, lit]; }""",
                    method,
                )
                assert painted[0] > 0 and painted[1] > 0, method
            before = page.evaluate("document.querySelector('#panel-gradcam canvas').toDataURL()")
            page.fill("#opacity", "0")
            page.dispatch_event("#opacity", "input")
            assert page.evaluate("document.querySelector('#panel-gradcam canvas').toDataURL()") != before
            page.screenshot(path=str(tmp_path / f"viewer-{upload}.png"), full_page=True)
        finally:
            browser.close()
