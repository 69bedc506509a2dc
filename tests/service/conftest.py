"""A tiny model file and real uvicorn servers on loopback ports, for end-to-end service tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
import uvicorn

from mlcore import artifact
from service.app import create_app
from service.settings import Settings
from training.models import build_model

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 48-px CNN saved as a real artifact with a full manifest."""
    torch.manual_seed(0)
    model = build_model("brainxai_cnn", len(CLASSES), width=8, dropout=0.0).eval()
    manifest: dict[str, Any] = {
        "name": "tiny-test-model",
        "version": "0.0.0",
        "classes": CLASSES,
        "input": {"size": 48, "channels": 1},
        "preprocessing": {"mean": 0.2, "std": 0.25},
        "architecture": {"name": "brainxai_cnn", "width": 8},
        "parameters": sum(p.numel() for p in model.parameters()),
        "flops": 0,
        "data": {"dataset": "none"},
        "metrics": {},
        "provenance": {"note": "built by the tests"},
    }
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    artifact.save(artifact.script(model.backbone, model.head), manifest, path)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """A uvicorn server running the app in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)


@pytest.fixture(scope="session")
def start_server(tiny_model_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start a server with settings overrides; all are stopped at the end of the session."""
    servers: list[LiveServer] = []

    def start(**overrides: Any) -> LiveServer:
        settings = Settings(**{"model_path": tiny_model_path, **overrides})
        server = LiveServer(settings).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    """A server with default settings."""
    return start_server()


@pytest.fixture()
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http
