"""``POST /v1/dicomweb/analyze``: fetch an instance from the PACS, analyse it, store the results back.

Steps: fetch (WADO-RS) → decode → predict and explain → make a Structured Report and one Secondary
Capture per method → store each (STOW-RS). A failure names its step. When storing fails part-way,
the problem answer lists every result with ``stored`` true or false, so nothing is lost silently.
"""

from __future__ import annotations

import time
from typing import Any

import pydicom
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from service.dicom import decode_dataset
from service.dicom_out import dicom_source, secondary_capture, structured_report
from service.errors import NotConfigured, ServiceError
from service.inference import Explanation, Prediction, Predictor
from service.limits import with_deadline
from service.pacs import Pacs
from service.routes.common import decode_options, model_ref
from service.schemas import PROBLEM_RESPONSES, AnalyzeRequest, AnalyzeResponse, Method, StoredResult
from service.state import AppState, PredictorDep, StateDep, require_api_key

router = APIRouter(tags=["pacs"], dependencies=[Depends(require_api_key)])

GATEWAY_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: PROBLEM_RESPONSES[422] | {"description": "The PACS has no such instance"},
    502: PROBLEM_RESPONSES[422] | {"description": "The PACS is unreachable or refused a step (named in detail)"},
    504: PROBLEM_RESPONSES[422] | {"description": "The PACS did not answer in time (the step is named in detail)"},
}


def pacs_of(state: AppState) -> Pacs:
    """The configured PACS client, or 503 when ``BRAINXAI_DICOMWEB_URL`` is not set."""
    settings = state.settings
    if not settings.dicomweb_url:
        raise NotConfigured("no PACS is configured on this server (BRAINXAI_DICOMWEB_URL)")
    return Pacs(
        settings.dicomweb_url, settings.dicomweb_timeout_s, settings.dicomweb_username, settings.dicomweb_password
    )


def _analyse(
    predictor: Predictor, dataset: pydicom.Dataset, body: AnalyzeRequest, state: AppState, deadline: float
) -> tuple[Prediction, list[tuple[Explanation, pydicom.Dataset]], pydicom.Dataset]:
    image = decode_dataset(dataset, decode_options(state.settings, body.frame))
    source = dicom_source(image)
    prediction = predictor.predict(image)
    identity = model_ref(predictor)
    captures = []
    for method in dict.fromkeys(body.methods):  # each method once, in the order asked
        explanation = predictor.explain(image, method.value, None, {}, deadline)
        capture = secondary_capture(
            source, image.pixels, explanation.heatmap, explanation.method, explanation.target, identity
        )
        captures.append((explanation, capture))
    report = structured_report(source, prediction.label, prediction.probabilities, identity)
    return prediction, captures, report


@router.post(
    "/v1/dicomweb/analyze",
    operation_id="analyze_pacs_instance",
    summary="Analyse an instance of the PACS and store the results back in its study",
    response_model=AnalyzeResponse,
    responses={**PROBLEM_RESPONSES, **GATEWAY_RESPONSES},
)
async def analyze(request: Request, body: AnalyzeRequest, state: StateDep, predictor: PredictorDep) -> AnalyzeResponse:
    """Fetch (WADO-RS), classify and explain, then store a Structured Report and Secondary Captures (STOW-RS)."""
    pacs = pacs_of(state)
    dataset = await run_in_threadpool(
        pacs.fetch, body.study_instance_uid, body.series_instance_uid, body.sop_instance_uid
    )
    heavy = any(method is not Method.gradcam for method in body.methods)
    timeout = state.settings.explain_timeout_s
    async with state.limiters["heavy_explain" if heavy else "explain"].slot():
        deadline = time.monotonic() + timeout
        prediction, captures, report = await with_deadline(
            run_in_threadpool(_analyse, predictor, dataset, body, state, deadline),
            timeout,
            "the PACS analysis",
            lambda: state.metrics.reject("timeout"),
        )
    results = [(report, "structured_report", None)] + [
        (capture, "secondary_capture", explanation.method) for explanation, capture in captures
    ]
    stored: list[StoredResult] = []
    for index, (instance, kind, method) in enumerate(results):
        try:
            await run_in_threadpool(pacs.store, instance)
        except ServiceError as exc:
            listing = stored + [
                _result(item, item_kind, item_method, False) for item, item_kind, item_method in results[index:]
            ]
            exc.extra["results"] = [entry.model_dump() for entry in listing]
            exc.detail += f"; stored {len(stored)} of {len(results)} results (see results)"
            raise
        stored.append(_result(instance, kind, method, True))
    return AnalyzeResponse(
        label=prediction.label,
        probabilities=prediction.probabilities,
        study_instance_uid=body.study_instance_uid,
        results=stored,
        model=model_ref(predictor),
        request_id=request.state.request_id,
    )


def _result(instance: pydicom.Dataset, kind: str, method: str | None, stored: bool) -> StoredResult:
    return StoredResult(
        kind=kind,
        method=method,
        series_instance_uid=str(instance.SeriesInstanceUID),
        sop_instance_uid=str(instance.SOPInstanceUID),
        stored=stored,
    )
