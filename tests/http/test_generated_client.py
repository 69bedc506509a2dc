"""The committed OpenAPI spec makes a working Python SDK (openapi-python-client) against a live server."""

from __future__ import annotations

import base64
import importlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.http.openapi import SPEC_PATH
from tests.helpers import CLASSES
from tests.http.conftest import LiveServer
from tests.images import sample_path


@pytest.mark.slow
def test_a_generated_python_client_works_against_a_live_server(
    server: LiveServer, start_ood_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
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
        assert isinstance(prediction.input_check.in_distribution, bool)
        noise = (np.random.default_rng(0).random((96, 96)) * 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noise).save(buffer, format="PNG")
        noise_body = models.PredictFilesBody(
            file=types.File(payload=buffer.getvalue(), file_name="noise.png", mime_type="image/png")
        )
        ood_client = client_module.Client(base_url=start_ood_server().url, raise_on_unexpected_status=True)
        refused = predict.sync(client=ood_client, body=noise_body)  # the 422 is documented: the SDK parses it
        assert isinstance(refused, models.Problem) and refused.type_.endswith("out-of-distribution")
        assert refused.reason and refused.input_check and refused.input_check.in_distribution is False
        explain_body = models.ExplainFilesBody(file=types.File(payload=data, file_name="scan.jpg"))
        json_client = client.with_headers({"Accept": "application/json"})  # SDKs take the JSON form
        explanation = explain.sync(client=json_client, body=explain_body, method=models.Method.LIME, num_samples=100)
        assert explanation.method == "lime" and explanation.target == explanation.label
        assert base64.b64decode(explanation.heatmap.png_base64)[:8] == b"\x89PNG\r\n\x1a\n"
        check = explanation.evidence_check  # the evidence check, typed for the SDK
        assert check.answered == explanation.target and check.verdict.value in (
            "depends",
            "does_not_depend",
            "inconclusive",
        )
        assert refused.input_check.summary and not any(char.isdigit() for char in refused.input_check.summary)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("brainxai_client")]:
            del sys.modules[name]
