"""Sample images inside installed packages (training/input_check/sample_sources.py)."""

from __future__ import annotations

import numpy as np

from training.input_check.sample_sources import (
    DICOM_SAMPLES,
    VOLUME_SAMPLES,
    Origin,
    axial_slices,
    dicom_values,
    package_file,
    volume,
)


def test_a_missing_package_or_file_is_none_not_an_error() -> None:
    assert package_file(Origin("no_such_package_here", "x.dcm", "nothing", "none")) is None
    assert package_file(Origin("pydicom", "data/test_files/no-such-file.dcm", "nothing", "none")) is None


def test_a_ct_sample_is_read_in_hounsfield_units_and_an_ultrasound_in_colour() -> None:
    ct = dicom_values(DICOM_SAMPLES["ct-head-693"])
    assert ct is not None and not ct[1]
    assert ct[0].min() <= -900 and ct[0].max() >= 500  # air and bone
    colour = dicom_values(DICOM_SAMPLES["us-rgb"])
    assert colour is not None and colour[1] and colour[0].shape[-1] == 3


def test_an_enhanced_ct_gets_its_rescale_from_the_shared_functional_groups() -> None:
    enhanced = dicom_values(DICOM_SAMPLES["ct-enhanced"])
    assert enhanced is not None and enhanced[0].min() < -500  # raw values start at 0; air is -1000 HU


def test_volumes_are_resampled_to_square_voxels_and_sliced_axially() -> None:
    epi = volume(VOLUME_SAMPLES["bold-epi"])
    assert epi is not None and epi.ndim == 3
    slices = axial_slices(epi, 5)
    assert len(slices) == 5 and all(np.isfinite(s).all() for s in slices)
