"""Decoding uploads: declared types, aliases and sniffing choose the decoder; bad bodies are typed errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mlcore.errors import ImageError
from service.analysis.decoding import decode, media_type, sniff
from service.errors import ImageTooLarge, RequestError, UnsupportedImageType
from service.image import DecodeOptions
from tests.images import encode, mr_dicom_bytes, phantom_gray

OPTIONS = DecodeOptions(max_pixels=1_000_000)


def test_media_types_are_bare_lower_case_with_aliases_resolved() -> None:
    assert media_type("Image/JPG; charset=binary") == "image/jpeg"
    assert media_type("image/x-png") == "image/png"
    assert media_type(None) == ""


def test_sniffing_tells_png_jpeg_and_dicom_apart() -> None:
    gray = Image.fromarray(phantom_gray(), "L")
    assert sniff(encode(gray, "PNG")) == "image/png"
    assert sniff(encode(gray, "JPEG")) == "image/jpeg"
    assert sniff(mr_dicom_bytes()) == "application/dicom"
    assert sniff(b"GIF89a" + bytes(200)) is None


def test_a_generic_type_is_sniffed_and_a_declared_one_is_trusted() -> None:
    png = encode(Image.fromarray(phantom_gray(), "L"), "PNG")
    image = decode(png, "application/octet-stream", OPTIONS)
    assert image.content_type == "image/png" and image.pixels.dtype == np.float32
    assert image.pixels.max() <= 1.0 and image.pixels.shape == phantom_gray().shape
    with pytest.raises(ImageError, match="not a readable JPEG"):
        decode(png, "image/jpeg", OPTIONS)


def test_bad_bodies_are_typed_errors() -> None:
    with pytest.raises(RequestError, match="no image"):
        decode(b"", "image/png", OPTIONS)
    with pytest.raises(UnsupportedImageType, match="image/gif"):
        decode(b"GIF89a", "image/gif", OPTIONS)
    with pytest.raises(UnsupportedImageType, match="unrecognised bytes"):
        decode(b"hello", None, OPTIONS)
    png = encode(Image.fromarray(phantom_gray(), "L"), "PNG")
    with pytest.raises(ImageError, match="truncated or corrupt"):
        decode(png[:60], "image/png", OPTIONS)


def test_the_pixel_limit_is_checked_before_decoding() -> None:
    big = encode(Image.new("L", (2000, 1000)), "PNG")
    with pytest.raises(ImageTooLarge, match="2000×1000"):
        decode(big, "image/png", OPTIONS)


def test_the_colour_share_is_measured_before_the_conversion_to_grey() -> None:
    gray = (phantom_gray() * 255).astype(np.uint8)
    as_rgb = Image.fromarray(gray, "L").convert("RGB")
    coloured = np.asarray(as_rgb).copy()
    coloured[: coloured.shape[0] // 2, :, 0] = 255  # the top half turned red
    options = DecodeOptions(max_pixels=10_000_000)
    assert decode(encode(Image.fromarray(gray, "L"), "PNG"), "image/png", options).colour == 0.0
    assert decode(encode(as_rgb, "JPEG"), "image/jpeg", options).colour == 0.0  # grey stored as RGB JPEG
    red = decode(encode(Image.fromarray(coloured, "RGB"), "PNG"), "image/png", options)
    assert 0.3 < red.colour <= 0.5
    assert decode(mr_dicom_bytes(), "application/dicom", options).colour == 0.0
