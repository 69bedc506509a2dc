"""The Open Inference Protocol (KServe V2 REST) beside the service's own API, on the same analysis pipeline.

``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``; ``GET /v2/models/{name}[/versions/{version}]`` (metadata)
and ``.../ready``; ``POST /v2/models/{name}[/versions/{version}]/infer``. An infer request has one input: ``image``
(BYTES, shape [1]: an encoded PNG, JPEG or DICOM) or ``input`` (FP32, [1, 1, S, S]: the client's own preprocessing).
The outputs: ``probabilities`` (FP32 [1, classes], calibrated, in the order of the ``classes`` parameter) and
``label`` (BYTES [1]); with the request parameter ``explain`` (a method, e.g. ``gradcam``) also ``heatmap``
(FP32 [1, H, W], the map at the image's size; ``target``: the class explained, default the predicted one), whose
parameters carry the evidence check (``evidence_verdict``, ``evidence_probability_before`` / ``_after``, …). The input
check travels in the response's ``parameters``. Same limits, API keys, admission, input check and metrics as the
rest; errors in the protocol's ``{"error": message}`` shape (``service/http/problems.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from mlcore.errors import ParameterError
from service.analysis.pipeline import Analyser, Analysis, AnalysisRequest, Preprocessed
from service.errors import ModelNotFound, RequestError
from service.http.oip import HEADER_LENGTH, InferRequest, Tensor, encode_infer_response, parse_infer_request
from service.http.problems import protocol_error_responses
from service.http.state import AnalyserDep, StateDep, require_api_key, require_api_key_for_health
from service.image import Upload

health = APIRouter(tags=["open inference protocol"], dependencies=[Depends(require_api_key_for_health)])
router = APIRouter(tags=["open inference protocol"], dependencies=[Depends(require_api_key)])
INFER_BODY = {"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}}


# Every status these routes answer, described from the one error table, in the protocol's error shape.
MODEL_ERRORS = protocol_error_responses(401, 404, 422, 503)
INFER_ERRORS = protocol_error_responses(400, 401, 404, 413, 415, 422, 503)


def check_model(analyser: Analyser, name: str, version: str | None) -> None:
    """The served model is ``name`` (and ``version`` when given), else 404."""
    model = analyser.model_ref()
    version = version or None  # an empty version (``?model_version=``) asks for none
    if name != model.name or version not in (None, model.version):
        asked = name if version is None else f"{name} version {version}"
        raise ModelNotFound(f"this server serves model {model.name} version {model.version}, not {asked}")


def model_metadata(analyser: Analyser) -> dict[str, Any]:
    """The model's V2 metadata: name, versions, platform, inputs and outputs with their shapes."""
    model, size = analyser.model_ref(), analyser.spec.size
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": "pytorch_torchscript",
        "inputs": [
            {"name": "image", "datatype": "BYTES", "shape": [1]},
            {"name": "input", "datatype": "FP32", "shape": [1, 1, size, size]},
        ],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [1, len(analyser.classes)]},
            {"name": "label", "datatype": "BYTES", "shape": [1]},
            {"name": "heatmap", "datatype": "FP32", "shape": [1, -1, -1]},
        ],
        "parameters": {"classes": ",".join(analyser.classes), "sha256": model.sha256},
    }


def infer_source(request: InferRequest) -> Upload | Preprocessed:
    """The one input of an infer request as a source of the pipeline."""
    if set(request.inputs) == {"image"}:
        image = request.inputs["image"]
        if image.datatype != "BYTES" or len(image.data) != 1:
            raise RequestError("input 'image' must be BYTES of shape [1]: one encoded PNG, JPEG or DICOM")
        content_type = image.parameters.get("content_type")
        return Upload(data=image.data[0], content_type=str(content_type) if content_type else None)
    if set(request.inputs) == {"input"}:
        tensor = request.inputs["input"]
        if tensor.datatype != "FP32":
            raise RequestError("input 'input' must be FP32")
        return Preprocessed(torch.from_numpy(np.array(tensor.data, dtype=np.float32)))
    raise RequestError(f"give exactly one input, 'image' or 'input'; got {sorted(request.inputs)}")


def infer_plan_request(request: InferRequest) -> AnalysisRequest:
    """What to compute: the prediction, and the map of the ``explain`` method when asked; outputs that will not
    exist are refused before any model work."""
    method = request.parameters.get("explain")
    if method is not None and not isinstance(method, str):
        raise ParameterError("the parameter 'explain' names one method, e.g. gradcam")
    unknown = set(request.outputs or ()) - {"probabilities", "label", *(["heatmap"] if method else [])}
    if unknown:
        raise RequestError(f"unknown or not computed output(s) {sorted(unknown)}; heatmap needs 'explain'")
    target = request.parameters.get("target")
    return AnalysisRequest(methods={method: {}} if method else {}, target=str(target) if target is not None else None)


