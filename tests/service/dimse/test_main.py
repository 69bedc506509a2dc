"""``python -m service.dimse`` as operators run it: starts, answers C-ECHO and /metrics, stops on SIGTERM with 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.dicom_peers import echo, needs_dcmtk
from tests.helpers import REPO_ROOT
from tests.http.conftest import free_port


@needs_dcmtk
def test_the_node_starts_answers_and_stops_cleanly(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    env = os.environ | {
        "BRAINXAI_DIMSE_PORT": str(port),
        "BRAINXAI_DIMSE_METRICS_PORT": str(metrics_port),
        "BRAINXAI_DIMSE_OUTBOX": str(tmp_path / "outbox"),
        "BRAINXAI_EXPLAIN_PRECISION": "fp32",
    }
    node = subprocess.Popen([sys.executable, "-m", "service.dimse"], cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not echo(port, "BRAINXAI"):
            assert node.poll() is None and time.monotonic() < deadline, "the node did not start"
            time.sleep(0.5)
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert "brainxai_dimse_instances_total" in metrics
    finally:
        node.send_signal(signal.SIGTERM)
        _, stderr = node.communicate(timeout=60)
    assert node.returncode == 0
    assert b"DICOM node stopped" in stderr


def test_bad_settings_stop_the_start_with_a_message() -> None:
    env = os.environ | {"BRAINXAI_DIMSE_DESTINATION": "no-port-here"}
    node = subprocess.run(
        [sys.executable, "-m", "service.dimse"], cwd=REPO_ROOT, env=env, capture_output=True, timeout=60
    )
    assert node.returncode == 2 and b"BRAINXAI_DIMSE_DESTINATION" in node.stderr


def test_an_unknown_explanation_method_stops_the_start() -> None:
    env = os.environ | {"BRAINXAI_DIMSE_METHODS": "gradcam,telepathy", "BRAINXAI_EXPLAIN_PRECISION": "fp32"}
    node = subprocess.run(
        [sys.executable, "-m", "service.dimse"], cwd=REPO_ROOT, env=env, capture_output=True, timeout=120
    )
    assert node.returncode == 2 and b"telepathy" in node.stderr
