"""The findings as a TID 1500 Measurement Report (Comprehensive SR), coded with standard codes.

One measurement group per finding: the series finding (its probability the mean over the slices the series rule
used), each classified slice's finding and probability, each slice not analysed and why. Every group names the
algorithm (name, version) and references its source instance (and frame). Codes:

- tumour present or absent: SNOMED CT 108369006 "Neoplasm" = 52101004 "Present" / 272519000 "Absent";
- the tumour type: DCM 121071 "Finding" = SNOMED CT 393564001 "Glioma", 393566004 "Meningioma",
  254956000 "Pituitary adenoma" (the dataset's "pituitary tumour": nearly all are adenomas);
- the probability: DCM 122157 "Probability", UCUM "1"; the series' is derived as SNOMED CT 373098007 "Mean";
- a slice not analysed: DCM 121071 "Finding" = a code of the private scheme ``99BRAINXAI`` naming the kind of
  refusal (no standard code says "outside this model's domain"), the reason in its tracking identifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import pydicom
from pydicom.sr.codedict import codes

from service.dicom.mend import carry_character_set
from service.schemas import ModelRef

MANUFACTURER = "brainxai"
REPORT_SERIES_NUMBER = 9702
PRIVATE_SCHEME = "99BRAINXAI"
UNITY = hd.sr.CodedConcept("1", "UCUM", "no units")
NEOPLASM = hd.sr.CodedConcept("108369006", "SCT", "Neoplasm")
PRESENT = hd.sr.CodedConcept("52101004", "SCT", "Present")
ABSENT = hd.sr.CodedConcept("272519000", "SCT", "Absent")
TUMOUR_CODES = {
    "glioma": hd.sr.CodedConcept("393564001", "SCT", "Glioma"),
    "meningioma": hd.sr.CodedConcept("393566004", "SCT", "Meningioma"),
    "pituitary": hd.sr.CodedConcept("254956000", "SCT", "Pituitary adenoma"),
}
PROBABILITY = hd.sr.CodedConcept("122157", "DCM", "Probability")
MEAN = hd.sr.CodedConcept("373098007", "SCT", "Mean")


@dataclass(frozen=True)
class ReportedFinding:
    """One group of the report: a finding (``label`` and its ``probability``) or a refusal (``refused`` says why,
    ``kind`` its kind) about ``sources`` (datasets, each with its 1-based frame numbers or None)."""

    what: str  # "series" or "slice"
    sources: tuple[tuple[pydicom.Dataset, tuple[int, ...] | None], ...]
    label: str | None = None
    probability: float | None = None
    refused: str | None = None
    kind: str | None = None
    evidence: tuple[tuple[str, str], ...] = ()  # (method, verdict) of the evidence checks of this slice's maps


# The evidence check's verdicts (mlcore.evidence): does the finding depend on the region the map marks?
EVIDENCE_VERDICTS = {
    "depends": hd.sr.CodedConcept("DEPENDS", PRIVATE_SCHEME, "Finding depends on the highlighted region"),
    "does_not_depend": hd.sr.CodedConcept("INDEPENDENT", PRIVATE_SCHEME, "Finding does not depend on the region"),
    "inconclusive": hd.sr.CodedConcept("INCONCLUSIVE", PRIVATE_SCHEME, "Evidence check inconclusive (control moved)"),
}


def long_string(text: str) -> str:
    """Text cut to the 64 characters of DICOM's LO value representation."""
    return text[:64]


def _evaluations(finding: ReportedFinding) -> list[hd.sr.QualitativeEvaluation]:
    if finding.refused is not None:
        kind = (finding.kind or "unreadable").upper()
        value = hd.sr.CodedConcept(f"NA-{kind}", PRIVATE_SCHEME, f"Not analysed: {finding.kind} input")
        return [hd.sr.QualitativeEvaluation(codes.DCM.Finding, value)]
    tumour = TUMOUR_CODES.get(str(finding.label))
    evaluations = [hd.sr.QualitativeEvaluation(NEOPLASM, PRESENT if tumour is not None else ABSENT)]
    if tumour is not None:
        evaluations.append(hd.sr.QualitativeEvaluation(codes.DCM.Finding, tumour))
    for method, verdict in finding.evidence:
        name = hd.sr.CodedConcept(f"EVIDENCE-{method.upper()}", PRIVATE_SCHEME, f"Evidence check of the {method} map")
        evaluations.append(hd.sr.QualitativeEvaluation(name, EVIDENCE_VERDICTS[verdict]))
    return evaluations


def _group(finding: ReportedFinding, index: int, model: ModelRef) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    if finding.refused is not None:
        identifier = f"{finding.what} {index} not analysed: {finding.refused}"
    else:
        identifier = f"{finding.what} {index}: {finding.label}"
    measurements = []
    if finding.probability is not None:
        measurements.append(
            hd.sr.Measurement(
                name=PROBABILITY,
                value=round(float(finding.probability), 6),
                unit=UNITY,
                derivation=MEAN if finding.what == "series" else None,
            )
        )
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=identifier),
        source_images=[
            hd.sr.SourceImageForMeasurementGroup.from_source_image(
                source, referenced_frame_numbers=list(frames) if frames else None
            )
            for source, frames in finding.sources
        ],
        algorithm_id=hd.sr.AlgorithmIdentification(name=model.name, version=model.version),
        qualitative_evaluations=_evaluations(finding),
        measurements=measurements or None,
    )


def measurement_report(
    findings: Sequence[ReportedFinding], evidence: Sequence[pydicom.Dataset], model: ModelRef, *, description: str
) -> pydicom.Dataset:
    """A Comprehensive SR (TID 1500) with one group per finding, in the study of ``evidence`` (the source
    instances, listed as its evidence; mended headers, :func:`service.dicom.mend.mended_source`)."""
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=MANUFACTURER, model_name=long_string(f"{model.name} {model.version}")
        ),
    )
    counters = {"series": 0, "slice": 0}
    groups = []
    for finding in findings:
        counters[finding.what] += 1
        groups.append(_group(finding, counters[finding.what], model))
    content = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.BrainMRI,
        imaging_measurements=groups,
    )
    report = hd.sr.ComprehensiveSR(
        evidence=list(evidence),
        content=content[0],
        series_instance_uid=hd.UID(),
        series_number=REPORT_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        series_description=long_string(f"{description} - {model.name} {model.version}"),
    )
    carry_character_set(report, evidence[0])
    return report


def structured_report(
    source: pydicom.Dataset, label: str, probabilities: dict[str, float], model: ModelRef
) -> pydicom.Dataset:
    """The classification of one instance as a TID 1500 report: its finding and that finding's probability."""
    finding = ReportedFinding("slice", ((source, None),), label=label, probability=probabilities[label])
    return measurement_report([finding], [source], model, description="AI classification")
