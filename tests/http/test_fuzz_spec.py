"""The committed OpenAPI spec, fuzzed against a live service by a peer's tool (schemathesis): no server error, and
every answer's status, content type and body as the spec says — for every route but the PACS bridge (whose answers
come from a PACS that is not there)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.http.conftest import LiveServer

pytestmark = pytest.mark.slow
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_schemathesis_finds_nothing(start_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    server = start_server()
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert binary is not None, "schemathesis is a dev dependency (pip install '.[dev]')"
    command = [
        binary,
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        CHECKS,
        "--exclude-path-regex",
        "/v1/dicomweb",
        "--max-examples",
        "10",
        "--seed",
        "0",
        "--no-color",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert " passed" in result.stdout and "failed" not in result.stdout.split("SUMMARY")[-1].lower()
