"""Every endpoint against a real uvicorn server: predictions, explanations, the model card, health."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import httpx
import numpy as np
import pytest
from PIL import Image

from mlcore import artifact
from mlcore.artifact import DEFAULT_MODEL, file_sha256
from mlcore.cpu import cpu_info, int8_scheme
from tests.helpers import CLASSES, SAMPLES
from tests.http.conftest import LiveServer
from tests.images import image_variants, mr_dicom_bytes, sample_path


def _check_prediction(body: dict, server: LiveServer) -> None:  # type: ignore[type-arg]
    assert set(body["probabilities"]) == set(CLASSES)
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert body["label"] == max(body["probabilities"], key=body["probabilities"].get)
    assert body["model"]["sha256"] == file_sha256(server.app.state.brainxai.settings.model_path)
    assert body["timing"]["total_ms"] >= body["timing"]["inference_ms"] > 0


@pytest.mark.parametrize("variant", sorted(image_variants()))
def test_predict_accepts_every_png_and_jpeg_flavour_as_raw_body(
    client: httpx.Client, server: LiveServer, variant: str
) -> None:
    data, content_type = image_variants()[variant]
    response = client.post("/predict", content=data, headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    _check_prediction(response.json(), server)


def test_predict_multipart_and_raw_give_the_same_answer(client: httpx.Client) -> None:
    data = sample_path().read_bytes()
    multipart = client.post("/predict", files={"file": ("scan.jpg", data, "image/jpeg")}).json()
    raw = client.post("/predict", content=data, headers={"content-type": "image/jpeg"}).json()
    generic = client.post("/predict", files={"file": ("scan", data, "application/octet-stream")}).json()
    assert multipart["probabilities"] == raw["probabilities"] == generic["probabilities"]


def test_predict_dicom(client: httpx.Client, server: LiveServer) -> None:
    response = client.post("/predict", content=mr_dicom_bytes(), headers={"content-type": "application/dicom"})
    assert response.status_code == 200, response.text
    _check_prediction(response.json(), server)


def test_request_id_is_accepted_and_echoed(client: httpx.Client) -> None:
    data = sample_path().read_bytes()
    response = client.post("/predict", content=data, headers={"content-type": "image/jpeg", "x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123" == response.json()["request_id"]
    fresh = client.post("/predict", content=data, headers={"content-type": "image/jpeg", "x-request-id": "bad id!"})
    assert fresh.headers["x-request-id"] != "bad id!" and len(fresh.headers["x-request-id"]) == 32


def test_explain_png_is_the_overlay_at_the_original_size_with_a_legend(client: httpx.Client) -> None:
    path = sample_path("meningioma")
    width, height = Image.open(path).size
    response = client.post("/explain?method=gradcam", files={"file": (path.name, path.read_bytes(), "image/jpeg")})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    overlay = Image.open(io.BytesIO(response.content))
    assert overlay.height == height and overlay.width > width  # the legend strip sits on the right
    assert response.headers["x-explained-target"] in CLASSES


def _explain_json(client: httpx.Client, query: str, label: str = "glioma") -> dict:  # type: ignore[type-arg]
    path = sample_path(label)
    response = client.post(
        f"/explain?{query}",
        content=path.read_bytes(),
        headers={"content-type": "image/jpeg", "accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _heatmap(body: dict) -> np.ndarray:  # type: ignore[type-arg]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(body["heatmap"]["png_base64"]))))


FAST_QUERY = {
    "gradcam": "",
    "lime": "&num_samples=100",
    "integrated_gradients": "&n_steps=8",
    "occlusion": "&window=16&stride=8",
}


@pytest.mark.parametrize("method", sorted(FAST_QUERY))
def test_explain_json_has_scores_parameters_and_the_raw_map(client: httpx.Client, method: str) -> None:
    query = f"method={method}" + FAST_QUERY[method]
    body = _explain_json(client, query)
    width, height = Image.open(sample_path("glioma")).size
    heatmap = _heatmap(body)
    assert heatmap.shape == (height, width) and heatmap.dtype == np.uint8
    assert heatmap.max() == 255  # normalised: the most relevant pixel is 255
    assert body["method"] == method and body["target"] == body["label"]
    assert body["heatmap"]["summary"]["width"] == width
    if method == "lime":
        assert body["parameters"]["num_samples"] == 100 and "seed" in body["parameters"]


def test_lime_is_deterministic_for_identical_requests(start_server: Callable[..., LiveServer]) -> None:
    with start_server(explain_cache_size=0).client() as uncached:  # both answers computed, none from the cache
        first = _explain_json(uncached, "method=lime&num_samples=150&seed=3")
        second = _explain_json(uncached, "method=lime&num_samples=150&seed=3")
        other_seed = _explain_json(uncached, "method=lime&num_samples=150&seed=4")
    assert np.array_equal(_heatmap(first), _heatmap(second))
    assert not np.array_equal(_heatmap(first), _heatmap(other_seed))  # the seed is what makes it repeatable


def test_model_card_health_and_readiness(client: httpx.Client, server: LiveServer) -> None:
    card = client.get("/v1/model").json()
    assert card["classes"] == CLASSES and card["name"] == "tiny-test-model"
    assert card["sha256"] == file_sha256(server.app.state.brainxai.settings.model_path)
    # The tiny model has no calibration images: LIME and Occlusion stay on float32.
    assert card["runtimes"] == {
        "predict": "onnxruntime-fp32",
        "gradcam": "onnxruntime-fp32 maps, torchscript-fp32 head",
        "integrated_gradients": "torchscript-fp32",
        "lime": "onnxruntime-fp32",
        "occlusion": "onnxruntime-fp32",
    }
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json()["status"] == "ready"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_runtimes_follow_the_settings_and_the_shipped_model_explains_in_int8(
    start_server: Callable[..., LiveServer],
) -> None:
    shipped = DEFAULT_MODEL
    cases = (
        ({"model_path": shipped}, "onnxruntime-fp32", "onnxruntime-int8"),
        ({"model_path": shipped, "explain_precision": "fp32"}, "onnxruntime-fp32", "onnxruntime-fp32"),
        ({"runtime": "torchscript"}, "torchscript-fp32", "torchscript-fp32"),
    )
    for overrides, predict, forward_only in cases:
        with start_server(**overrides).client() as http:
            card = http.get("/v1/model").json()
        runtimes = card["runtimes"]
        assert runtimes["predict"] == predict, overrides
        assert runtimes["integrated_gradients"] == "torchscript-fp32"
        assert runtimes["gradcam"] == (
            "torchscript-fp32" if predict == "torchscript-fp32" else f"{predict} maps, torchscript-fp32 head"
        )
        assert runtimes["lime"] == runtimes["occlusion"] == forward_only, overrides  # int8 on every CPU kind
        assert card["cpu"] == cpu_info()
        if forward_only == "onnxruntime-int8":  # the start-up check's numbers and the scheme chosen for this CPU
            assert card["int8"]["scheme"] == int8_scheme() and card["int8"]["mean_abs_dp"] <= 0.02
        else:
            assert card["int8"] is None


def test_metrics_count_requests_by_route_and_status(client: httpx.Client) -> None:
    client.post("/predict", content=sample_path().read_bytes(), headers={"content-type": "image/jpeg"})
    client.post("/predict", content=b"", headers={"content-type": "image/png"})
    text = client.get("/metrics").text
    assert 'brainxai_http_requests_total{method="POST",route="/predict",status="200"}' in text
    assert 'brainxai_http_requests_total{method="POST",route="/predict",status="400"}' in text
    assert 'brainxai_inference_seconds_count{method="predict"}' in text
    assert "brainxai_http_requests_in_flight" in text and "brainxai_http_request_duration_seconds_bucket" in text


def test_identical_explanations_come_from_the_cache(client: httpx.Client) -> None:
    sample = next(SAMPLES.glob("pituitary/*.jpg")).read_bytes()
    url = "/explain?method=occlusion&window=16&stride=8"
    first = client.post(url, content=sample, headers={"Content-Type": "image/jpeg"})
    again = client.post(url, content=sample, headers={"Content-Type": "image/jpeg"})
    other = client.post(url + "&target=glioma", content=sample, headers={"Content-Type": "image/jpeg"})
    assert first.status_code == again.status_code == other.status_code == 200
    assert first.headers["X-Explanation-Cache"] == "miss" and again.headers["X-Explanation-Cache"] == "hit"
    assert again.content == first.content
    assert other.headers["X-Explanation-Cache"] == "miss"


def test_the_model_card_route_names_what_each_number_is(start_server: Callable[..., LiveServer]) -> None:
    """/v1/model on the shipped model: the probability calibration before/after with its temperature, equal to the
    manifest's (and so to the generated model card's); the int8 images under a name that says so; no plain ``ece``
    that is the uncalibrated one."""
    with start_server(model_path=DEFAULT_MODEL).client() as http:
        card = http.get("/v1/model").json()
    manifest = artifact.load(DEFAULT_MODEL).manifest
    fitted = manifest["feature_detector"]
    assert card["probability_calibration"] == {
        "method": fitted["calibration"]["method"],
        "temperature": fitted["temperature"],
        "ece_before": fitted["calibration"]["ece_before"],
        "ece_after": fitted["calibration"]["ece_after"],
        "n": fitted["calibration"]["n"],
    }
    assert card["probability_calibration"]["ece_after"] < card["probability_calibration"]["ece_before"]
    assert "calibration" not in card and card["int8_calibration"] == manifest["calibration"]
    validation = card["metrics"]["validation"]
    assert "ece" not in validation and validation["ece_before_temperature"] == manifest["metrics"]["validation"]["ece"]


def test_every_explanation_checks_its_evidence_and_a_setting_turns_it_off(
    start_server: Callable[..., LiveServer],
) -> None:
    """The JSON answer carries the check, an image answer its headers, /metrics counts it by verdict; with
    BRAINXAI_EVIDENCE_CHECK off there is none."""
    image = sample_path().read_bytes()
    with start_server(explain_cache_size=0).client() as http:
        for method in ("gradcam", "occlusion"):  # a gradient method and a forward-only one: the same check
            answer = _explain_json(http, f"method={method}")
            check = answer["evidence_check"]
            assert check["verdict"] in ("depends", "does_not_depend", "inconclusive")
            assert check["answered"] == answer["target"] and check["fill"] == "inpaint"
            assert check["probability_before"] == pytest.approx(answer["probabilities"][answer["target"]], abs=1e-3)
            assert 0 < check["region_share"] <= 0.25 and check["sentence"].endswith(").")
        png = http.post("/explain?method=gradcam", content=image, headers={"content-type": "image/jpeg"})
        assert png.headers["x-evidence-verdict"] in ("depends", "does_not_depend", "inconclusive")
        assert 0 <= float(png.headers["x-evidence-probability-after"]) <= 1
        counted = [
            line
            for line in http.get("/metrics").text.splitlines()
            if line.startswith("brainxai_evidence_checks_total{")
        ]
        assert sum(float(line.split()[-1]) for line in counted) == 3.0
    with start_server(evidence_check=False).client() as http:
        assert _explain_json(http, "method=gradcam")["evidence_check"] is None
        png = http.post("/explain?method=gradcam", content=image, headers={"content-type": "image/jpeg"})
        assert "x-evidence-verdict" not in png.headers
