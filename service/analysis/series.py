"""Series analysis: every slice of a DICOM series through the one pipeline, one finding for the series.

Each slice (an instance, or a frame of a multi-frame instance) goes through :meth:`Analyser.analyse` with a DICOM
answer in view, so the input check refuses what is not like a brain MRI slice (no class is given to it, whatever
the service's ood policy). A slice whose DICOM tags name another body part than the head
(:func:`service.dicom.reading.body_part_reason`) is refused before any model work, as a single instance is (unless the
server is told not to trust the tags). Refused slices are counted and listed with their reason, never classified.

The series rule (stated in docs/DICOM.md and tested):

- no slice accepted → no finding (the series is reported as not analysed);
- tumour when at least ``MIN_TUMOUR_SLICES`` accepted slices (or every accepted slice, when fewer are accepted)
  are answered as a tumour class: the finding is the tumour class with the highest mean calibrated probability over
  those tumour slices, and that mean is its probability. A tumour shows on a few slices of a series, so a mean over
  all slices would drown it; two slices, not one, so that one stray slice does not make a finding;
- else no tumour, with the mean probability of "notumor" over the accepted slices;
- key slices: the ``key_slices`` slices the finding rests on with the highest probability of the finding; they get
  the explanations asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom

from mlcore.errors import ImageError, OutOfDistribution
from service.analysis.pipeline import Analyser, Analysis, AnalysisRequest, Prediction
from service.dicom.reading import body_part_reason

NO_TUMOUR = "notumor"
MIN_TUMOUR_SLICES = 2


@dataclass(frozen=True)
class SeriesSlice:
    """One slice: its instance and frame (0-based; None for a single-frame instance), and either its prediction or
    why it was not analysed (``refused``, of ``kind`` content / colour / uniform / body-part / unreadable)."""

    dataset: pydicom.Dataset
    frame: int | None
    prediction: Prediction | None = None
    refused: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class SeriesFinding:
    """The series' finding, its probability, the per-class means it came from and the slices it rests on."""

    label: str
    probability: float
    probabilities: dict[str, float]
    deciding: tuple[int, ...]  # indices into the series' slices


@dataclass(frozen=True)
class SeriesAnalysis:
    """All slices in order, the finding (None when no slice was accepted) and the key slices' analyses."""

    slices: tuple[SeriesSlice, ...]
    finding: SeriesFinding | None
    key_slices: tuple[tuple[int, Analysis], ...]

    @property
    def accepted(self) -> int:
        return sum(item.prediction is not None for item in self.slices)

    @property
    def refused(self) -> int:
        return len(self.slices) - self.accepted


def frames_of(datasets: Sequence[pydicom.Dataset]) -> list[tuple[pydicom.Dataset, int | None]]:
    """The slices of a series: each frame of each instance, instances in spatial then instance order."""

    def order(dataset: pydicom.Dataset) -> tuple[float, int]:
        along, number = 0.0, 0
        try:  # a header's geometry or number may be anything: what cannot be read does not order
            position = dataset.get("ImagePositionPatient")
            orientation = dataset.get("ImageOrientationPatient")
            if position is not None and orientation is not None and len(orientation) == 6 and len(position) == 3:
                normal = np.cross(np.array(orientation[:3], float), np.array(orientation[3:], float))
                along = float(np.dot(normal, np.array(position, float)))
            number = int(dataset.get("InstanceNumber", 0) or 0)
        except (TypeError, ValueError, OverflowError):
            pass
        return (along if np.isfinite(along) else 0.0), number

    slices: list[tuple[pydicom.Dataset, int | None]] = []
    for dataset in sorted(datasets, key=order):
        frames = _frame_count(dataset)
        slices.extend((dataset, frame if frames > 1 else None) for frame in range(frames))
    return slices


def classify_slice(analyser: Analyser, dataset: pydicom.Dataset, frame: int | None) -> SeriesSlice:
    """One slice through the pipeline, its input check deciding; a slice that cannot be read is refused."""
    reason = body_part_reason(dataset) if analyser.trust_body_part else None
    if reason is not None:  # refused before any model work: the analysis would refuse it for the same reason
        return SeriesSlice(dataset, frame, refused=reason, kind="body-part")
    plan = analyser.plan(AnalysisRequest(frame=frame, dicom_result=True))
    try:
        analysis = analyser.analyse(dataset, plan)
    except OutOfDistribution as exc:
        return SeriesSlice(dataset, frame, refused=str(exc.check.reason), kind=exc.check.kind or "content")
    except ImageError as exc:
        return SeriesSlice(dataset, frame, refused=exc.message, kind="unreadable")
    return SeriesSlice(dataset, frame, prediction=analysis.prediction)


def _frame_count(dataset: pydicom.Dataset) -> int:
    try:
        return max(1, int(dataset.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def not_analysed(datasets: Sequence[pydicom.Dataset], reason: str) -> SeriesAnalysis:
    """A series none of whose slices was analysed, each refused as ``unreadable`` for ``reason``: what its report says
    when the analysis itself failed."""
    slices = tuple(
        SeriesSlice(dataset, frame, refused=reason, kind="unreadable") for dataset, frame in frames_of(datasets)
    )
    return SeriesAnalysis(slices, None, ())


def series_finding(slices: Sequence[SeriesSlice], classes: Sequence[str]) -> SeriesFinding | None:
    """The series rule (module docstring) over the accepted slices."""
    accepted = [i for i, item in enumerate(slices) if item.prediction is not None]
    if not accepted:
        return None
    tumour = [i for i in accepted if slices[i].prediction.label != NO_TUMOUR]  # type: ignore[union-attr]
    is_tumour = len(tumour) >= min(MIN_TUMOUR_SLICES, len(accepted))
    deciding = tumour if is_tumour else accepted
    means = {
        name: float(np.mean([slices[i].prediction.probabilities[name] for i in deciding]))  # type: ignore[union-attr]
        for name in classes
    }
    candidates = [name for name in classes if name != NO_TUMOUR] if is_tumour else [NO_TUMOUR]
    label = max(candidates, key=means.__getitem__)
    return SeriesFinding(label, means[label], means, tuple(deciding))


def analyse_series(
    analyser: Analyser,
    datasets: Sequence[pydicom.Dataset],
    *,
    methods: Mapping[str, Mapping[str, Any]],
    key_slices: int = 3,
) -> SeriesAnalysis:
    """Every slice of ``datasets`` (one series) classified or refused, the series finding, and the asked
    ``methods``' maps of the finding for its ``key_slices`` most confident slices."""
    slices = tuple(classify_slice(analyser, dataset, frame) for dataset, frame in frames_of(datasets))
    finding = series_finding(slices, analyser.classes)
    keys: list[tuple[int, Analysis]] = []
    if finding is not None and methods:
        ranked = sorted(
            finding.deciding,
            key=lambda i: -slices[i].prediction.probabilities[finding.label],  # type: ignore[union-attr]
        )
        for index in ranked[:key_slices]:
            item = slices[index]
            request = AnalysisRequest(methods=methods, target=finding.label, frame=item.frame, dicom_result=True)
            keys.append((index, analyser.analyse(item.dataset, analyser.plan(request))))
    return SeriesAnalysis(slices, finding, tuple(keys))
