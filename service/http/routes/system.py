"""The model card, the explanation methods, liveness, readiness and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mlcore.cpu import cpu_info
from mlcore.explainers import declarations
from service.errors import NotReady
from service.http.problems import problem_responses
from service.http.state import AnalyserDep, StateDep, require_api_key, require_api_key_for_health
from service.schemas import MethodDeclaration, Status

router = APIRouter(tags=["system"])
operations = APIRouter(tags=["system"], dependencies=[Depends(require_api_key_for_health)])


@router.get(
    "/v1/model",
    operation_id="get_model",
    summary="The served model's card (its manifest)",
    dependencies=[Depends(require_api_key)],
    responses=problem_responses(401, 503),
)
async def get_model(analyser: AnalyserDep) -> dict[str, Any]:
    """Classes, input, preprocessing, architecture, cost, data, validation metrics, provenance; how the probabilities
    are calibrated (``probability_calibration``: the method, its temperature, ECE before and after); the runtime of
    each kind of work, this server's CPU, the int8 forward's start-up check (scheme chosen for the CPU, numbers) and
    what an out-of-distribution input gets here (``ood_policy``; the feature detector's numbers:
    ``feature_detector``)."""
    return {
        **model_card(analyser.model.manifest),
        "sha256": analyser.model.sha256,
        "file": analyser.model.path.name,
        "runtimes": analyser.runtimes.describe(),
        "cpu": cpu_info(),
        "int8": analyser.runtimes.int8_check(),
        "ood_policy": analyser.ood_policy,
    }


def model_card(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as clients read it: every key named for what it holds. The images that calibrate the int8
    forward are ``int8_calibration`` (the manifest's ``calibration``); the validation ECE measured before the
    temperature is ``ece_before_temperature``, beside ``probability_calibration`` (method, temperature, ECE before
    and after), so no key called plain ``ece`` or ``calibration`` says something other than what the answers get."""
    card = {key: value for key, value in manifest.items() if key != "calibration"}
    if "calibration" in manifest:
        card["int8_calibration"] = manifest["calibration"]
    metrics = manifest.get("metrics", {})
    validation = dict(metrics.get("validation", {}))
    if "ece" in validation:
        validation["ece_before_temperature"] = validation.pop("ece")
        card["metrics"] = {**metrics, "validation": validation}
    detector = manifest.get("feature_detector")
    if detector:
        calibration = detector.get("calibration", {})
        card["probability_calibration"] = {
            "method": calibration.get("method", "temperature scaling"),
            "temperature": detector.get("temperature"),
            "ece_before": calibration.get("ece_before"),
            "ece_after": calibration.get("ece_after"),
            "n": calibration.get("n"),
        }
    else:
        card["probability_calibration"] = {"method": "none", "temperature": 1.0}
    return card


@router.get(
    "/v1/methods",
    operation_id="list_methods",
    summary="The explanation methods and their parameters",
    dependencies=[Depends(require_api_key)],
    response_model=list[MethodDeclaration],
    responses=problem_responses(401),
)
async def list_methods() -> list[dict[str, Any]]:
    """Every method /explain serves, as it declares itself: name, parameters with bounds and defaults, cost."""
    return declarations()


@operations.get("/healthz", operation_id="healthz", summary="Liveness", response_model=Status)
async def healthz() -> Status:
    """The process is up and answering."""
    return Status(status="ok")


@operations.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness",
    response_model=Status,
    responses=problem_responses(503),
)
async def readyz(state: StateDep) -> Status:
    """The model is loaded and a warm-up inference has run."""
    if not state.ready:
        raise NotReady("the model is not loaded yet", retry_after_s=2)
    return Status(status="ready")


@operations.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
    response_class=Response,
)
async def metrics(state: StateDep) -> Response:
    """Requests and latency by route and status, inference time by method, in-flight requests, rejections."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
