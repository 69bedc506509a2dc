"""The app state: the analyser only once ready, the queue a plan's declared cost chooses, API keys."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from mlcore import artifact
from mlcore.runtimes import build_runtimes
from service.analysis.pipeline import Analyser, AnalysisRequest
from service.errors import NotReady, Unauthorized
from service.http.app import work_queues
from service.http.state import AppState, get_analyser, require_api_key, require_api_key_for_health
from service.image import DecodeOptions
from service.metrics import Metrics
from service.settings import Settings


def _state(tiny_model_path: Path, **settings: object) -> AppState:
    metrics = Metrics()
    config = Settings(model_path=tiny_model_path, **settings)
    return AppState(config, metrics, work_queues(config, metrics))


def test_the_analyser_is_handed_out_only_once_ready(tiny_model_path: Path) -> None:
    state = _state(tiny_model_path)
    with pytest.raises(NotReady) as caught:
        get_analyser(state)
    assert caught.value.retry_after_s == 2
    model = artifact.load(tiny_model_path)
    state.analyser = Analyser(model, build_runtimes(model, "torchscript"), decode_limits=DecodeOptions(10**6))
    with pytest.raises(NotReady):
        get_analyser(state)
    state.ready = True
    assert get_analyser(state) is state.analyser


def test_the_queue_follows_the_declared_cost_of_the_methods(tiny_model_path: Path) -> None:
    state = _state(tiny_model_path)
    model = artifact.load(tiny_model_path)
    analyser = Analyser(model, build_runtimes(model, "torchscript"), decode_limits=DecodeOptions(10**6))
    for methods, queue in (
        ({}, "predict"),
        ({"gradcam": {}}, "light"),
        ({"lime": {}}, "heavy"),
        ({"gradcam": {}, "occlusion": {}}, "heavy"),  # any heavy method makes the request heavy
    ):
        assert state.queue_for(analyser.plan(AnalysisRequest(methods=methods))) is state.queues[queue]


def test_api_keys_are_required_when_configured(tiny_model_path: Path) -> None:
    open_state = _state(tiny_model_path)
    require_api_key(open_state)  # no keys configured: open
    state = _state(tiny_model_path, api_keys=("k1", "k2"))
    require_api_key(state, api_key="k2")
    require_api_key(state, bearer=SimpleNamespace(credentials="k1"))  # type: ignore[arg-type]
    for wrong in ("", "k", "k1k2"):
        with pytest.raises(Unauthorized):
            require_api_key(state, api_key=wrong)
    assert state.metrics.rejections.labels("unauthorized")._value.get() == 3
    require_api_key_for_health(state)  # health stays open unless protected
    protected = _state(tiny_model_path, api_keys=("k1",), protect_health=True)
    with pytest.raises(Unauthorized):
        require_api_key_for_health(protected)


def test_the_queue_of_a_request_is_told_from_its_path_and_query(tiny_model_path: Path) -> None:
    state = _state(tiny_model_path)
    assert state.queue_for_request("/predict", "frame=1") is state.queues["predict"]
    assert state.queue_for_request("/explain", "") is state.queues["light"]  # Grad-CAM by default
    assert state.queue_for_request("/explain", "method=lime&num_samples=100") is state.queues["heavy"]
    assert state.queue_for_request("/explain", "method=shap") is None  # the route will answer 422
    assert state.queue_for_request("/v1/dicomweb/analyze", "") is None  # its methods are in the body
