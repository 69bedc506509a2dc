"""The DICOM results of a series analysis: one TID 1500 report, the key slices' Parametric Maps and, as an option
for viewers that show no parametric maps, their Secondary Captures.

Each result is a :class:`Result`: the dataset, its kind and the method of a map. Nothing is made for a series with
no accepted slice but the report saying that no slice was analysed, and why.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import highdicom as hd
import pydicom
from pydicom.uid import generate_uid

from mlcore.errors import ImageError
from service.analysis.series import SeriesAnalysis, SeriesSlice
from service.dicom.capture import secondary_capture
from service.dicom.mend import mended_source
from service.dicom.parametric_map import parametric_map
from service.dicom.report import ReportedFinding, measurement_report
from service.schemas import ModelRef

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """One result object: ``kind`` structured_report, parametric_map or secondary_capture; the map's method."""

    dataset: pydicom.Dataset
    kind: str
    method: str | None = None


def _frames(item: SeriesSlice) -> tuple[int, ...] | None:
    return None if item.frame is None else (item.frame + 1,)


def reported_findings(analysis: SeriesAnalysis) -> list[ReportedFinding]:
    """The report's groups: the series finding (when any), then each slice, classified or refused."""
    findings: list[ReportedFinding] = []
    if analysis.finding is not None:
        deciding = [analysis.slices[i] for i in analysis.finding.deciding]
        findings.append(
            ReportedFinding(
                "series",
                tuple((item.dataset, _frames(item)) for item in deciding),
                label=analysis.finding.label,
                probability=analysis.finding.probability,
            )
        )
    explained = dict(analysis.key_slices)
    for index, item in enumerate(analysis.slices):
        if item.prediction is not None:
            probability = item.prediction.probabilities[item.prediction.label]
            key = explained.get(index)
            evidence = tuple(
                (e.method, e.evidence.verdict) for e in (key.explanations if key else ()) if e.evidence is not None
            )
            findings.append(
                ReportedFinding(
                    "slice", ((item.dataset, _frames(item)),), item.prediction.label, probability, evidence=evidence
                )
            )
        else:
            findings.append(
                ReportedFinding("slice", ((item.dataset, _frames(item)),), refused=item.refused, kind=item.kind)
            )
    return findings


def series_results(analysis: SeriesAnalysis, model: ModelRef, *, captures: bool = False) -> list[Result]:
    """The report, then a Parametric Map (and with ``captures`` a Secondary Capture) per key slice and method.

    A map that cannot be placed (a source without plane geometry) is left out and logged; the report is always made.
    """
    evidence, unusable = [], set()
    for dataset in _instances(analysis):
        try:
            evidence.append(mended_source(dataset))
        except ImageError as exc:  # a UID that cannot be referenced: the report leaves that instance out
            log.warning("instance %s left out of the report: %s", dataset.get("SOPInstanceUID"), exc.message)
            unusable.add(str(dataset.get("SOPInstanceUID")))
    if not evidence:
        raise ImageError("no instance of the series can be referenced by a report (their UIDs are not valid)")
    findings = [_without(finding, unusable) for finding in reported_findings(analysis)]
    described = "AI series classification" if analysis.finding is not None else "AI series not analysed"
    report = measurement_report([f for f in findings if f.sources], evidence, model, description=described)
    results = [Result(report, "structured_report")]
    map_series = hd.UID()
    for number, (index, key) in enumerate(analysis.key_slices, start=1):
        item = analysis.slices[index]
        source = mended_source(key.image.dicom if key.image.dicom is not None else item.dataset)
        for explanation in key.explanations:
            method, target, frame = explanation.method, explanation.target, item.frame or 0
            try:
                pm = parametric_map(
                    source,
                    explanation.heatmap,
                    method=method,
                    target=target,
                    model=model,
                    frame=frame,
                    instance_number=number,
                    series_uid=map_series,
                )
                results.append(Result(pm, "parametric_map", method))
                if captures:
                    capture = secondary_capture(
                        source, key.image.pixels, explanation.heatmap, method=method, target=target, model=model,
                        frame=frame,
                    )  # fmt: skip
                    results.append(Result(capture, "secondary_capture", method))
            except Exception:  # one object that cannot be made never drops the report or the other maps
                log.exception("no %s map of slice %s", method, source.get("SOPInstanceUID"))
    return with_derived_uids(results, seed=f"{analysis.slices[0].dataset.SeriesInstanceUID}/{model.sha256}")


def _without(finding: ReportedFinding, unusable: set[str]) -> ReportedFinding:
    """The finding without the sources that cannot be referenced."""
    kept = tuple(source for source in finding.sources if str(source[0].get("SOPInstanceUID")) not in unusable)
    return finding if len(kept) == len(finding.sources) else dataclasses.replace(finding, sources=kept)


def _instances(analysis: SeriesAnalysis) -> list[pydicom.Dataset]:
    """The series' instances, each once, in slice order (an instance of several frames is one instance)."""
    return list({str(item.dataset.SOPInstanceUID): item.dataset for item in analysis.slices}.values())


def with_derived_uids(results: list[Result], *, seed: str) -> list[Result]:
    """The results with Series and SOP Instance UIDs derived from ``seed`` (the source series and the model): the same
    series analysed again — after a crash, a retry — gives objects with the same UIDs, which a PACS stores once."""
    for position, result in enumerate(results):
        dataset = result.dataset
        series = generate_uid(entropy_srcs=[seed, result.kind])
        instance = generate_uid(entropy_srcs=[seed, result.kind, str(result.method), str(position)])
        dataset.SeriesInstanceUID, dataset.SOPInstanceUID = series, instance
        if getattr(dataset, "file_meta", None) is not None:
            dataset.file_meta.MediaStorageSOPInstanceUID = instance
    return results
