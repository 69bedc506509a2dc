"""What decoding produces and what it needs to know: the types shared by the decoders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pydicom

from mlcore.errors import ImageError
from service.errors import ImageTooLarge


@dataclass(frozen=True)
class Upload:
    """The uploaded bytes and the content type they were declared with (may be generic)."""

    data: bytes
    content_type: str | None


@dataclass(frozen=True)
class DecodeOptions:
    """Limits and choices for decoding: the pixel limit, the frame of a multi-frame image, non-MR DICOM."""

    max_pixels: int
    frame: int | None = None
    allow_non_mr: bool = False


@dataclass(frozen=True)
class DecodedImage:
    """A decoded upload: grayscale pixels in [0, 1] and facts about the source (never patient data).

    ``dicom`` is the input's DICOM header (pixel data dropped) when it was DICOM: DICOM results
    are made from it, in the same study. ``colour``: the share of coloured pixels before the conversion to
    grey (:func:`mlcore.input_check.check.colour_fraction`), 0 for a grey source.
    """

    pixels: np.ndarray
    content_type: str
    source: dict[str, Any] = field(default_factory=dict)
    dicom: pydicom.Dataset | None = None
    colour: float = 0.0

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def check_size(width: int, height: int, max_pixels: int) -> None:
    """Refuse images over the pixel limit (413) or too small to classify (422), before decoding pixels."""
    if width * height > max_pixels:
        pixels = width * height
        raise ImageTooLarge(f"the image has {width}×{height} = {pixels:,} pixels; the limit is {max_pixels:,}")
    if width < 8 or height < 8:
        raise ImageError(f"the image is {width}×{height} pixels; at least 8×8 is needed")


def check_frame(frame: int | None, frames: int) -> int:
    """The frame to use: ``frame`` if it exists, else the middle one when none was asked for."""
    index = frames // 2 if frame is None else frame
    if not 0 <= index < frames:
        raise ImageError(f"frame {index} does not exist; the image has {frames} frame(s), numbered from 0")
    return index
