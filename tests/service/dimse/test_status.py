"""The error tree → DIMSE status table."""

from __future__ import annotations

from mlcore.errors import ImageError, OutOfDistribution
from mlcore.input_check.check import InputCheck
from service.dimse.status import PROCESSING_FAILURE, status_of
from service.errors import Busy, DatasetMismatch, ImageTooLarge, UnsupportedSopClass


def test_each_refusal_has_its_status_and_anything_else_is_a_processing_failure() -> None:
    assert status_of(UnsupportedSopClass("ct"))[0] == 0x0122
    assert status_of(ImageTooLarge("big"))[0] == 0xA700
    assert status_of(Busy("full"))[0] == 0xA700
    assert status_of(DatasetMismatch("no rows"))[0] == 0xA900
    assert status_of(ImageError("truncated"))[0] == 0xC000
    assert (
        status_of(OutOfDistribution("odd", InputCheck(in_distribution=False, score=1.0, threshold=0.5)))[0] == 0xC000
    )  # an ImageError
    assert status_of(KeyError("bug")) == (PROCESSING_FAILURE, "Failure: processing failure")
