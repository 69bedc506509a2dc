"""DICOM input: pixel data with its display transforms (Modality LUT, VOI LUT or window, MONOCHROME1).

Kept apart from inference: this module only turns a Part 10 file into grayscale pixels in [0, 1].
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from service.decoding import DICOM, DecodedImage
from service.errors import PayloadTooLarge, UnprocessableImage

GRAYSCALE = {"MONOCHROME1", "MONOCHROME2"}


def _window(values: np.ndarray) -> np.ndarray:
    """A robust window (0.5th to 99.5th percentile) when the file gives none."""
    low, high = np.percentile(values, [0.5, 99.5])
    if high <= low:
        high = low + 1.0
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _first(value: object) -> float:
    """The first value of a possibly multi-valued DICOM number."""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0]
    return float(value)  # type: ignore[arg-type]


def decode_dicom_bytes(data: bytes, max_pixels: int, frame: int | None = None) -> DecodedImage:
    """Decode a DICOM Part 10 file to grayscale in [0, 1]; the middle frame of a multi-frame file."""
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        raise UnprocessableImage(f"the body is not a readable DICOM Part 10 file: {exc}") from exc
    if "PixelData" not in dataset:
        raise UnprocessableImage("the DICOM file has no pixel data")
    photometric = str(dataset.get("PhotometricInterpretation", ""))
    if photometric not in GRAYSCALE:
        raise UnprocessableImage(f"photometric interpretation {photometric!r} is not supported; MONOCHROME1/2 only")
    rows, columns = int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0))
    if rows * columns > max_pixels:
        raise PayloadTooLarge(f"the DICOM image has {rows}×{columns} pixels; the limit is {max_pixels:,}")
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    index = frames // 2 if frame is None else frame
    if not 0 <= index < frames:
        raise UnprocessableImage(f"frame {index} does not exist; the file has {frames} frame(s)")
    try:
        pixels = dataset.pixel_array
    except Exception as exc:  # pydicom raises many types for unsupported or damaged pixel data
        raise UnprocessableImage(f"the DICOM pixel data cannot be decoded: {exc}") from exc
    if frames > 1:
        pixels = pixels[index]
    values = apply_modality_lut(pixels, dataset).astype(np.float64)
    if "WindowCenter" in dataset and "WindowWidth" in dataset:
        centre, width = _first(dataset.WindowCenter), max(_first(dataset.WindowWidth), 2.0)
        gray = np.clip((values - (centre - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)  # PS3.3 C.11.2.1.2 linear
    elif "VOILUTSequence" in dataset:
        looked_up = apply_voi_lut(values, dataset, index=0).astype(np.float64)
        low, high = float(looked_up.min()), float(looked_up.max())
        gray = (looked_up - low) / (high - low) if high > low else np.zeros_like(looked_up)
    else:
        gray = _window(values)
    if photometric == "MONOCHROME1":
        gray = 1.0 - gray
    source = {
        "format": "dicom",
        "modality": str(dataset.get("Modality", "")),
        "width": columns,
        "height": rows,
        "frames": frames,
        "frame": index,
        "bits_stored": int(dataset.get("BitsStored", 0) or 0),
        "photometric": photometric,
    }
    return DecodedImage(pixels=gray.astype(np.float32), content_type=DICOM, source=source, dataset=dataset)
