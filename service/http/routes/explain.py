"""``POST /explain``: a relevance map of one class for one image, as a PNG overlay, JSON or DICOM.

The router is built by :func:`build_router` when the app is made, from the registered methods'
declarations: the ``method`` enum and every method parameter come from there.
"""

# No `from __future__ import annotations`: FastAPI must see the locally built Method and MethodParams types.

import base64
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from mlcore.evidence import EvidenceCheck
from mlcore.explainers import DEFAULT_METHOD
from mlcore.render import heatmap_summary
from service.analysis.pipeline import Analysis, AnalysisRequest
from service.analysis.results import JSON, PNG, explanation_bytes
from service.dicom.reading import DICOM
from service.http.method_params import method_enum, method_parameters_dependency
from service.http.problems import problem_responses
from service.http.routes.common import FrameQuery, negotiate, timing
from service.http.state import AnalyserDep, StateDep, require_api_key
from service.http.upload import read_upload
from service.schemas import (
    IMAGE_BODY,
    ExplainResponse,
    Heatmap,
    HeatmapSummary,
    ModelRef,
)

RESPONSES: dict[int | str, dict[str, Any]] = {
    **problem_responses(400, 401, 406, 413, 415, 422, 503),
    200: {
        "description": "The heatmap over the image (PNG, with a legend); with Accept: application/json, scores, "
        "parameters and the raw map; with Accept: application/dicom (DICOM input only), a Secondary Capture of "
        "the overlay in the input's study",
        "content": {
            PNG: {"schema": {"type": "string", "format": "binary"}},
            DICOM: {"schema": {"type": "string", "format": "binary"}},
        },
    },
}


def build_router() -> APIRouter:
    """The ``/explain`` router for the methods registered now."""
    router = APIRouter(tags=["inference"], dependencies=[Depends(require_api_key)])
    Method = method_enum()  # noqa: N806 (a type)
    MethodParams = Annotated[dict[str, Any], Depends(method_parameters_dependency())]  # noqa: N806 (a type)

    @router.post(
        "/explain",
        operation_id="explain",
        summary="Explain a class's score as a heatmap",
        response_model=ExplainResponse,
        responses=RESPONSES,
        openapi_extra=IMAGE_BODY,
    )
    async def explain(
        request: Request,
        state: StateDep,
        analyser: AnalyserDep,
        *,
        method: Annotated[Method, Query(description="explanation method")] = Method[DEFAULT_METHOD],  # type: ignore[valid-type]
        target: Annotated[str | None, Query(description="class to explain (default: the predicted one)")] = None,
        opacity: Annotated[float, Query(ge=0, le=1, description="PNG: heatmap opacity over the image")] = 0.5,
        frame: FrameQuery = None,
        params: MethodParams,
    ) -> Response | ExplainResponse:
        """Where the model looked: a relevance map of ``target`` for one image (PNG, JPEG or DICOM)."""
        started = time.perf_counter()
        answer_with = negotiate(request.headers.get("accept"), (PNG, JSON, DICOM), "/explain")
        name = str(method)
        ask = AnalysisRequest(methods={name: params}, target=target, frame=frame, dicom_result=answer_with == DICOM)
        plan = analyser.plan(ask)
        upload = await read_upload(request, state.settings.max_upload_bytes)
        model = analyser.model_ref()

        def work(deadline: float) -> tuple[Analysis, bytes]:
            analysis = analyser.analyse(upload, plan, deadline=deadline)
            body = explanation_bytes(analysis, analysis.explanations[0], answer_with, model=model, opacity=opacity)
            return analysis, body

        analysis, body = await state.run(plan, work, what=f"the {name} explanation")
        result = analysis.explanations[0]
        state.metrics.inference.labels(name).observe(result.explain_ms / 1000)
        headers = {
            "X-Explained-Target": result.target,
            "X-Predicted-Label": analysis.prediction.label,
            "X-Explanation-Cache": "hit" if result.cached else "miss",
            "X-In-Distribution": str(analysis.prediction.input_check.in_distribution).lower(),
            **evidence_headers(result.evidence),
        }
        if answer_with != JSON:
            return Response(body, media_type=answer_with, headers=headers)
        return json_answer(analysis, body, model=model, request_id=request.state.request_id, started=started)

    return router


def evidence_headers(check: EvidenceCheck | None) -> dict[str, str]:
    """The evidence check as headers of an image answer (none when there is no check)."""
    if check is None:
        return {}
    return {
        "X-Evidence-Verdict": check.verdict,
        "X-Evidence-Probability-Before": f"{check.probability_before:.4f}",
        "X-Evidence-Probability-After": f"{check.probability_after:.4f}",
        "X-Evidence-Control-Probability-After": f"{check.control_probability_after:.4f}",
        "X-Evidence-Region-Share": f"{check.region_share:.4f}",
    }


def json_answer(
    analysis: Analysis, raw_map: bytes, *, model: ModelRef, request_id: str, started: float
) -> ExplainResponse:
    """The JSON form of an explanation: scores, the method and its parameters, the raw map and its summary."""
    result = analysis.explanations[0]
    summary = HeatmapSummary.model_validate(heatmap_summary(result.heatmap))
    return ExplainResponse(
        label=analysis.prediction.label,
        probabilities=analysis.prediction.probabilities,
        target=result.target,
        input_check=analysis.prediction.input_check,
        method=result.method,
        parameters=result.parameters,
        heatmap=Heatmap(png_base64=base64.b64encode(raw_map).decode(), summary=summary),
        evidence_check=result.evidence,
        model=model,
        request_id=request_id,
        timing=timing(analysis, started),
    )
