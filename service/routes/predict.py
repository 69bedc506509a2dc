"""``POST /predict``: class probabilities of one image."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service.decoding import decode
from service.dicom_out import DICOM, dicom_source, structured_report, to_bytes
from service.image import DecodedImage
from service.inference import Prediction
from service.routes.common import decode_options, model_ref, negotiate
from service.schemas import IMAGE_BODY, PROBLEM_RESPONSES, PredictResponse, Timing
from service.state import PredictorDep, StateDep, require_api_key
from service.upload import read_upload

router = APIRouter(tags=["inference"], dependencies=[Depends(require_api_key)])


@router.post(
    "/predict",
    operation_id="predict",
    summary="Classify an MRI slice",
    response_model=PredictResponse,
    responses={
        **PROBLEM_RESPONSES,
        200: {
            "description": "The probabilities (JSON) or, with Accept: application/dicom (DICOM input only), a "
            "Comprehensive SR of the classification that references the input instance",
            "content": {DICOM: {"schema": {"type": "string", "format": "binary"}}},
        },
        406: PROBLEM_RESPONSES[415] | {"description": "Accept names no type /predict can give"},
    },
    openapi_extra=IMAGE_BODY,
)
async def predict(
    request: Request,
    state: StateDep,
    predictor: PredictorDep,
    frame: Annotated[
        int | None, Query(ge=0, le=100_000, description="frame of a multi-frame DICOM (default: the middle one)")
    ] = None,
) -> PredictResponse | Response:
    """Probabilities of every class for one image (PNG, JPEG or DICOM)."""
    started = time.perf_counter()
    answer_with = negotiate(request.headers.get("accept"), ("application/json", DICOM), "/predict")
    upload = await read_upload(request, state.settings.max_upload_bytes)
    async with state.limiters["predict"].slot():

        def work() -> tuple[Prediction, DecodedImage, float]:
            decode_started = time.perf_counter()
            image = decode(upload.data, upload.content_type, decode_options(state.settings, frame))
            if answer_with == DICOM:
                dicom_source(image)  # refuse before the work, not after
            decode_ms = (time.perf_counter() - decode_started) * 1000
            return predictor.predict(image), image, decode_ms

        prediction, image, decode_ms = await run_in_threadpool(work)
    state.metrics.inference.labels("predict").observe(prediction.inference_ms / 1000)
    if answer_with == DICOM:
        report = await run_in_threadpool(
            structured_report, dicom_source(image), prediction.label, prediction.probabilities, model_ref(predictor)
        )
        return Response(to_bytes(report), media_type=DICOM)
    return PredictResponse(
        label=prediction.label,
        probabilities=prediction.probabilities,
        model=model_ref(predictor),
        request_id=request.state.request_id,
        timing=Timing(
            decode_ms=round(decode_ms, 3),
            inference_ms=round(prediction.inference_ms, 3),
            total_ms=round((time.perf_counter() - started) * 1000, 3),
        ),
    )
