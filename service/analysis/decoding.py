"""Decoding uploads: a registry of decoders keyed by content type, each giving a grayscale image.

``decode(data, content_type, options)`` → :class:`~service.image.DecodedImage` (float32 H×W in [0, 1] plus
what the source was). A generic or missing content type is sniffed from the magic bytes. Image
size is checked from the header before pixels are decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

from PIL import Image, UnidentifiedImageError

from mlcore.errors import ImageError
from mlcore.input_check.check import colour_of
from mlcore.preprocessing import grayscale_from_pil
from service.dicom.reading import DICOM, decode_dicom
from service.errors import ImageTooLarge, RequestError, UnsupportedImageType
from service.image import DecodedImage, DecodeOptions, check_frame, check_size

PNG, JPEG = "image/png", "image/jpeg"
ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "image/x-png": PNG, "application/dicom+octet-stream": DICOM}
GENERIC = {"", "application/octet-stream", "binary/octet-stream"}


def sniff(data: bytes) -> str | None:
    """The content type told by the first bytes: PNG, JPEG or DICOM Part 10, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if len(data) >= 132 and data[128:132] == b"DICM":
        return DICOM
    return None


def decode_pillow(data: bytes, expected_format: str, options: DecodeOptions) -> DecodedImage:
    """PNG or JPEG of any common mode (8/16-bit grey, RGB, RGBA, CMYK, palette) via Pillow."""
    try:
        image = Image.open(io.BytesIO(data), formats=[expected_format])
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"the body is not a readable {expected_format} image") from exc
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise ImageError(f"the {expected_format} header is truncated or corrupt: {exc}") from exc
    check_size(image.width, image.height, options.max_pixels)
    check_frame(options.frame, getattr(image, "n_frames", 1))
    if options.frame:
        image.seek(options.frame)
    try:
        image.load()
        pixels = grayscale_from_pil(image)
        colour = colour_of(image)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise ImageError(f"the {expected_format} image is truncated or corrupt: {exc}") from exc
    source = {"format": expected_format.lower(), "mode": image.mode, "width": image.width, "height": image.height}
    content_type = PNG if expected_format == "PNG" else JPEG
    return DecodedImage(pixels=pixels, content_type=content_type, source=source, colour=colour)


DECODERS: dict[str, Callable[[bytes, DecodeOptions], DecodedImage]] = {
    PNG: lambda data, options: decode_pillow(data, "PNG", options),
    JPEG: lambda data, options: decode_pillow(data, "JPEG", options),
    DICOM: decode_dicom,
}


def media_type(content_type: str | None) -> str:
    """The bare, lower-case media type of a Content-Type value, aliases resolved."""
    bare = (content_type or "").split(";")[0].strip().lower()
    return ALIASES.get(bare, bare)


def decode(data: bytes, content_type: str | None, options: DecodeOptions) -> DecodedImage:
    """Decode an upload by its declared (or, when generic, sniffed) content type."""
    if not data:
        raise RequestError("the request has no image: send it as multipart field 'file' or as the raw body")
    declared = media_type(content_type)
    chosen = sniff(data) if declared in GENERIC else declared
    if chosen not in DECODERS:
        what = f"content type {declared!r}" if declared not in GENERIC else "the body (unrecognised bytes)"
        raise UnsupportedImageType(f"cannot decode {what}; send one of {sorted(DECODERS)}")
    return DECODERS[chosen](data, options)
