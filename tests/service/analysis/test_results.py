"""An analysis as answer bytes: the PNG overlay, the raw 8-bit map, a Secondary Capture and a report."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image

from mlcore.input_check.check import InputCheck
from service.analysis.decoding import decode
from service.analysis.pipeline import Analysis, Explanation, Prediction
from service.analysis.results import JSON, PNG, explanation_bytes, report_bytes
from service.errors import NotDicom
from service.image import DecodedImage, DecodeOptions
from service.schemas import ModelRef
from tests.images import mr_dicom_bytes

MODEL = ModelRef(name="tiny", version="0.0.0", sha256="0" * 64)


def _analysis(image: DecodedImage) -> Analysis:
    heatmap = np.zeros(image.pixels.shape, np.float32)
    heatmap[2:6, 3:7] = 1.0
    prediction = Prediction(
        {"glioma": 0.7, "notumor": 0.3}, "glioma", 1.0, InputCheck(in_distribution=True, score=1.0, threshold=2.0)
    )
    return Analysis(image, prediction, (Explanation(heatmap, "gradcam", "glioma", {}, 2.0),), 0.5)


def test_png_answers_are_the_overlay_or_the_raw_map() -> None:
    analysis = _analysis(DecodedImage(pixels=np.full((20, 30), 0.5, np.float32), content_type="image/png"))
    overlay = Image.open(io.BytesIO(explanation_bytes(analysis, analysis.explanations[0], PNG, model=MODEL, opacity=1)))
    assert overlay.mode == "RGB" and overlay.height == 20 and overlay.width > 30  # the legend beside the image
    pixels = np.asarray(overlay)
    assert tuple(pixels[0, 0]) == (128, 128, 128) and tuple(pixels[3, 4]) != (128, 128, 128)  # heat only where mapped
    raw = np.asarray(
        Image.open(io.BytesIO(explanation_bytes(analysis, analysis.explanations[0], JSON, model=MODEL, opacity=1)))
    )
    assert raw.shape == (20, 30) and raw[3, 4] == 255 and raw[0, 0] == 0


def test_dicom_answers_need_a_dicom_input_and_stay_in_its_study() -> None:
    png_analysis = _analysis(DecodedImage(pixels=np.zeros((20, 30), np.float32), content_type="image/png"))
    with pytest.raises(NotDicom):
        report_bytes(png_analysis, MODEL)
    image = decode(mr_dicom_bytes(), "application/dicom", DecodeOptions(max_pixels=10**7))
    analysis = _analysis(image)
    capture = pydicom.dcmread(
        io.BytesIO(explanation_bytes(analysis, analysis.explanations[0], "application/dicom", model=MODEL, opacity=0.5))
    )
    report = pydicom.dcmread(io.BytesIO(report_bytes(analysis, MODEL)))
    assert capture.StudyInstanceUID == report.StudyInstanceUID == image.dicom.StudyInstanceUID
    assert capture.BurnedInAnnotation == "YES" and report.Modality == "SR"
