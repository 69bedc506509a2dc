"""The shipped model served over HTTP: the committed samples through /predict and /explain, as a user sends them."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from mlcore.artifact import DEFAULT_MODEL
from tests.helpers import CLASSES, SAMPLES
from tests.http.conftest import LiveServer

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
    """The committed brain samples are answered; a photograph, a retina photograph and noise are not. (pydicom's
    abdominal MR slice is answered by 3.0.0, whose threshold must accept another collection's brain slices: a known
    miss, docs/RELIABILITY.md; the reason naming a DICOM's other body part is tested in test_input_check.py.)"""
    from skimage import data as other_images

    noise = (np.random.default_rng(0).random((128, 128)) * 255).astype(np.uint8)
    png = {"content-type": "image/png"}
    others = {
        "photograph": (_png(other_images.camera()), png),
        "retina (grey)": (_png((other_images.retina().mean(axis=2)).astype(np.uint8)), png),
        "noise": (_png(noise), png),
    }
    with shipped_server.client() as http:
        for path in sorted(SAMPLES.glob("*/*.jpg")):
            check = http.post("/predict", content=path.read_bytes(), headers=JPEG).json()["input_check"]
            assert check["in_distribution"] and check["score"] <= check["threshold"], (path.name, check)
        for name, (body, headers) in others.items():
            answer = http.post("/predict", content=body, headers=headers)
            assert answer.status_code == 422 and answer.json()["type"].endswith("out-of-distribution"), name


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
