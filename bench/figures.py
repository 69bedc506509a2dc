"""The README's pictures of the service, made from the shipped model as served: ``make figures``.

Starts ``python -m service`` with its default settings, then

- ``docs/images/viewer.png``: the viewer (``GET /``) in headless Chromium (Debian's ``chromium``, driven by
  Playwright) after a validation sample is opened and every method's panel is drawn;
- ``docs/images/explain-gradcam.png``: ``POST /explain?method=gradcam`` on the same sample, the PNG answer as is;
- ``docs/images/explanations.png``: two validation tumours per class with their boxes and every method's map of the
  true class (the explain-eval figure), when the dataset is beside the checkout.

Each picture shows the model line the service reports, so a stale picture names its version.

    .venv/bin/python bench/figures.py [--sample tests/data/samples/meningioma/Tr-me_0060.jpg]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

import httpx
from common import REPO, default_service, model_label  # bench/common.py, beside this script

log = logging.getLogger("figures")
IMAGES = REPO / "docs" / "images"
SAMPLE = REPO / "tests" / "data" / "samples" / "meningioma" / "Tr-me_0060.jpg"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def viewer_screenshot(url: str, sample: Path, out: Path, chromium: str) -> None:
    """The viewer with ``sample`` opened, once the scores and every heatmap panel are drawn."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/")
            page.wait_for_function("!document.getElementById('model').textContent.includes('loading')")
            page.set_input_files("#file", str(sample))
            page.wait_for_selector("#scores .bar", timeout=30_000)
            page.wait_for_function(
                "[...document.querySelectorAll('.panel')].every(p => p.dataset.state === 'done')", timeout=180_000
            )
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def gradcam_answer(url: str, sample: Path, out: Path) -> None:
    """The Grad-CAM overlay exactly as ``/explain`` answers it."""
    answer = httpx.post(
        f"{url}/explain",
        params={"method": "gradcam"},
        content=sample.read_bytes(),
        headers={"Content-Type": "image/jpeg", "Accept": "image/png"},
        timeout=60,
    )
    answer.raise_for_status()
    out.write_bytes(answer.content)


def explanation_grid(out: Path) -> bool:
    """Every method's map on two validation tumours per class (seeded), titled with the model; False (logged) when
    the dataset or its boxes are not beside the checkout."""
    from mlcore.artifact import DEFAULT_MODEL
    from mlcore.explainers import method_names
    from training.data.dataset import SHARED_TRAINING
    from training.evaluation.explain_eval import load_cases, method_parameters
    from training.evaluation.explain_report import figure

    boxes = SHARED_TRAINING.parent / "tumor-boxes.csv"
    if not boxes.is_file():
        log.warning("no %s: docs/images/explanations.png left as it is", boxes)
        return False
    split = DEFAULT_MODEL.with_suffix(".split.json")
    cases = load_cases(SHARED_TRAINING, boxes, split, per_class=2, seed=0)
    methods = method_names()
    figure(DEFAULT_MODEL, cases, methods, method_parameters(methods, [], seed=0), out=out, title=model_label())
    return True


def main() -> int:
    """Serve the shipped model, take both pictures, stop."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="a validation image (default: %(default)s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        log.error("Debian's chromium is not installed (make system-deps)")
        return 2
    service = default_service()
    try:
        viewer_screenshot(service.url, args.sample, IMAGES / "viewer.png", chromium)
        gradcam_answer(service.url, args.sample, IMAGES / "explain-gradcam.png")
    finally:
        service.stop()
    explanation_grid(IMAGES / "explanations.png")
    log.info("docs/images/ viewer.png, explain-gradcam.png and explanations.png from %s", model_label())
    return 0


if __name__ == "__main__":
    sys.exit(main())