def infer_outputs(analysis: Analysis, analyser: Analyser, request: InferRequest) -> list[Tensor]:
    """The output tensors, those asked for (all when none are named)."""
    probabilities = np.array([[analysis.prediction.probabilities[c] for c in analyser.classes]], dtype=np.float32)
    outputs = [
        Tensor("probabilities", "FP32", probabilities.shape, probabilities),
        Tensor("label", "BYTES", (1,), [analysis.prediction.label.encode()]),
    ]
    for explanation in analysis.explanations:
        heatmap = explanation.heatmap.astype(np.float32)[None]
        check = explanation.evidence  # the evidence check travels as the heatmap's parameters
        facts = {f"evidence_{key}": value for key, value in check.as_dict().items()} if check is not None else {}
        outputs.append(Tensor("heatmap", "FP32", heatmap.shape, heatmap, facts))
    if request.outputs is not None:
        outputs = [tensor for tensor in outputs if tensor.name in request.outputs]
    return outputs


@health.get("/v2", operation_id="v2_server_metadata", summary="Server metadata (Open Inference Protocol)")
async def server_metadata(request: Request) -> dict[str, Any]:
    """The server's name, version (the API's) and protocol extensions."""
    return {"name": "brainxai", "version": request.app.version, "extensions": ["binary_tensor_data"]}


@health.get("/v2/health/live", operation_id="v2_live", summary="Liveness (Open Inference Protocol)")
async def live() -> dict[str, bool]:
    """The process is up and answering."""
    return {"live": True}


@health.get("/v2/health/ready", operation_id="v2_ready", summary="Readiness (Open Inference Protocol)")
async def ready(state: StateDep) -> JSONResponse:
    """The model is loaded and warmed up (503 until then)."""
    return JSONResponse({"ready": state.ready}, status_code=200 if state.ready else 503)


@router.get(
    "/v2/models/{model_name}", operation_id="v2_model_metadata", summary="Model metadata", responses=MODEL_ERRORS
)
@router.get(
    "/v2/models/{model_name}/versions/{model_version}", operation_id="v2_model_version_metadata", responses=MODEL_ERRORS
)
async def metadata(model_name: str, analyser: AnalyserDep, model_version: str | None = None) -> dict[str, Any]:
    """The served model's name, versions, inputs and outputs."""
    check_model(analyser, model_name, model_version)
    return model_metadata(analyser)


@router.get(
    "/v2/models/{model_name}/ready", operation_id="v2_model_ready", summary="Model readiness", responses=MODEL_ERRORS
)
@router.get(
    "/v2/models/{model_name}/versions/{model_version}/ready",
    operation_id="v2_model_version_ready",
    responses=MODEL_ERRORS,
)
async def model_ready(model_name: str, analyser: AnalyserDep, model_version: str | None = None) -> dict[str, Any]:
    """Whether the model is ready for inference (it is, once the server answers this)."""
    check_model(analyser, model_name, model_version)
    return {"name": model_name, "ready": True}


@router.post(
    "/v2/models/{model_name}/infer",
    operation_id="v2_infer",
    summary="Infer",
    openapi_extra=INFER_BODY,
    responses=INFER_ERRORS,
)
@router.post(
    "/v2/models/{model_name}/versions/{model_version}/infer",
    operation_id="v2_version_infer",
    openapi_extra=INFER_BODY,
    responses=INFER_ERRORS,
)
async def infer(
    request: Request, model_name: str, state: StateDep, analyser: AnalyserDep, *, model_version: str | None = None
) -> Response:
    """Classify one image (encoded, or preprocessed by the client) and, when asked, explain it."""
    check_model(analyser, model_name, model_version)
    parsed = parse_infer_request(await request.body(), request.headers.get(HEADER_LENGTH))
    source = infer_source(parsed)
    plan = analyser.plan(infer_plan_request(parsed))
    analysis = await state.run(plan, lambda deadline: analyser.analyse(source, plan, deadline=deadline), what="infer")
    state.metrics.inference.labels("predict").observe(analysis.prediction.inference_ms / 1000)
    model, check = analyser.model_ref(), analysis.prediction.input_check
    header = {
        "model_name": model.name,
        "model_version": model.version,
        "id": parsed.id or request.state.request_id,
        "parameters": {"classes": ",".join(analyser.classes), "in_distribution": check.in_distribution,
                       "input_check_score": check.score, "input_check_reason": check.reason},
    }  # fmt: skip
    body, headers = encode_infer_response(header, infer_outputs(analysis, analyser, parsed), parsed)
    media_type = "application/octet-stream" if headers else "application/json"
    return Response(body, media_type=media_type, headers=headers)
