"""The model card, liveness, readiness and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.errors import NotReady
from service.schemas import PROBLEM_RESPONSES, Status
from service.state import PredictorDep, StateDep, require_api_key, require_api_key_for_health

router = APIRouter(tags=["system"])
health = APIRouter(tags=["system"], dependencies=[Depends(require_api_key_for_health)])


@router.get(
    "/v1/model",
    operation_id="get_model",
    summary="The served model's card (its manifest)",
    dependencies=[Depends(require_api_key)],
    responses={401: PROBLEM_RESPONSES[401], 503: PROBLEM_RESPONSES[503]},
)
async def get_model(predictor: PredictorDep) -> dict[str, Any]:
    """Classes, input, preprocessing, architecture, cost, data, validation metrics, provenance and runtimes."""
    return {
        **predictor.model.manifest,
        "sha256": predictor.model.sha256,
        "file": predictor.model.path.name,
        "runtimes": predictor.runtimes(),
    }


@health.get("/healthz", operation_id="healthz", summary="Liveness", response_model=Status)
async def healthz() -> Status:
    """The process is up and answering."""
    return Status(status="ok")


@health.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness",
    response_model=Status,
    responses={503: PROBLEM_RESPONSES[503]},
)
async def readyz(state: StateDep) -> Status:
    """The model is loaded and a warm-up inference has run."""
    if not state.ready:
        raise NotReady("the model is not loaded yet", {"Retry-After": "2"})
    return Status(status="ready")


@health.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
    response_class=Response,
)
async def metrics(state: StateDep) -> Response:
    """Requests and latency by route and status, inference time by method, in-flight requests, rejections."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
