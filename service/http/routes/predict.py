"""``POST /predict``: class probabilities of one image (JSON, or a DICOM Structured Report)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from service.analysis.pipeline import Analysis, AnalysisRequest
from service.analysis.results import JSON, report_bytes
from service.dicom.reading import DICOM
from service.http.problems import problem_responses
from service.http.routes.common import FrameQuery, negotiate, timing
from service.http.state import AnalyserDep, StateDep, require_api_key
from service.http.upload import read_upload
from service.schemas import IMAGE_BODY, PredictResponse

router = APIRouter(tags=["inference"], dependencies=[Depends(require_api_key)])

RESPONSES: dict[int | str, dict[str, Any]] = {
    **problem_responses(400, 401, 406, 413, 415, 422, 503),
    200: {
        "description": "The probabilities (JSON) or, with Accept: application/dicom (DICOM input only), a "
        "Comprehensive SR of the classification that references the input instance",
        "content": {DICOM: {"schema": {"type": "string", "format": "binary"}}},
    },
}


@router.post(
    "/predict",
    operation_id="predict",
    summary="Classify an MRI slice",
    response_model=PredictResponse,
    responses=RESPONSES,
    openapi_extra=IMAGE_BODY,
)
async def predict(
    request: Request, state: StateDep, analyser: AnalyserDep, frame: FrameQuery = None
) -> PredictResponse | Response:
    """Probabilities of every class for one image (PNG, JPEG or DICOM)."""
    started = time.perf_counter()
    answer_with = negotiate(request.headers.get("accept"), (JSON, DICOM), "/predict")
    plan = analyser.plan(AnalysisRequest(frame=frame, dicom_result=answer_with == DICOM))
    upload = await read_upload(request, state.settings.max_upload_bytes)
    model = analyser.model_ref()

    def work(deadline: float) -> tuple[Analysis, bytes | None]:
        analysis = analyser.analyse(upload, plan, deadline=deadline)
        return analysis, report_bytes(analysis, model) if answer_with == DICOM else None

    analysis, report = await state.run(plan, work, what="the prediction")
    state.metrics.inference.labels("predict").observe(analysis.prediction.inference_ms / 1000)
    if report is not None:
        return Response(report, media_type=DICOM)
    return PredictResponse(
        label=analysis.prediction.label,
        probabilities=analysis.prediction.probabilities,
        input_check=analysis.prediction.input_check,
        model=model,
        request_id=request.state.request_id,
        timing=timing(analysis, started),
    )
