"""/docs and /redoc in headless Chromium with every request to another host blocked, as inside a hospital network:
both list every route, and Swagger UI's "Try it out" reaches the service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.http.conftest import LiveServer
from tests.http.test_viewer import CHROMIUM, FLAGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root)"),
]


def _operations(server: LiveServer) -> list[tuple[str, str, str]]:
    with server.client() as http:
        spec = http.get("/openapi.json").json()
    return [
        (method.upper(), path, operation.get("summary", ""))
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


@contextmanager
def _offline_page(server: LiveServer, outside: list[str]) -> Iterator[Any]:
    """A Chromium page that reaches the service and nothing else: every other request is aborted and recorded."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def only_the_service(route: Any) -> None:
                if route.request.url.startswith(server.url):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_the_service)
            yield page
        finally:
            browser.close()


def test_swagger_ui_lists_every_route_and_tries_one_out_offline(server: LiveServer) -> None:
    operations = _operations(server)
    outside: list[str] = []
    with _offline_page(server, outside) as page:
        page.goto(server.url + "/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        shown = page.eval_on_selector_all(
            ".opblock-summary", "rows => rows.map(r => r.querySelector('.opblock-summary-path').dataset.path)"
        )
        assert sorted(shown) == sorted(path for _, path, _ in operations)
        page.click("#operations-system-healthz .opblock-summary")
        page.click("#operations-system-healthz .try-out__btn")
        page.click("#operations-system-healthz .execute")
        answered = "#operations-system-healthz .live-responses-table tbody .response-col_status"
        page.wait_for_selector(answered)
        assert page.inner_text(answered).strip().startswith("200")
    assert outside == []


def test_redoc_lists_every_route_offline(server: LiveServer) -> None:
    operations = _operations(server)
    outside: list[str] = []
    with _offline_page(server, outside) as page:
        page.goto(server.url + "/redoc")
        page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000, state="attached")
        assert page.eval_on_selector_all("[data-section-id^='operation/']", "s => s.length") == len(operations)
        text = page.inner_text("body")
        assert all(summary in text for _, _, summary in operations if summary)
    assert outside == []
