"""DICOM over HTTP: a Secondary Capture and a Structured Report in the input's study; frames; Accept."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from service.dicom.capture import WARNING_ASCII
from service.dicom.report import TUMOUR_CODES
from tests.helpers import SAMPLES
from tests.images import dicom_bytes, multiframe_mr, pydicom_file_bytes

DICOM = "application/dicom"


def _mr_bytes() -> tuple[bytes, pydicom.Dataset]:
    path = get_testdata_file("MR_small.dcm")  # shipped inside pydicom: no download
    assert path is not None
    return Path(str(path)).read_bytes(), pydicom.dcmread(str(path))


def _read(response: httpx.Response) -> pydicom.Dataset:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == DICOM
    return pydicom.dcmread(io.BytesIO(response.content))


def test_explain_answers_a_secondary_capture_in_the_same_study(client: httpx.Client) -> None:
    data, source = _mr_bytes()
    response = client.post("/explain?method=gradcam", content=data, headers={"Content-Type": DICOM, "Accept": DICOM})
    capture = _read(response)
    assert capture.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    assert capture.StudyInstanceUID == source.StudyInstanceUID
    assert capture.PatientID == source.PatientID
    assert capture.SeriesInstanceUID != source.SeriesInstanceUID
    assert capture.SOPInstanceUID != source.SOPInstanceUID
    assert "gradcam" in capture.SeriesDescription and "tiny-test-model" in capture.SeriesDescription
    assert capture.BurnedInAnnotation == "YES" and WARNING_ASCII in capture.ImageComments
    pixels = capture.pixel_array
    assert pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.dtype == np.uint8
    # The banner is burned in: a black band across the top with white text, above the image rows.
    assert pixels.shape[0] > source.Rows and pixels[:, : source.Columns].max() == 255


def test_predict_answers_a_structured_report_that_references_the_source(client: httpx.Client) -> None:
    data, source = _mr_bytes()
    json_answer = client.post("/predict", content=data, headers={"Content-Type": DICOM}).json()
    report = _read(client.post("/predict", content=data, headers={"Content-Type": DICOM, "Accept": DICOM}))
    assert report.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert report.StudyInstanceUID == source.StudyInstanceUID
    evidence = report.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    items = _flatten(report.ContentSequence)
    label = json_answer["label"]
    coded = {_name(item): item.ConceptCodeSequence[0] for item in items if item.get("ValueType") == "CODE"}
    assert coded["Neoplasm"].CodeMeaning == ("Absent" if label == "notumor" else "Present")
    if label != "notumor":  # the tumour type in SNOMED CT
        assert (
            coded["Finding"].CodingSchemeDesignator == "SCT" and coded["Finding"].CodeValue == TUMOUR_CODES[label].value
        )
    [probability] = [item for item in items if item.get("ValueType") == "NUM"]
    assert _name(probability) == "Probability"
    assert float(probability.MeasuredValueSequence[0].NumericValue) == pytest.approx(
        json_answer["probabilities"][label], abs=1e-6
    )


def _flatten(sequence: pydicom.Sequence) -> list[pydicom.Dataset]:
    items = []
    for item in sequence:
        items.append(item)
        if "ContentSequence" in item:
            items.extend(_flatten(item.ContentSequence))
    return items


def _name(item: pydicom.Dataset) -> str:
    return str(item.ConceptNameCodeSequence[0].CodeMeaning)


def test_dicom_results_need_a_dicom_input(client: httpx.Client) -> None:
    sample = next(SAMPLES.glob("glioma/*.jpg")).read_bytes()
    for route in ("/predict", "/explain"):
        response = client.post(route, content=sample, headers={"Content-Type": "image/jpeg", "Accept": DICOM})
        assert response.status_code == 406
        assert "DICOM input" in response.json()["detail"]


def test_accept_negotiation_on_predict(client: httpx.Client) -> None:
    data, _ = _mr_bytes()
    headers = {"Content-Type": DICOM}
    assert client.post("/predict", content=data, headers=headers | {"Accept": "*/*"}).json()["label"]
    assert client.post("/predict", content=data, headers=headers | {"Accept": "application/*;q=0.5"}).is_success
    refused = client.post("/predict", content=data, headers=headers | {"Accept": "image/png"})
    assert refused.status_code == 406 and "/predict gives application/json" in refused.json()["detail"]


def test_frames_through_the_api(client: httpx.Client) -> None:
    data = dicom_bytes(multiframe_mr(3))
    headers = {"content-type": "application/dicom"}
    assert client.post("/predict?frame=2", content=data, headers=headers).status_code == 200
    refused = client.post("/predict?frame=7", content=data, headers=headers)
    assert refused.status_code == 422 and "frame 7" in refused.json()["detail"]
    explained = client.post("/explain?method=gradcam&frame=0", content=data, headers=headers)
    assert explained.status_code == 200 and explained.headers["content-type"] == "image/png"
    ct = client.post("/predict", content=pydicom_file_bytes("CT_small.dcm"), headers=headers)
    assert ct.status_code == 422 and "modality CT" in ct.json()["detail"]
