"""The result objects of a series analysis: one report, a map (and optionally a capture) per key slice and method."""

from __future__ import annotations

from typing import Any

from service.analysis.series import analyse_series
from service.analysis.series_results import reported_findings, series_results
from tests.dicom_series import mr_series, other_body_part_series


def test_a_series_gives_a_report_and_maps_in_one_map_series(shipped_analyser: Any) -> None:
    analysis = analyse_series(shipped_analyser, mr_series("glioma", 6), methods={"gradcam": {}}, key_slices=2)
    results = series_results(analysis, shipped_analyser.model_ref(), captures=True)
    assert [r.kind for r in results] == ["structured_report"] + ["parametric_map", "secondary_capture"] * 2
    maps = [r.dataset for r in results if r.kind == "parametric_map"]
    assert maps[0].SeriesInstanceUID == maps[1].SeriesInstanceUID and [m.InstanceNumber for m in maps] == [1, 2]
    findings = reported_findings(analysis)
    assert [f.what for f in findings] == ["series"] + ["slice"] * 6
    keys = {index for index, _ in analysis.key_slices}  # the key slices' maps carry their evidence checks
    assert [bool(f.evidence) for f in findings[1:]] == [index in keys for index in range(6)]
    assert all(method == "gradcam" for f in findings[1:] for method, _ in f.evidence)
    assert findings[0].label == "glioma" and len(findings[0].sources) == len(analysis.finding.deciding)  # type: ignore[union-attr]


def test_a_series_with_no_accepted_slice_gives_only_a_report(shipped_analyser: Any) -> None:
    analysis = analyse_series(shipped_analyser, other_body_part_series(2), methods={"gradcam": {}})
    [report] = series_results(analysis, shipped_analyser.model_ref())
    assert report.kind == "structured_report" and "not analysed" in report.dataset.SeriesDescription
    assert [f.refused for f in reported_findings(analysis)] == [
        "the DICOM tags name another body part than the head (BodyPartExamined 'SHOULDER')"
    ] * 2


def test_slices_without_plane_geometry_get_no_map_but_the_report_is_made(shipped_analyser: Any) -> None:
    series = mr_series("meningioma", 4)
    for dataset in series:
        del dataset.PixelSpacing  # no complete plane: no Parametric Map can be placed
    analysis = analyse_series(shipped_analyser, series, methods={"gradcam": {}}, key_slices=2)
    results = series_results(analysis, shipped_analyser.model_ref())
    assert [r.kind for r in results] == ["structured_report"] and analysis.finding is not None


def test_the_same_series_analysed_again_gives_the_same_result_uids(shipped_analyser: Any) -> None:
    """Derived from the source series and the model: a re-analysis (a retry, a restart) replaces the objects in the
    PACS instead of adding copies; another series gets its own."""
    series = mr_series("meningioma", 3)

    def uids(datasets: list[Any]) -> list[tuple[str, str]]:
        analysis = analyse_series(shipped_analyser, datasets, methods={"gradcam": {}}, key_slices=1)
        return [(str(r.dataset.SeriesInstanceUID), str(r.dataset.SOPInstanceUID)) for r in series_results(
            analysis, shipped_analyser.model_ref())]  # fmt: skip

    first = uids(series)
    assert uids(series) == first and len({sop for _, sop in first}) == len(first) == 2
    other = uids(mr_series("meningioma", 3))
    assert not {sop for _, sop in other} & {sop for _, sop in first}
