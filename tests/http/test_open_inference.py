"""The Open Inference Protocol (KServe V2 REST) proven with a real client: Triton's ``tritonclient[http]``."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image
from skimage import data as samples
from tritonclient.utils import InferenceServerException

from mlcore.artifact import load
from mlcore.preprocessing import PreprocessSpec, preprocess
from service.analysis.decoding import decode
from service.image import DecodeOptions
from tests.http.conftest import LiveServer
from tests.images import sample_path

MODEL = "tiny-test-model"


def _client(server: LiveServer, **kwargs: object) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=server.url.removeprefix("http://"), **kwargs)  # type: ignore[arg-type]


def _image_input(data: bytes) -> triton.InferInput:
    image = triton.InferInput("image", [1], "BYTES")
    image.set_data_from_numpy(np.array([data], dtype=object))
    return image


def test_health_and_metadata_through_tritonclient(server: LiveServer) -> None:
    client = _client(server)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, "0.0.0")
    metadata = client.get_model_metadata(MODEL)
    assert metadata["name"] == MODEL and metadata["versions"] == ["0.0.0"]
    assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == {"image": "BYTES", "input": "FP32"}
    assert metadata["outputs"][0] == {"name": "probabilities", "datatype": "FP32", "shape": [1, 4]}
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]


def test_infer_gives_the_probabilities_of_predict(server: LiveServer) -> None:
    data = sample_path("glioma").read_bytes()
    with server.client() as http:
        predicted = http.post("/predict", content=data, headers={"Content-Type": "image/jpeg"}).json()
    result = _client(server).infer(MODEL, [_image_input(data)])
    classes = result.get_response()["parameters"]["classes"].split(",")
    probabilities = result.as_numpy("probabilities")[0]
    for name, value in zip(classes, probabilities, strict=True):
        assert value == pytest.approx(predicted["probabilities"][name], abs=1e-6)
    assert result.as_numpy("label")[0].decode() == predicted["label"]
    assert result.get_response()["parameters"]["in_distribution"] is True


def test_a_preprocessed_tensor_and_an_explanation(server: LiveServer, tiny_model_path: object) -> None:
    data = sample_path("meningioma").read_bytes()
    spec = PreprocessSpec.from_manifest(load(tiny_model_path).manifest)  # type: ignore[arg-type]
    tensor = preprocess(decode(data, "image/jpeg", DecodeOptions(max_pixels=10**8)).pixels, spec).numpy()
    fp32 = triton.InferInput("input", list(tensor.shape), "FP32")
    fp32.set_data_from_numpy(tensor.astype(np.float32))
    client = _client(server)
    from_tensor = client.infer(MODEL, [fp32]).as_numpy("probabilities")
    from_image = client.infer(MODEL, [_image_input(data)]).as_numpy("probabilities")
    np.testing.assert_allclose(from_tensor, from_image, atol=1e-6)
    outputs = [triton.InferRequestedOutput("heatmap"), triton.InferRequestedOutput("label", binary_data=False)]
    explained = client.infer(MODEL, [_image_input(data)], outputs=outputs, parameters={"explain": "gradcam"})
    heatmap = explained.as_numpy("heatmap")
    assert heatmap.shape[0] == 1 and heatmap.shape[1:] == decode(data, None, DecodeOptions(10**8)).pixels.shape
    assert heatmap.min() >= 0.0 and heatmap.max() == pytest.approx(1.0)
    assert explained.as_numpy("probabilities") is None  # only what was asked
    facts = explained.get_output("heatmap")["parameters"]  # the evidence check travels with the map
    assert facts["evidence_verdict"] in ("depends", "does_not_depend", "inconclusive")
    assert 0 <= facts["evidence_probability_after"] <= 1 and facts["evidence_fill"] == "inpaint"


def test_errors_come_in_the_protocols_shape(server: LiveServer, start_server: Callable[..., LiveServer]) -> None:
    client = _client(server)
    with pytest.raises(InferenceServerException) as unknown:
        client.get_model_metadata("resnet50")
    assert unknown.value.status() == "404" and "not resnet50" in unknown.value.message()
    with pytest.raises(InferenceServerException) as garbage:
        client.infer(MODEL, [_image_input(b"not an image")])
    assert garbage.value.status() == "415" and "image" in garbage.value.message()  # no decoder reads it
    with pytest.raises(InferenceServerException) as no_map:  # a heatmap without 'explain' is refused before work
        client.infer(MODEL, [_image_input(b"x")], outputs=[triton.InferRequestedOutput("heatmap")])
    assert no_map.value.status() == "400" and "needs 'explain'" in no_map.value.message()
    with httpx.Client(base_url=server.url) as http:
        bad = http.post(f"/v2/models/{MODEL}/infer", content=b"{}")
        assert bad.status_code == 400 and bad.json().keys() == {"error"}
        huge = http.post(f"/v2/models/{MODEL}/infer", content=b"x" * (21 * 1024 * 1024))
        assert huge.status_code == 413 and "limit" in huge.json()["error"]
    keyed = start_server(api_keys=("k1",))
    with pytest.raises(InferenceServerException) as unauthorised:
        _client(keyed).infer(MODEL, [_image_input(sample_path().read_bytes())])
    assert unauthorised.value.status() == "401"
    assert _client(keyed).infer(MODEL, [_image_input(sample_path().read_bytes())], headers={"X-API-Key": "k1"})


def test_the_input_check_refuses_through_the_protocol_too(start_ood_server: Callable[..., LiveServer]) -> None:
    server = start_ood_server()
    name = httpx.get(f"{server.url}/v1/model").json()["name"]
    buffer = io.BytesIO()
    Image.fromarray(samples.astronaut()).save(buffer, format="PNG")  # a colour photograph
    with pytest.raises(InferenceServerException) as refused:
        _client(server).infer(name, [_image_input(buffer.getvalue())])
    assert refused.value.status() == "422" and "Not answered" in refused.value.message()


def test_the_shipped_model_over_the_protocol_as_over_predict(start_server: Callable[..., LiveServer]) -> None:
    """The shipped model (its temperature, its input check) through tritonclient: the calibrated probabilities of
    /predict; a wrong name or version a documented 404 (an empty version is no version); an out-of-distribution
    image refused as /predict refuses it."""
    from mlcore.artifact import DEFAULT_MODEL

    shipped = load(DEFAULT_MODEL).manifest
    name, version = shipped["name"], shipped["version"]
    server = start_server(model_path=DEFAULT_MODEL)
    client = _client(server)
    data = sample_path("meningioma").read_bytes()
    with server.client() as http:
        predicted = http.post("/predict", content=data, headers={"Content-Type": "image/jpeg"}).json()
        assert http.get(f"/v2/models/{name}", params={"model_version": ""}).status_code == 200
        spec = http.get("/openapi.json").json()
        noise = (np.random.default_rng(0).random((128, 128)) * 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noise).save(buffer, format="PNG")
        refused_by_predict = http.post("/predict", content=buffer.getvalue(), headers={"Content-Type": "image/png"})
    result = client.infer(name, [_image_input(data)], model_version=version)
    classes = result.get_response()["parameters"]["classes"].split(",")
    for label, value in zip(classes, result.as_numpy("probabilities")[0], strict=True):
        assert value == pytest.approx(predicted["probabilities"][label], abs=1e-6)
    assert shipped["feature_detector"]["temperature"] != 1.0  # so that skipping it would show
    for wrong in ((f"{name}-other", ""), (name, "0.0.0")):
        with pytest.raises(InferenceServerException) as missing:
            client.infer(wrong[0], [_image_input(data)], model_version=wrong[1])
        assert missing.value.status() == "404"
    for path in ("/v2/models/{model_name}/infer", "/v2/models/{model_name}/versions/{model_version}/infer"):
        assert "404" in spec["paths"][path]["post"]["responses"]
    assert refused_by_predict.status_code == 422
    with pytest.raises(InferenceServerException) as refused:
        client.infer(name, [_image_input(buffer.getvalue())])
    assert refused.value.status() == "422" and refused_by_predict.json()["detail"] in refused.value.message()
