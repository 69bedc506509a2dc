"""Images for the service tests, made in memory: every PNG/JPEG mode the service accepts, and DICOM."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file

from tests.helpers import SAMPLES


def sample_path(label: str = "glioma") -> Path:
    """A committed sample image (a validation image of the real dataset)."""
    return sorted((SAMPLES / label).iterdir())[0]


def phantom_gray(height: int = 80, width: int = 64) -> np.ndarray:
    """A bright ellipse on black, as uint8."""
    yy, xx = np.mgrid[0:height, 0:width]
    inside = ((yy - height / 2) / (height * 0.4)) ** 2 + ((xx - width / 2) / (width * 0.4)) ** 2 < 1
    return np.where(inside, 160 + (xx % 7) * 10, 0).astype(np.uint8)


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def image_variants() -> dict[str, tuple[bytes, str]]:
    """name → (bytes, content type) for each supported PNG/JPEG flavour."""
    gray = phantom_gray()
    rgb = np.repeat(gray[..., None], 3, axis=2)
    rgba = np.dstack([rgb, np.full(gray.shape, 255, np.uint8)])
    return {
        "png-gray8": (encode(Image.fromarray(gray, "L"), "PNG"), "image/png"),
        "png-gray16": (encode(Image.fromarray(gray.astype(np.uint16) * 257), "PNG"), "image/png"),
        "png-rgb": (encode(Image.fromarray(rgb, "RGB"), "PNG"), "image/png"),
        "png-rgba": (encode(Image.fromarray(rgba, "RGBA"), "PNG"), "image/png"),
        "png-palette": (encode(Image.fromarray(gray, "L").convert("P"), "PNG"), "image/png"),
        "jpeg-gray": (encode(Image.fromarray(gray, "L"), "JPEG"), "image/jpeg"),
        "jpeg-rgb": (encode(Image.fromarray(rgb, "RGB"), "JPEG"), "image/jpeg"),
        "jpeg-cmyk": (encode(Image.fromarray(rgb, "RGB").convert("CMYK"), "JPEG"), "image/jpeg"),
    }


def mr_dicom_bytes() -> bytes:
    """pydicom's own small MR test file (uncompressed), as Part 10 bytes."""
    return pydicom_file_bytes("MR_small.dcm")


def dicom_without_pixels() -> bytes:
    """The MR test file with its pixel data removed."""
    dataset = pydicom_testdata("MR_small.dcm")
    del dataset.PixelData
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def pydicom_testdata(name: str) -> pydicom.Dataset:
    """A test file shipped inside pydicom, read."""
    path = get_testdata_file(name)  # files shipped inside pydicom: no download
    assert path is not None, name
    return pydicom.dcmread(str(path))


def dicom_bytes(dataset: pydicom.Dataset) -> bytes:
    """A dataset as a Part 10 file."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def pydicom_file_bytes(name: str) -> bytes:
    """The bytes of a test file shipped inside pydicom."""
    return Path(str(get_testdata_file(name))).read_bytes()


def multiframe_mr(frames: int = 3) -> pydicom.Dataset:
    """pydicom's MR_small as ``frames`` frames of rising brightness, without a window."""
    dataset = pydicom_testdata("MR_small.dcm")
    base = dataset.pixel_array.astype(np.int16)
    stack = np.stack([np.clip(base + 200 * k, 0, 4000).astype(np.int16) for k in range(frames)])
    dataset.NumberOfFrames = frames
    dataset.PixelData = stack.tobytes()
    for tag in ("WindowCenter", "WindowWidth"):
        dataset.pop(tag, None)
    return dataset


def lesion_brain(size: int = 96, lesion: bool = True) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A textured disc with a bright lesion in its left half."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    rng = np.random.default_rng(0)
    image = (np.hypot(xx - 0.5, yy - 0.5) < 0.45) * (0.4 + 0.05 * rng.standard_normal((size, size)))
    box = (20, 40, 34, 54)
    if lesion:
        image[box[1] : box[3], box[0] : box[2]] = 0.95
    return np.clip(image, 0, 1).astype(np.float32), box


def outside_box(box: tuple[int, int, int, int], shape: tuple[int, int], pad: int = 6) -> np.ndarray:
    """Where an image of ``shape`` lies well outside ``box`` (``pad`` pixels away)."""
    x0, y0, x1, y1 = box
    mask = np.ones(shape, bool)
    mask[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad] = False
    return mask
