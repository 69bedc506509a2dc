"""Where a slice lies in the patient: orientation, position and pixel spacing of one frame.

Classic images (one frame per instance) carry these at the top level; Enhanced and Legacy Converted Enhanced MR
carry them in functional groups (PS3.3 C.7.6.16): per frame in ``PerFrameFunctionalGroupsSequence`` or for every
frame in ``SharedFunctionalGroupsSequence``. Results (Parametric Maps, captures) are placed with these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pydicom

from mlcore.errors import ImageError


@dataclass(frozen=True)
class FrameGeometry:
    """One frame's plane in the patient coordinate system (LPS, mm); None where the source does not say."""

    orientation: tuple[float, ...] | None  # row then column direction cosines
    position: tuple[float, ...] | None  # the centre of the first pixel
    spacing: tuple[float, float] | None  # between rows, between columns
    thickness: float | None


def _group_item(dataset: pydicom.Dataset, frame: int, sequence: str) -> pydicom.Dataset | None:
    """The functional-group macro ``sequence`` of ``frame``: per frame first, else shared."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        items = dataset.get(groups)
        macro = items[index].get(sequence) if items is not None and len(items) > index else None
        if macro:
            return macro[0]
    return None


def _floats(dataset: pydicom.Dataset | None, keyword: str) -> tuple[float, ...] | None:
    if dataset is None or keyword not in dataset or dataset[keyword].value in (None, ""):
        return None
    value = dataset[keyword].value
    values = value if isinstance(value, list | tuple | pydicom.multival.MultiValue) else [value]
    return tuple(float(v) for v in values)


def frame_geometry(dataset: pydicom.Dataset, frame: int = 0) -> FrameGeometry:
    """The geometry of ``frame`` (0-based) from the functional groups when present, else the classic header."""
    if "PerFrameFunctionalGroupsSequence" in dataset or "SharedFunctionalGroupsSequence" in dataset:
        orientation = _floats(_group_item(dataset, frame, "PlaneOrientationSequence"), "ImageOrientationPatient")
        position = _floats(_group_item(dataset, frame, "PlanePositionSequence"), "ImagePositionPatient")
        measures = _group_item(dataset, frame, "PixelMeasuresSequence")
    else:
        orientation = _floats(dataset, "ImageOrientationPatient")
        position = _floats(dataset, "ImagePositionPatient")
        measures = dataset
    spacing = _floats(measures, "PixelSpacing")
    thickness = _floats(measures, "SliceThickness")
    return FrameGeometry(
        orientation=orientation,
        position=position,
        spacing=(spacing[0], spacing[1]) if spacing and len(spacing) == 2 else None,
        thickness=thickness[0] if thickness else None,
    )


def _orientation_letter(direction: np.ndarray) -> str:
    """The patient-orientation letter (PS3.3 C.7.6.1.1.1) of a direction's dominant LPS axis."""
    axis = int(np.argmax(np.abs(direction)))
    return ("L", "P", "H")[axis] if direction[axis] > 0 else ("R", "A", "F")[axis]


def patient_orientation(dataset: pydicom.Dataset, frame: int = 0) -> tuple[str, str]:
    """The row and column directions of a frame as patient-orientation letters; classic or enhanced headers."""
    orientation = frame_geometry(dataset, frame).orientation
    if orientation is not None and len(orientation) == 6:
        cosines = np.array(orientation)
        return _orientation_letter(cosines[:3]), _orientation_letter(cosines[3:])
    if "PatientOrientation" in dataset and len(dataset.PatientOrientation) == 2:
        return str(dataset.PatientOrientation[0]), str(dataset.PatientOrientation[1])
    raise ImageError(
        "the DICOM input has no image orientation (ImageOrientationPatient, in its functional groups or its header, "
        "or PatientOrientation); a DICOM result needs one"
    )
