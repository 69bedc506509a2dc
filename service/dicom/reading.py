"""DICOM input: pixel data with its display transforms, kept apart from inference.

Reads Part 10 files with pydicom; compressed transfer syntaxes (JPEG baseline and lossless,
JPEG-LS, JPEG 2000, RLE) decode through the pylibjpeg and pyjpegls plugins. Applies the Modality
LUT (rescale slope/intercept), then the VOI window (window centre/width, or a VOI LUT, or a robust
0.5–99.5 percentile window when the file gives none), and inverts MONOCHROME1. Multi-frame files
give one frame (default the middle one).
"""

from __future__ import annotations

import io
import re

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from mlcore.errors import ImageError
from service.image import DecodedImage, DecodeOptions, check_frame, check_size

DICOM = "application/dicom"
GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")
PIXEL_DATA = 0x7FE00010


def _percentile_window(values: np.ndarray) -> np.ndarray:
    low, high = np.percentile(values, [0.5, 99.5])
    if high <= low:
        high = low + 1.0
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _first(value: object) -> float:
    """The first value of a possibly multi-valued DICOM number."""
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0]
    return float(value)  # type: ignore[arg-type]


def to_display(values: np.ndarray, dataset: pydicom.Dataset) -> np.ndarray:
    """Modality-LUT values to [0, 1] by the file's window (PS3.3 C.11.2.1.2) or VOI LUT, else a robust one."""
    if "WindowCenter" in dataset and "WindowWidth" in dataset:
        centre, width = _first(dataset.WindowCenter), max(_first(dataset.WindowWidth), 2.0)
        return np.clip((values - (centre - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)
    if "VOILUTSequence" in dataset:
        looked_up = apply_voi_lut(values, dataset, index=0).astype(np.float64)
        low, high = float(looked_up.min()), float(looked_up.max())
        return (looked_up - low) / (high - low) if high > low else np.zeros_like(looked_up)
    return _percentile_window(values)


# BodyPartExamined values and description words of the head; and body parts that are not the head, for descriptions.
HEAD_WORDS = ("HEAD", "BRAIN", "SKULL", "NEURO", "CRAN", "CEREB", "PITUIT", "SELLA", "ORBIT")
OTHER_BODY_PARTS = (
    "SHOULDER", "KNEE", "SPINE", "CHEST", "THORAX", "LUNG", "CARDIAC", "HEART", "BREAST", "ABDOMEN", "LIVER",
    "KIDNEY", "PELVIS", "PROSTATE", "HIP", "ANKLE", "FOOT", "HAND", "WRIST", "ELBOW", "ARM", "LEG", "WHOLE BODY",
)  # fmt: skip


def other_body_part_examined(dataset: pydicom.Dataset) -> str | None:
    """The ``BodyPartExamined`` value when it names a body part that is not the head or brain, else None."""
    part = str(dataset.get("BodyPartExamined", "") or "").strip()
    return part if part and not any(word in part.upper() for word in HEAD_WORDS) else None


def body_part_reason(dataset: pydicom.Dataset) -> str | None:
    """Why the DICOM tags say this is not the head, or None: a ``BodyPartExamined`` or an Anatomic Region Sequence
    naming another body part; without either, a study or series description naming another body part and not the
    head. The coded body part counts first (a "BRAIN" body part with a "knee" description is the head).

    A reason refuses the instance, as it refuses a series' slice, unless the server is told its sites misuse the tags
    (``BRAINXAI_DICOM_BODY_PART_CHECK=ignore``).
    """
    if str(dataset.get("BodyPartExamined", "") or "").strip():
        part = other_body_part_examined(dataset)
        return f"the DICOM tags name another body part than the head (BodyPartExamined {part!r})" if part else None
    region = _anatomic_region(dataset)
    if region:
        if any(word in region.upper() for word in HEAD_WORDS):
            return None
        return f"the DICOM tags name another body part than the head (AnatomicRegionSequence {region!r})"
    for tag in ("StudyDescription", "SeriesDescription"):
        words = set(re.findall(r"[A-Z]+", str(dataset.get(tag, "") or "").upper()))
        text = " ".join(sorted(words))
        named = any(set(part.split()) <= words for part in OTHER_BODY_PARTS)
        if named and not any(word in text for word in HEAD_WORDS):
            return f"the DICOM tags name another body part than the head ({tag} {str(dataset.get(tag))!r})"
    return None


def _anatomic_region(dataset: pydicom.Dataset) -> str:
    """The code meaning of the first Anatomic Region Sequence item (of the dataset, or of an enhanced object's
    shared Frame Anatomy), or ''."""
    sources = [dataset]
    shared = dataset.get("SharedFunctionalGroupsSequence")
    if shared and "FrameAnatomySequence" in shared[0]:
        sources.append(shared[0].FrameAnatomySequence[0])
    for source in sources:
        items = source.get("AnatomicRegionSequence")
        if items:
            return str(items[0].get("CodeMeaning", "") or items[0].get("CodeValue", "") or "").strip()
    return ""


def decode_dicom(data: bytes, options: DecodeOptions) -> DecodedImage:
    """A DICOM Part 10 grayscale image as pixels in [0, 1]; 422 saying why for what cannot be used."""
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, OSError, KeyError) as exc:
        raise ImageError(f"the body is not a readable DICOM Part 10 file: {exc}") from exc
    return decode_dataset(dataset, options)


def decode_dataset(dataset: pydicom.Dataset, options: DecodeOptions) -> DecodedImage:
    """A parsed DICOM dataset's grayscale image as pixels in [0, 1]; 422 saying why for what cannot be used."""
    modality = str(dataset.get("Modality", "") or "")
    if modality != "MR" and not options.allow_non_mr:
        shown = modality or "(none)"
        raise ImageError(f"modality {shown} is not MR; this model reads MR only (BRAINXAI_ALLOW_NON_MR)")
    if "PixelData" not in dataset:
        raise ImageError("the DICOM file has no pixel data")
    photometric = str(dataset.get("PhotometricInterpretation", ""))
    if photometric not in GRAYSCALE:
        raise ImageError(f"photometric interpretation {photometric!r} is not supported; MONOCHROME1/2 only")
    rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
    check_size(columns, rows, options.max_pixels)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    index = check_frame(options.frame, frames)
    try:
        pixels = dataset.pixel_array if frames == 1 else pydicom.pixels.pixel_array(dataset, index=index)
    except Exception as exc:  # the decoders raise many types for unsupported or damaged pixel data
        syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", str(syntax))
        raise ImageError(f"the pixel data ({name}) cannot be decoded: {exc}") from exc
    values = apply_modality_lut(pixels, dataset).astype(np.float64)
    gray = to_display(values, dataset)
    if photometric == "MONOCHROME1":
        gray = 1.0 - gray
    source = {
        "format": "dicom",
        "modality": modality,
        "width": columns,
        "height": rows,
        "frames": frames,
        "frame": index,
        "bits_stored": int(dataset.get("BitsStored", 0) or 0),
        "photometric": photometric,
        "transfer_syntax": str(getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", "")),
    }
    return DecodedImage(pixels=gray.astype(np.float32), content_type=DICOM, source=source, dicom=header_of(dataset))


def header_of(dataset: pydicom.Dataset) -> pydicom.Dataset:
    """The dataset without its pixel data (kept for DICOM results); the given dataset is left as it was, so that
    its other frames can still be read. Elements not yet read stay raw (undecoded): their text is decoded when used,
    with the character set :mod:`service.dicom.mend` settles on."""
    header = pydicom.Dataset({tag: dataset.get_item(tag) for tag in dataset.keys() if tag != PIXEL_DATA})  # noqa: SIM118
    if hasattr(dataset, "file_meta"):
        header.file_meta = dataset.file_meta
    return header
