"""The shipped model served over HTTP: the committed samples through /predict and /explain, as a user sends them."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from mlcore.artifact import DEFAULT_MODEL
from mlcore.input_check.check import PLAIN_SENTENCES
from tests.helpers import CLASSES, NOT_BRAIN, SAMPLES
from tests.http.conftest import LiveServer
from tests.images import pydicom_file_bytes

JPEG = {"content-type": "image/jpeg"}


@pytest.fixture(scope="module")
def shipped_server(start_server: Callable[..., LiveServer]) -> LiveServer:
    """The shipped model with the default settings but TorchScript (no ONNX conversion: a faster start)."""
    return start_server(model_path=DEFAULT_MODEL, runtime="torchscript")


def test_the_committed_samples_are_classified_as_their_folders(shipped_server: LiveServer) -> None:
    """Two validation images per class, a seeded draw (not picked to pass); the card's accuracy is 99 %."""
    samples = sorted(SAMPLES.glob("*/*.jpg"))
    with shipped_server.client() as http:
        labels = [http.post("/predict", content=path.read_bytes(), headers=JPEG).json()["label"] for path in samples]
    correct = [label == path.parent.name for label, path in zip(labels, samples, strict=True)]
    assert sum(correct) >= 7, list(zip([p.name for p in samples], labels, strict=True))


def test_explain_target_selects_the_class_and_every_class_has_its_own_map(shipped_server: LiveServer) -> None:
    sample = sorted((SAMPLES / "glioma").glob("*.jpg"))[0].read_bytes()
    maps = {}
    with shipped_server.client() as http:
        for target in CLASSES:
            answer = http.post(
                f"/explain?method=gradcam&target={target}",
                content=sample,
                headers={**JPEG, "accept": "application/json"},
            ).json()
            assert answer["target"] == target and answer["label"] == "glioma"
            raw = base64.b64decode(answer["heatmap"]["png_base64"])
            maps[target] = np.asarray(Image.open(io.BytesIO(raw)))
    for index, one in enumerate(CLASSES):
        for other in CLASSES[index + 1 :]:
            assert np.mean(np.abs(maps[one].astype(int) - maps[other].astype(int))) > 2, (one, other)


def test_the_shipped_input_check_accepts_the_samples_and_refuses_other_images(shipped_server: LiveServer) -> None:
    """The committed brain samples are answered; a chest radiograph, an abdominal MR, a head CT and a colour overlay
    (committed, tests/data/not-brain/SOURCES.md; none in the gate's fit), a photograph, a retina and noise are not."""
    from skimage import data as other_images

    noise = (np.random.default_rng(0).random((128, 128)) * 255).astype(np.uint8)
    png = {"content-type": "image/png"}
    others = {path.stem: path.read_bytes() for path in sorted(NOT_BRAIN.glob("*.png"))}
    assert set(others) == {"chest-radiograph", "abdominal-mr", "head-ct", "colour-overlay"}
    others |= {
        "photograph": _png(other_images.camera()),
        "retina (grey)": _png((other_images.retina().mean(axis=2)).astype(np.uint8)),
        "noise": _png(noise),
    }
    with shipped_server.client() as http:
        for path in sorted(SAMPLES.glob("*/*.jpg")):
            check = http.post("/predict", content=path.read_bytes(), headers=JPEG).json()["input_check"]
            assert check["in_distribution"] and check["score"] <= check["threshold"], (path.name, check)
            assert check["reason"] is None and check["summary"] is None
        for name, body in others.items():
            answer = http.post("/predict", content=body, headers=png)
            assert answer.status_code == 422 and answer.json()["type"].endswith("out-of-distribution"), name
            check = answer.json()["input_check"]
            assert check["in_distribution"] is False and check["reason"] and "label" not in answer.json(), name


def test_an_abdominal_mr_as_dicom_is_refused_by_its_tags_and_by_its_content(
    start_server: Callable[..., LiveServer],
) -> None:
    """pydicom's abdominal MR (BodyPartExamined ABDOMEN): refused for its tags by default, and for its content when
    the server is told to ignore the tags."""
    body = pydicom_file_bytes("examples_overlay.dcm")
    dicom = {"content-type": "application/dicom"}
    for setting, kind in (("refuse", "body-part"), ("ignore", "content")):
        server = start_server(model_path=DEFAULT_MODEL, runtime="torchscript", dicom_body_part_check=setting)
        with server.client() as http:
            answer = http.post("/predict", content=body, headers=dicom)
        assert answer.status_code == 422 and answer.json()["type"].endswith("out-of-distribution"), answer.text
        summary = answer.json()["input_check"]["summary"]
        assert summary == PLAIN_SENTENCES[kind], (setting, summary)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
