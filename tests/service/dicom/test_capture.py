"""DICOM results: the capture carries the warning as burned-in text, read back pixel for pixel; orientation."""

from __future__ import annotations

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont

from service.dicom.capture import WARNING_ASCII, secondary_capture
from service.dicom.geometry import patient_orientation
from service.dicom.reading import header_of
from service.schemas import ModelRef
from tests.dicom_peers import dciodvfy_errors, needs_dciodvfy
from tests.dicom_series import enhanced_series, mr_series
from tests.images import pydicom_testdata

MODEL = ModelRef(name="tiny", version="0.0.0", sha256="0" * 64)


def _text_lines(band: np.ndarray) -> list[np.ndarray]:
    """The rows of a black band cut into lines of text at the blank rows between them."""
    lit = band.max(axis=(1, 2)) > 0
    lines, start = [], None
    for row, on in enumerate([*lit, False]):
        if on and start is None:
            start = row
        elif not on and start is not None:
            lines.append(band[start:row])
            start = None
    return lines


def _drawn(word_line: str, size: int, width: int) -> np.ndarray:
    """``word_line`` in white on black, drawn independently (Pillow's default font at ``size``), cropped to its ink."""
    canvas = Image.new("RGB", (width, 3 * size), (0, 0, 0))
    ImageDraw.Draw(canvas).text((4, size // 2), word_line, fill=(255, 255, 255), font=ImageFont.load_default(size=size))
    return _text_lines(np.asarray(canvas))[0]


def test_the_capture_has_the_warning_burned_in_as_text() -> None:
    source = pydicom_testdata("MR_small.dcm")
    gray = np.linspace(0, 1, source.Rows * source.Columns, dtype=np.float32).reshape(source.Rows, source.Columns)
    heatmap = np.zeros_like(gray)
    capture = secondary_capture(source, gray, heatmap, method="gradcam", target="glioma", model=MODEL)
    pixels = capture.pixel_array
    band_height = pixels.shape[0] - source.Rows
    assert band_height > 8 and capture.BurnedInAnnotation == "YES"
    width = pixels.shape[1]
    lines = _text_lines(pixels[:band_height])
    assert len(lines) >= 2  # a 64-pixel-wide image: the warning wraps instead of being cut off
    readings = [reading for size in range(6, 21) if (reading := _read_words(lines, WARNING_ASCII.split(), size, width))]
    assert readings and " ".join(readings[0]) == WARNING_ASCII, "the band does not read as the warning"


def _read_words(lines: list[np.ndarray], words: list[str], size: int, width: int) -> list[str] | None:
    """The text of each line, if each is exactly the next run of ``words`` drawn at ``size``; else None."""
    found, rest = [], list(words)
    for line in lines:
        for take in range(len(rest), 0, -1):
            candidate = _drawn(" ".join(rest[:take]), size, width)
            if candidate.shape == line.shape and np.array_equal(candidate, line):
                found.append(" ".join(rest[:take]))
                rest = rest[take:]
                break
        else:
            return None
    return found if not rest else None


def test_orientation_letters_follow_the_direction_cosines() -> None:
    axial = pydicom.Dataset()
    axial.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    assert patient_orientation(axial) == ("L", "P")
    coronal_flipped = pydicom.Dataset()
    coronal_flipped.ImageOrientationPatient = [-1, 0, 0, 0, 0, -1]
    assert patient_orientation(coronal_flipped) == ("R", "F")


@needs_dciodvfy
def test_captures_of_classic_and_enhanced_frames_are_conformant() -> None:
    classic = header_of(mr_series("glioma", 1)[0])
    enhanced = header_of(enhanced_series("glioma", 3))
    gray = np.zeros((256, 256), np.float32)
    for source, frame in ((classic, 0), (enhanced, 2)):
        capture = secondary_capture(source, gray, gray, method="gradcam", target="glioma", model=MODEL, frame=frame)
        assert dciodvfy_errors(capture) == []
        assert capture.StudyInstanceUID == source.StudyInstanceUID and capture.Laterality == ""
