"""/docs and /redoc come with every file they load: nothing is asked of another host."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from service.http.app import create_app
from service.settings import Settings


def test_the_docs_pages_load_only_assets_the_service_serves(tiny_model_path: Path) -> None:
    app = create_app(Settings(model_path=tiny_model_path, runtime="torchscript"))
    with TestClient(app) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page)
            assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
            assert "default-src 'self'" in html.headers["content-security-policy"]
            loaded = re.findall(r'(?:src|href)="([^"]+)"', html.text) + re.findall(r"url: '([^']+)'", html.text)
            assert loaded, page
            assert all(url.startswith("/") for url in loaded), (page, loaded)  # same origin, no CDN, no web fonts
            for url in loaded:
                assert client.get(url).status_code == 200, url
        assert "/docs" not in app.openapi()["paths"] and "/docs/assets/swagger-ui.css" not in app.openapi()["paths"]
