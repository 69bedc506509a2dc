"""What the node takes in: MR instances that are whole and within its limits."""

from __future__ import annotations

import pytest

from mlcore.errors import ImageError
from service.dimse.intake import check_instance
from service.errors import DatasetMismatch, ImageTooLarge, UnsupportedSopClass
from tests.dicom_series import enhanced_series, mr_series
from tests.images import pydicom_testdata

LIMITS = {"max_pixels": 1_000_000, "max_frames": 100}


def test_classic_and_enhanced_mr_are_taken() -> None:
    check_instance(mr_series("glioma", 1)[0], **LIMITS)
    check_instance(enhanced_series("glioma", 2), **LIMITS)


def test_other_sop_classes_missing_or_truncated_data_and_huge_frames_are_refused() -> None:
    with pytest.raises(UnsupportedSopClass, match="CT Image Storage"):
        check_instance(pydicom_testdata("CT_small.dcm"), **LIMITS)
    no_pixels = mr_series("glioma", 1)[0]
    del no_pixels.PixelData
    with pytest.raises(DatasetMismatch, match="PixelData"):
        check_instance(no_pixels, **LIMITS)
    truncated = mr_series("glioma", 1)[0]
    truncated.PixelData = truncated.PixelData[:1000]
    with pytest.raises(ImageError, match="truncated"):
        check_instance(truncated, **LIMITS)
    with pytest.raises(ImageTooLarge, match="256×256"):
        check_instance(mr_series("glioma", 1)[0], max_pixels=10_000, max_frames=100)
    with pytest.raises(ImageTooLarge, match="3 frames"):
        check_instance(enhanced_series("glioma", 3), max_pixels=1_000_000, max_frames=2)
