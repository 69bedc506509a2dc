"""Start-up fails clearly on bad settings; the committed OpenAPI spec is current and makes a working SDK."""

from __future__ import annotations

import base64
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.openapi import SPEC_PATH, render_spec
from service.schemas import Method
from tests.helpers import REPO_ROOT
from tests.service.conftest import CLASSES, LiveServer
from tests.service.images import sample_path


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


def test_committed_openapi_spec_is_current() -> None:
    assert SPEC_PATH.read_text() == render_spec(), "openapi/openapi.json is stale: run python -m service.openapi"


def test_methods_in_the_api_are_the_explainers() -> None:
    from mlcore.explainers import EXPLAINERS

    assert {m.value for m in Method} == set(EXPLAINERS)


@pytest.mark.slow
def test_a_generated_python_client_works_against_a_live_server(server: LiveServer, tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent  # the generator formats its output with ruff from the same venv
    result = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(SPEC_PATH),
            "--output-path",
            str(tmp_path / "brainxai_client"),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        package = "brainxai_client"
        client_module = importlib.import_module(f"{package}.client")
        predict = importlib.import_module(f"{package}.api.inference.predict")
        explain = importlib.import_module(f"{package}.api.inference.explain")
        models = importlib.import_module(f"{package}.models")
        types = importlib.import_module(f"{package}.types")
        client = client_module.Client(base_url=server.url, raise_on_unexpected_status=True)
        data = sample_path().read_bytes()
        body = models.PredictFilesBody(file=types.File(payload=data, file_name="scan.jpg", mime_type="image/jpeg"))
        prediction = predict.sync(client=client, body=body)
        assert prediction.label in CLASSES
        assert abs(sum(prediction.probabilities.additional_properties.values()) - 1) < 1e-5
        explain_body = models.ExplainFilesBody(file=types.File(payload=data, file_name="scan.jpg"))
        json_client = client.with_headers({"Accept": "application/json"})  # SDKs take the JSON form
        explanation = explain.sync(client=json_client, body=explain_body, method=models.Method.LIME, num_samples=100)
        assert explanation.method == "lime" and explanation.target == explanation.label
        assert base64.b64decode(explanation.heatmap.png_base64)[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("brainxai_client")]:
            del sys.modules[name]
