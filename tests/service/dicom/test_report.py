"""The TID 1500 report: standard codes for findings and probabilities, refusals named, conformant."""

from __future__ import annotations

import highdicom as hd

from service.dicom.report import ReportedFinding, measurement_report, structured_report
from service.schemas import ModelRef
from tests.dicom_peers import dciodvfy_errors, needs_dciodvfy
from tests.dicom_series import mr_series

MODEL = ModelRef(name="brainxai-cnn", version="9.9.9", sha256="0" * 64)


def _codes(report: hd.sr.ComprehensiveSR) -> set[tuple[str, str]]:
    return {
        (str(e.value), "") if e.keyword == "TextValue" else (str(e.value), "code")
        for e in report.iterall()
        if e.keyword in ("CodeValue", "TextValue")
    }


@needs_dciodvfy
def test_findings_refusals_and_the_algorithm_are_coded_and_conformant() -> None:
    series = mr_series("glioma", 3)
    findings = [
        ReportedFinding("series", ((series[0], None), (series[1], None)), label="meningioma", probability=0.9),
        ReportedFinding("slice", ((series[0], None),), label="meningioma", probability=0.95),
        ReportedFinding("slice", ((series[1], None),), label="notumor", probability=0.6),
        ReportedFinding("slice", ((series[2], None),), refused="unlike the training images", kind="content"),
    ]
    report = measurement_report(findings, series, MODEL, description="AI series classification")
    assert dciodvfy_errors(report) == []
    values = {value for value, _ in _codes(report)}
    assert {"393566004", "108369006", "52101004", "272519000", "122157", "373098007", "NA-CONTENT"} <= values
    assert any("unlike the training images" in value for value in values)
    assert "9.9.9" in values  # the algorithm version
    parsed = hd.sr.ComprehensiveSR.from_dataset(report)
    assert len(parsed.content.get_image_measurement_groups()) == 4


@needs_dciodvfy
def test_an_instance_report_gives_its_finding_and_probability() -> None:
    source = mr_series("pituitary", 1)[0]
    report = structured_report(source, "pituitary", {"pituitary": 0.8, "notumor": 0.2}, MODEL)
    assert dciodvfy_errors(report) == []
    values = {value for value, _ in _codes(report)}
    assert "254956000" in values and "0.8" in {str(e.value) for e in report.iterall() if e.keyword == "NumericValue"}


@needs_dciodvfy
def test_a_slices_evidence_checks_are_coded_per_method_and_conformant() -> None:
    series = mr_series("glioma", 1)
    evidence = (("gradcam", "depends"), ("lime", "does_not_depend"))
    finding = ReportedFinding("slice", ((series[0], None),), label="glioma", probability=0.9, evidence=evidence)
    report = measurement_report([finding], series, MODEL, description="AI series classification")
    assert dciodvfy_errors(report) == []
    values = {value for value, _ in _codes(report)}
    assert {"EVIDENCE-GRADCAM", "DEPENDS", "EVIDENCE-LIME", "INDEPENDENT"} <= values
    assert "INCONCLUSIVE" not in values


def test_each_groups_codes_are_its_findings_class() -> None:
    """Read back per group: Neoplasm Present for a tumour class, Absent for notumor, and the tumour's own SNOMED CT
    code — not merely every code somewhere in the report (a swapped Present/Absent would pass that)."""
    from service.dicom.report import ABSENT, NEOPLASM, PRESENT, TUMOUR_CODES

    labels = ["glioma", "notumor", "pituitary", "meningioma"]
    series = mr_series("glioma", len(labels))
    findings = [
        ReportedFinding("slice", ((dataset, None),), label=label, probability=0.9)
        for dataset, label in zip(series, labels, strict=True)
    ]
    report = hd.sr.ComprehensiveSR.from_dataset(measurement_report(findings, series, MODEL, description="x"))
    groups = report.content.get_image_measurement_groups()
    assert len(groups) == len(labels)
    for group, label in zip(groups, labels, strict=True):
        [neoplasm] = group.get_qualitative_evaluations(name=NEOPLASM)
        assert neoplasm.value == (ABSENT if label == "notumor" else PRESENT), label
        codes_here = {str(element.value) for element in group[0].iterall() if element.keyword == "CodeValue"}
        others = {code.value for name, code in TUMOUR_CODES.items() if name != label}
        assert not codes_here & others, label
        if label != "notumor":
            assert TUMOUR_CODES[label].value in codes_here, label
