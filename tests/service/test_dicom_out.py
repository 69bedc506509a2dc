"""DICOM out: /explain gives a Secondary Capture and /predict a Structured Report, in the input's study."""

from __future__ import annotations

import pydicom

from service.dicom_out import patient_orientation


def test_orientation_letters_follow_the_direction_cosines() -> None:
    axial = pydicom.Dataset()
    axial.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    assert patient_orientation(axial) == ("L", "P")
    coronal_flipped = pydicom.Dataset()
    coronal_flipped.ImageOrientationPatient = [-1, 0, 0, 0, 0, -1]
    assert patient_orientation(coronal_flipped) == ("R", "F")
