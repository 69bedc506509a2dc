"""Decoding uploads: a registry of decoders keyed by content type, each giving a grayscale image.

``decode(data, content_type, max_pixels)`` → :class:`DecodedImage` (float32 H×W in [0, 1] plus
what the source was). A generic or missing content type is sniffed from the magic bytes. Image
size is checked from the header before pixels are decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from mlcore.errors import ImageError
from mlcore.preprocessing import grayscale_from_pil
from service.errors import BadRequest, PayloadTooLarge, UnprocessableImage, UnsupportedMediaType

PNG, JPEG, DICOM = "image/png", "image/jpeg", "application/dicom"
ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "image/x-png": PNG, "application/dicom+octet-stream": DICOM}
GENERIC = {"", "application/octet-stream", "binary/octet-stream"}


@dataclass(frozen=True)
class DecodedImage:
    """A decoded upload: grayscale pixels in [0, 1] and facts about the source (never patient data)."""

    pixels: np.ndarray
    content_type: str
    source: dict[str, Any] = field(default_factory=dict)
    dataset: Any = None  # the pydicom Dataset for DICOM input, kept for DICOM output

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def sniff(data: bytes) -> str | None:
    """The content type told by the first bytes: PNG, JPEG or DICOM Part 10, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if len(data) >= 132 and data[128:132] == b"DICM":
        return DICOM
    return None


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        pixels = width * height
        raise PayloadTooLarge(f"the image has {width}×{height} = {pixels:,} pixels; the limit is {max_pixels:,}")
    if width < 8 or height < 8:
        raise UnprocessableImage(f"the image is {width}×{height} pixels; at least 8×8 is needed")


def decode_pillow(data: bytes, expected_format: str, max_pixels: int) -> DecodedImage:
    """PNG or JPEG of any common mode (8/16-bit grey, RGB, RGBA, CMYK, palette) via Pillow."""
    try:
        image = Image.open(io.BytesIO(data), formats=[expected_format])
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise UnprocessableImage(f"the body is not a readable {expected_format} image") from exc
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise UnprocessableImage(f"the {expected_format} header is truncated or corrupt: {exc}") from exc
    _check_pixels(image.width, image.height, max_pixels)
    try:
        image.load()
        pixels = grayscale_from_pil(image)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise UnprocessableImage(f"the {expected_format} image is truncated or corrupt: {exc}") from exc
    source = {"format": expected_format.lower(), "mode": image.mode, "width": image.width, "height": image.height}
    content_type = PNG if expected_format == "PNG" else JPEG
    return DecodedImage(pixels=pixels, content_type=content_type, source=source)


def decode_dicom(data: bytes, max_pixels: int) -> DecodedImage:
    """A DICOM Part 10 grayscale image, with its display transforms applied (see service.dicom)."""
    from service.dicom import decode_dicom_bytes

    return decode_dicom_bytes(data, max_pixels)


DECODERS: dict[str, Callable[[bytes, int], DecodedImage]] = {
    PNG: lambda data, max_pixels: decode_pillow(data, "PNG", max_pixels),
    JPEG: lambda data, max_pixels: decode_pillow(data, "JPEG", max_pixels),
    DICOM: decode_dicom,
}


def media_type(content_type: str | None) -> str:
    """The bare, lower-case media type of a Content-Type value, aliases resolved."""
    bare = (content_type or "").split(";")[0].strip().lower()
    return ALIASES.get(bare, bare)


def decode(data: bytes, content_type: str | None, max_pixels: int) -> DecodedImage:
    """Decode an upload by its declared (or, when generic, sniffed) content type."""
    if not data:
        raise BadRequest("the request has no image: send it as multipart field 'file' or as the raw body")
    declared = media_type(content_type)
    chosen = sniff(data) if declared in GENERIC else declared
    if chosen not in DECODERS:
        what = f"content type {declared!r}" if declared not in GENERIC else "the body (unrecognised bytes)"
        raise UnsupportedMediaType(f"cannot decode {what}; send one of {sorted(DECODERS)}")
    return DECODERS[chosen](data, max_pixels)
