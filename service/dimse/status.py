"""The one table from the error tree to DIMSE C-STORE statuses (PS3.4 B.2.3, PS3.7 C), used by the DICOM node.

Checked in order, the first class that matches wins; an error outside the table (a bug, a library failure while
reading the dataset) is a processing failure, logged with its traceback.
"""

from __future__ import annotations

from mlcore.errors import BrainxaiError, ImageError
from service.errors import Busy, DatasetMismatch, ImageTooLarge, StorageFailed, UnsupportedSopClass

SUCCESS = 0x0000
PROCESSING_FAILURE = 0x0110
DIMSE_STATUS: tuple[tuple[type[BrainxaiError], int, str], ...] = (
    (UnsupportedSopClass, 0x0122, "Refused: SOP Class not supported"),
    (ImageTooLarge, 0xA700, "Refused: Out of resources"),
    (Busy, 0xA700, "Refused: Out of resources"),
    (StorageFailed, 0xA700, "Refused: Out of resources"),
    (DatasetMismatch, 0xA900, "Error: Data Set does not match SOP Class"),
    (ImageError, 0xC000, "Error: Cannot understand"),
)


def status_of(error: Exception) -> tuple[int, str]:
    """The DIMSE status and its meaning for an error raised while taking in an instance."""
    for kind, status, meaning in DIMSE_STATUS:
        if isinstance(error, kind):
            return status, meaning
    return PROCESSING_FAILURE, "Failure: processing failure"
