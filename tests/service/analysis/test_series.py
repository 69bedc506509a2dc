"""Series analysis: every slice through the pipeline, the series rule, the key slices."""

from __future__ import annotations

from typing import Any

from mlcore.input_check.check import InputCheck
from service.analysis.pipeline import Prediction
from service.analysis.series import SeriesSlice, analyse_series, frames_of, series_finding
from service.dicom.reading import body_part_reason
from tests.dicom_series import enhanced_series, mr_series, other_body_part_series, photograph_series

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def _slice(label: str, p: float) -> SeriesSlice:
    rest = (1 - p) / 3
    probabilities = {name: p if name == label else rest for name in CLASSES}
    prediction = Prediction(probabilities, label, 1.0, InputCheck(in_distribution=True, score=1.0, threshold=2.0))
    return SeriesSlice(mr_series("glioma", 1)[0], None, prediction=prediction)


def _refused() -> SeriesSlice:
    return SeriesSlice(mr_series("glioma", 1)[0], None, refused="unlike", kind="content")


def test_the_series_rule() -> None:
    # Two tumour slices among many without: a tumour finding, from the tumour slices only.
    slices = [_slice("notumor", 0.99)] * 10 + [_slice("glioma", 0.9), _slice("glioma", 0.7), _refused()]
    finding = series_finding(slices, CLASSES)
    assert finding is not None and finding.label == "glioma" and finding.deciding == (10, 11)
    assert abs(finding.probability - 0.8) < 1e-9
    # One stray tumour slice is not enough.
    lone = series_finding([_slice("notumor", 0.95)] * 5 + [_slice("pituitary", 0.9)], CLASSES)
    assert lone is not None and lone.label == "notumor" and len(lone.deciding) == 6
    # A single accepted slice decides alone; no accepted slice, no finding.
    single = series_finding([_slice("meningioma", 0.8), _refused()], CLASSES)
    assert single is not None and single.label == "meningioma"
    assert series_finding([_refused(), _refused()], CLASSES) is None


def test_slices_are_ordered_in_space_and_frames_are_slices() -> None:
    series = mr_series("glioma", 4)
    assert [d.InstanceNumber for d, _ in frames_of(list(reversed(series)))] == [1, 2, 3, 4]
    assert [frame for _, frame in frames_of([enhanced_series("glioma", 3)])] == [0, 1, 2]
    assert body_part_reason(series[0]) is None
    assert "BodyPartExamined 'SHOULDER'" in str(body_part_reason(other_body_part_series(1)[0]))


def test_a_brain_series_gets_its_finding_and_explained_key_slices(shipped_analyser: Any) -> None:
    analysis = analyse_series(shipped_analyser, mr_series("pituitary", 8), methods={"gradcam": {}}, key_slices=2)
    assert analysis.accepted == 8 and analysis.refused == 0
    assert analysis.finding is not None and analysis.finding.label == "pituitary"
    assert len(analysis.key_slices) == 2
    for index, key in analysis.key_slices:
        assert index in analysis.finding.deciding
        assert key.explanations[0].method == "gradcam" and key.explanations[0].target == "pituitary"
        assert key.explanations[0].heatmap.shape == (256, 256)


def test_slices_unlike_brain_mri_are_refused_by_content_not_only_by_tags(shipped_analyser: Any) -> None:
    """A photograph stored as MR slices tagged BRAIN: the input check refuses it by its content. (pydicom's abdominal MR
    slice is not a case any more: 3.0.0's input check, which must accept another collection's brain slices, answers it;
    docs/INPUT_CHECK.md, What it misses.)"""
    photographs = photograph_series(3)  # the tags lie; the input check still refuses
    analysis = analyse_series(shipped_analyser, photographs, methods={"gradcam": {}})
    assert analysis.finding is None and analysis.accepted == 0 and analysis.key_slices == ()
    assert {item.kind for item in analysis.slices} == {"content"}
    broken = mr_series("glioma", 1)[0]
    broken.PhotometricInterpretation = "RGB"
    [unreadable] = analyse_series(shipped_analyser, [broken], methods={}).slices
    assert unreadable.kind == "unreadable" and "photometric" in str(unreadable.refused)
