"""What the DICOM node takes in: MR image instances it can analyse, checked from their header alone.

A C-STORE is answered at once, so only cheap checks run here (SOP class, the attributes a slice needs, the size,
pixel data that is complete); decoding and the input check run when the series is complete
(:mod:`service.analysis.series`).
"""

from __future__ import annotations

import pydicom
from pydicom.pixels.utils import get_expected_length

from mlcore.errors import ImageError
from service.errors import DatasetMismatch, ImageTooLarge, UnsupportedSopClass

MR_STORAGE = {
    "1.2.840.10008.5.1.4.1.1.4": "MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.4": "Legacy Converted Enhanced MR Image Storage",
}
REQUIRED = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Rows", "Columns", "BitsAllocated", "PixelData")


def check_instance(dataset: pydicom.Dataset, *, max_pixels: int, max_frames: int) -> None:
    """Refuse an instance the node cannot analyse: another SOP class, missing attributes, over the pixel or frame
    limits, or pixel data shorter than its header says (truncated)."""
    sop_class = str(dataset.get("SOPClassUID", ""))
    if sop_class not in MR_STORAGE:
        name = getattr(pydicom.uid.UID(sop_class), "name", sop_class) if sop_class else "(none)"
        raise UnsupportedSopClass(
            f"SOP class {name} is not an MR image; this node takes {', '.join(MR_STORAGE.values())}"
        )
    missing = [keyword for keyword in REQUIRED if keyword not in dataset]
    if missing:
        raise DatasetMismatch(f"the {MR_STORAGE[sop_class]} instance lacks {', '.join(missing)}")
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if rows * columns > max_pixels:
        raise ImageTooLarge(f"a frame of {columns}×{rows} pixels is over the limit of {max_pixels:,}")
    if frames > max_frames:
        raise ImageTooLarge(f"{frames} frames are over the limit of {max_frames}")
    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and not syntax.is_compressed:
        expected = int(get_expected_length(dataset))
        if len(dataset.PixelData) < expected:
            raise ImageError(f"the pixel data is truncated: {len(dataset.PixelData):,} of {expected:,} bytes")
