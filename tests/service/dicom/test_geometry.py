"""Frame geometry from classic headers and from Enhanced MR functional groups."""

from __future__ import annotations

import pydicom
import pytest

from mlcore.errors import ImageError
from service.dicom.geometry import frame_geometry, patient_orientation
from tests.dicom_series import enhanced_series, mr_series


def test_classic_and_enhanced_headers_give_the_same_geometry_per_slice() -> None:
    classic = mr_series("glioma", 3)
    enhanced = enhanced_series("glioma", 3)
    by_position = {frame_geometry(d).position: frame_geometry(d) for d in classic}
    assert set(by_position) == {(-115.0, -115.0, 5.0 * index) for index in range(3)}
    for frame in range(3):  # each frame of the converted instance lies where one classic slice lies
        converted = frame_geometry(enhanced, frame)
        legacy = by_position[converted.position]
        assert converted.orientation == legacy.orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        assert converted.spacing == legacy.spacing == (0.9, 0.9) and converted.thickness == 5.0
    assert patient_orientation(enhanced, 2) == ("L", "P")


def test_a_source_without_orientation_is_refused_for_results() -> None:
    bare = pydicom.Dataset()
    assert frame_geometry(bare).orientation is None
    with pytest.raises(ImageError, match="no image orientation"):
        patient_orientation(bare)
    coronal = pydicom.Dataset()
    coronal.ImageOrientationPatient = [-1, 0, 0, 0, 0, -1]
    assert patient_orientation(coronal) == ("R", "F")
