"""``POST /v1/dicomweb/analyze``: fetch an instance (or a whole series) from the PACS, analyse it, store the results.

Steps: fetch (WADO-RS) → the one analysis (one prediction, every asked method) → a Structured Report
and one Secondary Capture per method → store each (STOW-RS). Without an instance UID the series is analysed
(:mod:`service.analysis.series`) and its report and key-slice Parametric Maps are stored. A failure names its step. When
storing fails part-way, the problem answer lists every result with ``stored`` true or false, so nothing is
lost silently.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from service.analysis.pipeline import Analyser, Analysis, AnalysisRequest, Plan
from service.analysis.series import SeriesAnalysis, analyse_series
from service.analysis.series_results import Result, series_results
from service.dicom.capture import dicom_source, secondary_capture
from service.dicom.dicomweb import Pacs
from service.dicom.report import structured_report
from service.errors import NotConfigured, PacsError
from service.http.problems import problem_responses
from service.http.state import AnalyserDep, AppState, StateDep, require_api_key
from service.schemas import AnalyzeRequest, AnalyzeResponse, RefusedSlice, SeriesSummary, StoredResult
from service.settings import Settings

router = APIRouter(tags=["pacs"], dependencies=[Depends(require_api_key)])

RESPONSES: dict[int | str, dict[str, Any]] = problem_responses(401, 404, 406, 413, 422, 502, 503, 504)


def pacs_of(settings: Settings) -> Pacs:
    """The configured PACS client; :class:`NotConfigured` when ``BRAINXAI_DICOMWEB_URL`` is not set."""
    if not settings.dicomweb_url:
        raise NotConfigured("no PACS is configured on this server (BRAINXAI_DICOMWEB_URL)")
    return Pacs(
        settings.dicomweb_url, settings.dicomweb_timeout_s, settings.dicomweb_username, settings.dicomweb_password
    )


def results_of(analysis: Analysis, analyser: Analyser) -> list[Result]:
    """The DICOM results of an analysis: its report, then one capture per explanation (kind and method named)."""
    source, model = dicom_source(analysis.image), analyser.model_ref()
    prediction = analysis.prediction
    report = structured_report(source, prediction.label, prediction.probabilities, model)
    results = [Result(report, "structured_report")]
    for explanation in analysis.explanations:
        capture = secondary_capture(
            source,
            analysis.image.pixels,
            explanation.heatmap,
            method=explanation.method,
            target=explanation.target,
            model=model,
            frame=int(analysis.image.source.get("frame", 0)),
        )
        results.append(Result(capture, "secondary_capture", explanation.method))
    return results


async def store_all(pacs: Pacs, results: list[Result]) -> list[StoredResult]:
    """Store each result in order; a failure lists every result, stored or not, in its ``results``."""
    stored: list[StoredResult] = []
    for index, result in enumerate(results):
        try:
            await run_in_threadpool(pacs.store, result.dataset)
        except PacsError as exc:
            listing = stored + [_stored(item, stored=False) for item in results[index:]]
            exc.extra["results"] = [entry.model_dump() for entry in listing]
            exc.append(f"; stored {len(stored)} of {len(results)} results (see results)")
            raise
        stored.append(_stored(result, stored=True))
    return stored


@router.post(
    "/v1/dicomweb/analyze",
    operation_id="analyze_pacs_instance",
    summary="Analyse an instance of the PACS and store the results back in its study",
    response_model=AnalyzeResponse,
    responses=RESPONSES,
)
async def analyze(request: Request, body: AnalyzeRequest, state: StateDep, analyser: AnalyserDep) -> AnalyzeResponse:
    """Fetch (WADO-RS), classify and explain, then store a Structured Report and Secondary Captures (STOW-RS)."""
    methods: dict[str, dict[str, Any]] = {method: {} for method in body.methods}  # each method once, in the order asked
    plan = analyser.plan(AnalysisRequest(methods=methods, frame=body.frame, dicom_result=True))
    pacs = pacs_of(state.settings)
    if body.sop_instance_uid is None:
        return await analyze_series(request, body, state, analyser, plan=plan, pacs=pacs)
    dataset = await run_in_threadpool(
        pacs.fetch, body.study_instance_uid, body.series_instance_uid, body.sop_instance_uid
    )

    def work(deadline: float) -> tuple[Analysis, list[Result]]:
        analysis = analyser.analyse(dataset, plan, deadline=deadline)
        return analysis, results_of(analysis, analyser)

    analysis, results = await state.run(plan, work, what="the PACS analysis")
    return AnalyzeResponse(
        label=analysis.prediction.label,
        probabilities=analysis.prediction.probabilities,
        input_check=analysis.prediction.input_check,
        study_instance_uid=body.study_instance_uid,
        results=await store_all(pacs, results),
        model=analyser.model_ref(),
        request_id=request.state.request_id,
    )


def _stored(result: Result, *, stored: bool) -> StoredResult:
    return StoredResult(
        kind=result.kind,
        method=result.method,
        series_instance_uid=str(result.dataset.SeriesInstanceUID),
        sop_instance_uid=str(result.dataset.SOPInstanceUID),
        stored=stored,
    )


async def analyze_series(
    request: Request, body: AnalyzeRequest, state: AppState, analyser: Analyser, *, plan: Plan, pacs: Pacs
) -> AnalyzeResponse:
    """A whole series: fetched, every slice analysed (service.analysis.series), the report and key-slice maps stored."""
    datasets = await run_in_threadpool(pacs.fetch_series, body.study_instance_uid, body.series_instance_uid)
    methods, key_slices = plan.request.methods, state.settings.dimse_key_slices

    def work(deadline: float) -> tuple[SeriesAnalysis, list[Result]]:
        analysis = analyse_series(analyser, datasets, methods=methods, key_slices=key_slices)
        return analysis, series_results(analysis, analyser.model_ref())

    analysis, results = await state.run(plan, work, what="the PACS series analysis")
    finding = analysis.finding
    return AnalyzeResponse(
        label=finding.label if finding else None,
        probabilities=finding.probabilities if finding else {},
        series=series_summary(analysis),
        study_instance_uid=body.study_instance_uid,
        results=await store_all(pacs, results),
        model=analyser.model_ref(),
        request_id=request.state.request_id,
    )


def series_summary(analysis: SeriesAnalysis) -> SeriesSummary:
    """The JSON summary of a series analysis."""
    refused = [
        RefusedSlice(
            sop_instance_uid=str(item.dataset.SOPInstanceUID),
            frame=item.frame,
            kind=item.kind or "content",
            reason=item.refused or "",
        )
        for item in analysis.slices
        if item.prediction is None
    ]
    keys = [str(analysis.slices[index].dataset.SOPInstanceUID) for index, _ in analysis.key_slices]
    return SeriesSummary(slices=len(analysis.slices), accepted=analysis.accepted, refused=refused, key_slices=keys)
