"""The input check end to end over HTTP and DICOM: refused (422 out-of-distribution) under the reject policy, flagged
under flag, never a DICOM result of a refused input, nothing stored by the bridge, refusals counted.

The served model is the tiny phantom-trained one with its fitted detector (``ood_model_path``): phantoms are what
it knows, noise, photographs and an abdominal MR are not.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from skimage import data as samples

from mlcore.input_check.check import PLAIN_SENTENCES
from tests.fake_pacs import FakePacs
from tests.http.conftest import LiveServer
from tests.images import dicom_bytes, pydicom_file_bytes, pydicom_testdata

OOD_TYPE = "urn:brainxai:problem:out-of-distribution"


def _png(pixels: np.ndarray, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _noise() -> bytes:
    return _png((np.random.default_rng(0).random((96, 96)) * 255).astype(np.uint8))


def _mr_with_pixels(gray: np.ndarray, **tags: str) -> pydicom.Dataset:
    """pydicom's small MR header carrying ``gray`` (uint8) as its pixels, with ``tags`` set."""
    dataset = pydicom_testdata("MR_small.dcm")
    pixels = (gray.astype(np.float64) * 16).astype(np.int16)
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.PixelData = pixels.tobytes()
    dataset.WindowCenter, dataset.WindowWidth = 2040, 4080
    for tag, value in tags.items():
        setattr(dataset, tag, value)
    return dataset


@pytest.fixture(scope="module")
def serve(start_ood_server: Callable[..., LiveServer]) -> Callable[..., LiveServer]:
    return start_ood_server


@pytest.fixture(scope="module")
def phantom_png(serve: Callable[..., LiveServer], held_aside_phantoms: list[Path]) -> bytes:
    """A held-aside phantom the check accepts (about 1 in 10 may be refused: the test model's target)."""
    with serve(ood_policy="flag").client() as client:
        for path in held_aside_phantoms:
            answer = client.post("/predict", content=path.read_bytes(), headers={"content-type": "image/png"})
            if answer.json()["input_check"]["in_distribution"]:
                return path.read_bytes()
    raise AssertionError("the check refused every held-aside phantom")


def _count(metrics: str, outcome: str, reason: str) -> float:
    prefix = f'brainxai_input_checks_total{{outcome="{outcome}",reason="{reason}"}} '
    lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(lines[0][len(prefix) :]) if lines else 0.0


def test_every_answer_carries_the_input_check_and_a_known_image_is_answered(
    serve: Callable[..., LiveServer], phantom_png: bytes
) -> None:
    with serve().client() as client:
        predicted = client.post("/predict", content=phantom_png, headers={"content-type": "image/png"})
        json_please = {"content-type": "image/png", "accept": "application/json"}
        explained = client.post("/explain", content=phantom_png, headers=json_please)
    assert predicted.status_code == 200, predicted.text
    check = predicted.json()["input_check"]
    assert check["in_distribution"] is True and check["reason"] is None
    assert check["score"] <= check["threshold"]
    assert explained.status_code == 200, explained.text
    again = explained.json()["input_check"]  # Grad-CAM's TorchScript pass, not ONNX Runtime's: equal within 1e-3
    assert again["in_distribution"] and again["score"] == pytest.approx(check["score"], abs=1e-2)


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("noise", _noise()),
        ("a photograph in grey", _png(samples.camera())),
        ("a colour photograph", _png(samples.astronaut(), "RGB")),
        ("a blank image", _png(np.zeros((64, 64), np.uint8))),
    ],
)
def test_the_reject_policy_answers_422_out_of_distribution_without_a_class(
    serve: Callable[..., LiveServer], name: str, body: bytes
) -> None:
    with serve().client() as client:
        for route in ("/predict", "/explain"):
            response = client.post(route, content=body, headers={"content-type": "image/png"})
            assert response.status_code == 422, (name, route, response.text)
            problem = response.json()
            assert problem["type"] == OOD_TYPE and response.headers["content-type"] == "application/problem+json"
            assert "label" not in problem and "probabilities" not in problem
            summary = problem["input_check"]["summary"]
            assert problem["reason"] and problem["detail"] == f"Not answered. {summary}"
            assert summary in PLAIN_SENTENCES.values() and not any(char.isdigit() for char in problem["detail"])
            assert problem["input_check"]["in_distribution"] is False
            assert problem["threshold"] == problem["input_check"]["threshold"]


