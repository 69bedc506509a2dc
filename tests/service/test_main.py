"""python -m service: bad settings and a foreign model file stop the start with a clear message and exit code 2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers import REPO_ROOT
from tests.http.conftest import free_port
from tests.images import sample_path


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **env}
    return subprocess.run([sys.executable, "-m", "service"], env=full, capture_output=True, text=True, timeout=60)


def test_bad_settings_stop_the_start_with_a_clear_message(tiny_model_path: Path) -> None:
    result = _start({"BRAINXAI_MODEL_PATH": str(tiny_model_path), "BRAINXAI_PORT": "not-a-port"})
    assert result.returncode == 2 and "BRAINXAI_PORT" in result.stderr
    missing = _start({"BRAINXAI_MODEL_PATH": "/nonexistent/model.pt"})
    assert missing.returncode == 2 and "no model file at /nonexistent/model.pt" in missing.stderr


def test_a_foreign_model_file_stops_the_start(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"definitely not a model")
    result = _start({"BRAINXAI_MODEL_PATH": str(foreign), "BRAINXAI_PORT": "1"})
    assert result.returncode != 0 and "not a brainxai model" in result.stderr


def test_sigterm_under_load_finishes_every_accepted_request_and_exits_0() -> None:
    """Requests in flight when SIGTERM arrives are all answered; afterwards connections are refused; exit code 0.
    The shipped model, so that each request (LIME) takes long enough to be cut if shutdown were not graceful."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "BRAINXAI_PORT": str(port), "BRAINXAI_MAX_WAIT_S": "60"}
    env |= {"BRAINXAI_HEAVY_EXPLAIN_CONCURRENCY": "2", "BRAINXAI_EXPLAIN_PRECISION": "fp32"}
    server = subprocess.Popen([sys.executable, "-m", "service"], env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, server)
        image = sample_path().read_bytes()

        def lime(_: int) -> tuple[int, float]:  # about a second of model work each
            answer = httpx.post(f"{url}/explain?method=lime&format=json", content=image,
                                headers={"Content-Type": "image/jpeg"}, timeout=120)  # fmt: skip
            return answer.status_code, time.monotonic()

        with ThreadPoolExecutor(6) as pool:
            in_flight = [pool.submit(lime, i) for i in range(6)]
            time.sleep(0.5)  # all 6 connected and admitted (2 running, 4 waiting in line)
            told = time.monotonic()
            server.send_signal(signal.SIGTERM)
            answers = [future.result() for future in in_flight]
        assert [status for status, _ in answers] == [200] * 6  # none lost, none cut
        assert max(finished for _, finished in answers) > told + 0.5  # they were still being worked on
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=5)
        _, stderr = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode == 0, stderr[-2000:]


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server was not ready in 60 s")
