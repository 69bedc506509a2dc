"""The error tree → DIMSE status table."""

from __future__ import annotations

from mlcore.errors import Busy, DatasetMismatch, ImageError, ImageTooLarge, OutOfDistribution, UnsupportedSopClass
from mlcore.reliability import InputCheck
from service.dimse.status import PROCESSING_FAILURE, status_of


def test_each_refusal_has_its_status_and_anything_else_is_a_processing_failure() -> None:
    assert status_of(UnsupportedSopClass("ct"))[0] == 0x0122
    assert status_of(ImageTooLarge("big"))[0] == 0xA700
    assert status_of(Busy("full"))[0] == 0xA700
    assert status_of(DatasetMismatch("no rows"))[0] == 0xA900
    assert status_of(ImageError("truncated"))[0] == 0xC000
    assert status_of(OutOfDistribution("odd", InputCheck(False, 1.0, 0.5)))[0] == 0xC000  # an ImageError
    assert status_of(KeyError("bug")) == (PROCESSING_FAILURE, "Failure: processing failure")
