"""Real uvicorn servers on loopback ports, for the end-to-end HTTP tests (the tiny model is in tests/conftest.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from service.http.app import create_app
from service.settings import Settings


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
        # the shipped model's start-up runs every explanation method once (measure_work): ~50 s on TorchScript
        deadline = time.monotonic() + 120
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
def start_ood_server(
    start_server: Callable[..., LiveServer], ood_model_path: Path
) -> Iterator[Callable[..., LiveServer]]:
    """Start (once per set of overrides) a server of the phantom-trained model with its input check."""
    started: dict[tuple[tuple[str, Any], ...], LiveServer] = {}

    def start(**overrides: Any) -> LiveServer:
        key = tuple(sorted(overrides.items()))
        if key not in started:
            started[key] = start_server(model_path=ood_model_path, **overrides)
        return started[key]

    yield start


@pytest.fixture(scope="session")
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    """A server with default settings."""
    return start_server()


@pytest.fixture()
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http
