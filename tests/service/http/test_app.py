"""The app factory: a method that is declared is served — its parameters in the API and the spec, its bounds
checked, its cost choosing the queue, the viewer's list — with no other change anywhere."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from mlcore.explainers import Explainer
from service.analysis.pipeline import AnalysisRequest
from service.http.app import create_app
from service.settings import Settings
from tests.images import sample_path


def test_a_registered_toy_method_is_served_end_to_end(tiny_model_path: Path, toy_registered: type[Explainer]) -> None:
    app = create_app(Settings(model_path=tiny_model_path, runtime="torchscript"))
    spec = app.openapi()
    assert "toy" in spec["components"]["schemas"]["Method"]["enum"]
    strength = next(p for p in spec["paths"]["/explain"]["post"]["parameters"] if p["name"] == "strength")
    assert "Toy: exponent" in strength["description"]
    image = sample_path().read_bytes()
    with TestClient(app) as client:
        listed = {method["name"]: method for method in client.get("/v1/methods").json()}
        assert listed["toy"]["parameters"]["strength"]["maximum"] == 4.0 and listed["toy"]["cost"] == "heavy"
        assert client.get("/v1/model").json()["runtimes"]["toy"] == "torchscript-fp32"
        answer = client.post(
            "/explain?method=toy&strength=2",
            content=image,
            headers={"content-type": "image/jpeg", "accept": "application/json"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["method"] == "toy" and answer.json()["parameters"] == {"strength": 2.0}
        too_strong = client.post(
            "/explain?method=toy&strength=9", content=image, headers={"content-type": "image/jpeg"}
        )
        assert too_strong.status_code == 422 and "strength" in too_strong.json()["detail"]
        state = app.state.brainxai
        plan = state.analyser.plan(AnalysisRequest(methods={"toy": {}}))
        assert state.queue_for(plan) is state.queues["heavy"]
