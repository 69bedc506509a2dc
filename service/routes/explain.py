"""``POST /explain``: a relevance map of one class for one image, as a PNG overlay or JSON."""

from __future__ import annotations

import base64
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from mlcore.render import heatmap_png, heatmap_summary, overlay_png
from service.decoding import decode
from service.dicom_out import DICOM, dicom_source, secondary_capture, to_bytes
from service.errors import InvalidParameter
from service.image import DecodedImage
from service.inference import Explanation
from service.limits import with_deadline
from service.routes.common import decode_options, model_ref, negotiate
from service.schemas import IMAGE_BODY, PROBLEM_RESPONSES, ExplainResponse, Heatmap, HeatmapSummary, Method, Timing
from service.state import PredictorDep, StateDep, require_api_key
from service.upload import read_upload

router = APIRouter(tags=["inference"], dependencies=[Depends(require_api_key)])

PNG, JSON = "image/png", "application/json"


@router.post(
    "/explain",
    operation_id="explain",
    summary="Explain a class's score as a heatmap",
    response_model=ExplainResponse,
    responses={
        **PROBLEM_RESPONSES,
        200: {
            "description": "The heatmap over the image (PNG, with a legend); with Accept: application/json, "
            "scores, parameters and the raw map; with Accept: application/dicom (DICOM input only), a Secondary "
            "Capture of the overlay in the input's study",
            "content": {
                PNG: {"schema": {"type": "string", "format": "binary"}},
                DICOM: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        406: PROBLEM_RESPONSES[415] | {"description": "Accept names no type /explain can give"},
    },
    openapi_extra=IMAGE_BODY,
)
async def explain(
    request: Request,
    state: StateDep,
    predictor: PredictorDep,
    method: Annotated[Method, Query(description="explanation method")] = Method.gradcam,
    target: Annotated[str | None, Query(description="class to explain (default: the predicted one)")] = None,
    num_samples: Annotated[int | None, Query(ge=50, le=5000, description="LIME: perturbed samples")] = None,
    seed: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="LIME: random seed")] = None,
    n_segments: Annotated[int | None, Query(ge=8, le=400, description="LIME: superpixels")] = None,
    compactness: Annotated[float | None, Query(gt=0, le=10, description="LIME: SLIC compactness")] = None,
    stability: Annotated[
        float | None,
        Query(
            ge=0,
            le=0.999,
            description="LIME: stop sampling once the superpixel weights' split-half reliability reaches this "
            "(0, the default: always num_samples)",
        ),
    ] = None,
    n_steps: Annotated[int | None, Query(ge=4, le=256, description="Integrated Gradients: path steps")] = None,
    smoothing: Annotated[float | None, Query(ge=0, le=16, description="Integrated Gradients: blur sigma")] = None,
    window: Annotated[int | None, Query(ge=4, le=96, description="Occlusion: patch side (model pixels)")] = None,
    stride: Annotated[int | None, Query(ge=2, le=48, description="Occlusion: patch step (model pixels)")] = None,
    opacity: Annotated[float, Query(ge=0, le=1, description="PNG: heatmap opacity over the image")] = 0.5,
    frame: Annotated[
        int | None, Query(ge=0, le=100_000, description="frame of a multi-frame DICOM (default: the middle one)")
    ] = None,
) -> Response | ExplainResponse:
    """Where the model looked: a relevance map of ``target`` for one image (PNG, JPEG or DICOM)."""
    started = time.perf_counter()
    answer_with = negotiate(request.headers.get("accept"), (PNG, JSON, DICOM), "/explain")
    given = {
        "num_samples": num_samples,
        "seed": seed,
        "n_segments": n_segments,
        "compactness": compactness,
        "stability": stability,
        "n_steps": n_steps,
        "smoothing": smoothing,
        "window": window,
        "stride": stride,
    }
    params: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
    if num_samples is not None and num_samples > state.settings.lime_max_samples:
        raise InvalidParameter(f"num_samples must be at most {state.settings.lime_max_samples} on this server")
    upload = await read_upload(request, state.settings.max_upload_bytes)
    limiter = state.limiters["explain" if method is Method.gradcam else "heavy_explain"]
    timeout = state.settings.explain_timeout_s
    async with limiter.slot():
        deadline = time.monotonic() + timeout

        def work() -> tuple[Explanation, float, bytes]:
            decode_started = time.perf_counter()
            image = decode(upload.data, upload.content_type, decode_options(state.settings, frame))
            if answer_with == DICOM:
                dicom_source(image)  # refuse before the work, not after
            decode_ms = (time.perf_counter() - decode_started) * 1000
            result = predictor.explain(image, method.value, target, params, deadline)
            return result, decode_ms, render(result, image)

        def render(result: Explanation, image: DecodedImage) -> bytes:
            """The answer's bytes, made on the same worker thread: DICOM capture, PNG overlay or the raw map."""
            if answer_with == DICOM:
                capture = secondary_capture(
                    dicom_source(image),
                    image.pixels,
                    result.heatmap,
                    result.method,
                    result.target,
                    model_ref(predictor),
                    opacity,
                )
                return to_bytes(capture)
            if answer_with == PNG:
                return overlay_png(image.pixels, result.heatmap, opacity, f"{result.method} · {result.target}")
            return heatmap_png(result.heatmap)

        result, decode_ms, body = await with_deadline(
            run_in_threadpool(work), timeout, f"the {method.value} explanation", lambda: state.metrics.reject("timeout")
        )
    state.metrics.inference.labels(method.value).observe(result.explain_ms / 1000)
    timing = Timing(
        decode_ms=round(decode_ms, 3),
        inference_ms=round(result.prediction.inference_ms, 3),
        explain_ms=round(result.explain_ms, 3),
        total_ms=round((time.perf_counter() - started) * 1000, 3),
    )
    headers = {
        "X-Explained-Target": result.target,
        "X-Predicted-Label": result.prediction.label,
        "X-Explanation-Cache": "hit" if result.cached else "miss",
    }
    if answer_with in (DICOM, PNG):
        return Response(body, media_type=answer_with, headers=headers)
    return ExplainResponse(
        label=result.prediction.label,
        probabilities=result.prediction.probabilities,
        target=result.target,
        method=result.method,
        parameters=result.parameters,
        heatmap=Heatmap(
            png_base64=base64.b64encode(body).decode(),
            summary=HeatmapSummary.model_validate(heatmap_summary(result.heatmap)),
        ),
        model=model_ref(predictor),
        request_id=request.state.request_id,
        timing=timing,
    )