def test_the_flag_policy_answers_as_usual_with_the_check(serve: Callable[..., LiveServer]) -> None:
    with serve(ood_policy="flag").client() as client:
        predicted = client.post("/predict", content=_noise(), headers={"content-type": "image/png"})
        png = {"content-type": "image/png", "accept": "image/png"}
        overlay = client.post("/explain", content=_noise(), headers=png)
    assert predicted.status_code == 200, predicted.text
    answer = predicted.json()
    assert answer["label"] in answer["probabilities"]
    assert answer["input_check"]["in_distribution"] is False and answer["input_check"]["reason"]
    assert answer["input_check"]["score"] > answer["input_check"]["threshold"]
    assert overlay.status_code == 200 and overlay.headers["x-in-distribution"] == "false"


def test_no_dicom_result_is_made_of_an_out_of_distribution_input_under_either_policy(
    serve: Callable[..., LiveServer],
) -> None:
    noise = (np.random.default_rng(1).random((64, 64)) * 255).astype(np.uint8)
    body = dicom_bytes(_mr_with_pixels(noise))
    headers = {"content-type": "application/dicom", "accept": "application/dicom"}
    for policy in ("reject", "flag"):
        with serve(ood_policy=policy).client() as client:
            report = client.post("/predict", content=body, headers=headers)
            capture = client.post("/explain", content=body, headers=headers)
        assert report.status_code == capture.status_code == 422, (policy, report.text)
        assert report.json()["type"] == capture.json()["type"] == OOD_TYPE


def test_an_abdominal_mr_is_refused_through_the_dicom_path_naming_its_body_part(
    serve: Callable[..., LiveServer],
) -> None:
    body = pydicom_file_bytes("examples_overlay.dcm")  # pydicom's MR of the abdomen (BodyPartExamined ABDOMEN)
    with serve().client() as client:
        response = client.post("/predict", content=body, headers={"content-type": "application/dicom"})
    assert response.status_code == 422, response.text
    assert response.json()["type"] == OOD_TYPE
    assert "BodyPartExamined 'ABDOMEN'" in response.json()["reason"]


def test_the_bridge_refuses_an_out_of_distribution_instance_and_stores_nothing(
    serve: Callable[..., LiveServer],
) -> None:
    source = pydicom_testdata("examples_overlay.dcm")
    uids = {
        "study_instance_uid": str(source.StudyInstanceUID),
        "series_instance_uid": str(source.SeriesInstanceUID),
        "sop_instance_uid": str(source.SOPInstanceUID),
    }
    with FakePacs(pydicom_file_bytes("examples_overlay.dcm")) as fake:
        for policy in ("reject", "flag"):
            with serve(dicomweb_url=fake.url, ood_policy=policy).client() as client:
                response = client.post("/v1/dicomweb/analyze", json=uids)
            assert response.status_code == 422, response.text
            assert response.json()["type"] == OOD_TYPE and "ABDOMEN" in response.json()["reason"]
        assert fake.stored == []


def test_the_model_card_says_the_policy_and_the_detector(serve: Callable[..., LiveServer]) -> None:
    for policy in ("reject", "flag"):
        with serve(ood_policy=policy).client() as client:
            card = client.get("/v1/model").json()
        assert card["ood_policy"] == policy
        assert card["feature_detector"]["detector"] == "mahalanobis-l2" and card["feature_detector"]["threshold"] > 0


def test_refusals_and_flags_are_counted_by_kind(serve: Callable[..., LiveServer], phantom_png: bytes) -> None:
    kinds = [("flagged", "content"), ("flagged", "colour"), ("accepted", "none")]
    with serve(ood_policy="flag").client() as client:
        before = client.get("/metrics").text
        client.post("/predict", content=_noise(), headers={"content-type": "image/png"})
        client.post("/predict", content=_png(samples.astronaut(), "RGB"), headers={"content-type": "image/png"})
        client.post("/predict", content=phantom_png, headers={"content-type": "image/png"})
        after = client.get("/metrics").text
    assert [_count(after, *kind) - _count(before, *kind) for kind in kinds] == [1.0, 1.0, 1.0]
    with serve().client() as client:
        before = client.get("/metrics").text
        client.post("/predict", content=_noise(), headers={"content-type": "image/png"})
        after = client.get("/metrics").text
    assert _count(after, "refused", "content") - _count(before, "refused", "content") == 1.0
