"""Bad input gets a clear 4xx problem detail, never a 500; unexpected failures leak no internals."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.http.conftest import LiveServer
from tests.images import dicom_without_pixels, encode, phantom_gray, sample_path

JPEG = {"content-type": "image/jpeg"}


def _problem(response: httpx.Response, status: int, *words: str) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"] and body["title"]
    assert body["request_id"] == response.headers["x-request-id"]
    for word in words:
        assert word in body["detail"], body["detail"]
    return body  # type: ignore[no-any-return]


def test_empty_body(client: httpx.Client) -> None:
    _problem(client.post("/predict", content=b"", headers={"content-type": "image/png"}), 400, "no image")


def test_undecodable_and_truncated_images(client: httpx.Client) -> None:
    _problem(client.post("/predict", content=b"\x89PNG\r\n\x1a\n garbage", headers={"content-type": "image/png"}), 422)
    data = sample_path().read_bytes()
    _problem(client.post("/predict", content=data[: len(data) // 2], headers=JPEG), 422, "truncated")
    png = encode(Image.fromarray(phantom_gray(), "L"), "PNG")
    _problem(client.post("/predict", content=png[:-40], headers={"content-type": "image/png"}), 422)


def test_declared_type_that_does_not_match_the_bytes(client: httpx.Client) -> None:
    png = encode(Image.fromarray(phantom_gray(), "L"), "PNG")
    _problem(client.post("/predict", content=png, headers=JPEG), 422, "JPEG")


def test_unsupported_types(client: httpx.Client) -> None:
    _problem(client.post("/predict", content=b"hello", headers={"content-type": "text/plain"}), 415, "text/plain")
    gif = encode(Image.fromarray(phantom_gray(), "L"), "GIF")
    _problem(client.post("/predict", content=gif, headers={"content-type": "image/gif"}), 415)
    _problem(client.post("/predict", files={"file": ("x.gif", gif, "application/octet-stream")}), 415)


def test_tiny_image(client: httpx.Client) -> None:
    png = encode(Image.fromarray(np.zeros((4, 4), np.uint8), "L"), "PNG")
    _problem(client.post("/predict", content=png, headers={"content-type": "image/png"}), 422, "at least 8")


@pytest.fixture(scope="module")
def small_limits(start_server: Callable[..., LiveServer]) -> Iterator[httpx.Client]:
    server = start_server(max_upload_bytes=50_000, max_image_pixels=1_000_000)
    with server.client() as http:
        yield http


def test_upload_over_the_limit_by_content_length(small_limits: httpx.Client) -> None:
    _problem(small_limits.post("/predict", content=b"\xff\xd8\xff" + b"0" * 60_000, headers=JPEG), 413, "limit")


def test_upload_over_the_limit_while_streaming(small_limits: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(40):
            yield b"\xff" * 4096

    _problem(small_limits.post("/predict", content=chunks(), headers=JPEG), 413, "limit")
    big = b"\xff\xd8\xff" + b"0" * 120_000
    _problem(small_limits.post("/predict", files={"file": ("big.jpg", big, "image/jpeg")}), 413)


def test_decompression_bomb_is_refused_before_decoding(small_limits: httpx.Client) -> None:
    # A valid PNG header announcing 20000×20000 pixels, with a few bytes of compressed data.
    import struct

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )
    _problem(small_limits.post("/predict", content=bomb, headers={"content-type": "image/png"}), 413, "pixels")


def test_unknown_method_target_and_out_of_bounds_parameters(client: httpx.Client) -> None:
    data = sample_path().read_bytes()
    _problem(client.post("/explain?method=shap", content=data, headers=JPEG), 422, "method")
    _problem(client.post("/explain?target=astrocytoma", content=data, headers=JPEG), 422, "astrocytoma")
    _problem(client.post("/explain?method=lime&num_samples=10", content=data, headers=JPEG), 422, "num_samples")
    _problem(client.post("/explain?method=lime&num_samples=4000", content=data, headers=JPEG), 422, "at most")
    _problem(client.post("/explain?method=gradcam&num_samples=100", content=data, headers=JPEG), 422, "no parameter")


def test_malformed_multipart(client: httpx.Client) -> None:
    headers = {"content-type": "multipart/form-data; boundary=xyz"}
    body = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\nunterminated'
    response = client.post("/predict", content=body, headers=headers)
    _problem(response, 400)
    no_file = client.post("/predict", data={"other": "field"}, files={"x": ("a.txt", b"hi", "text/plain")})
    _problem(no_file, 400, "'file'")


def test_not_acceptable(client: httpx.Client) -> None:
    data = sample_path().read_bytes()
    _problem(client.post("/explain", content=data, headers={**JPEG, "accept": "text/html"}), 406, "image/png")


def test_dicom_without_pixels(client: httpx.Client) -> None:
    response = client.post("/predict", content=dicom_without_pixels(), headers={"content-type": "application/dicom"})
    _problem(response, 422, "no pixel data")
    _problem(client.post("/predict", content=b"\0" * 200, headers={"content-type": "application/dicom"}), 422)


def test_unknown_route_is_a_problem_too(client: httpx.Client) -> None:
    _problem(client.get("/nope"), 404)


@pytest.fixture(scope="module")
def keyed(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server(api_keys=("k-one", "k-two"))


def test_api_keys(keyed: LiveServer) -> None:
    data = sample_path().read_bytes()
    with keyed.client() as http:
        missing = http.post("/predict", content=data, headers=JPEG)
        _problem(missing, 401, "API key")
        assert "Bearer" in missing.headers["www-authenticate"]
        _problem(http.post("/predict", content=data, headers={**JPEG, "x-api-key": "k-three"}), 401)
        assert http.post("/predict", content=data, headers={**JPEG, "x-api-key": "k-two"}).status_code == 200
        assert http.post("/explain", content=data, headers={**JPEG, "authorization": "Bearer k-one"}).status_code == 200
        _problem(http.get("/v1/model"), 401)
        for open_route in ("/healthz", "/readyz", "/metrics"):
            assert http.get(open_route).status_code == 200


def test_protected_health(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(api_keys=("secret",), protect_health=True)
    with server.client() as http:
        _problem(http.get("/healthz"), 401)
        assert http.get("/metrics", headers={"x-api-key": "secret"}).status_code == 200


def test_unexpected_errors_leak_nothing(
    server: LiveServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyser = server.app.state.brainxai.analyser

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal state /etc/passwd")

    monkeypatch.setattr(analyser, "analyse", explode)
    body = _problem(client.post("/predict", content=sample_path().read_bytes(), headers=JPEG), 500)
    assert "secret" not in body["detail"] and "passwd" not in str(body)


def test_no_error_path_answers_500(client: httpx.Client) -> None:
    png = encode(Image.fromarray(phantom_gray(), "L"), "PNG")
    cases = [
        ("/predict", b"", "image/png"),
        ("/predict", b"\0" * 10, "image/jpeg"),
        ("/predict", png, "image/jpeg"),
        ("/predict", b"DICM", "application/dicom"),
        ("/explain", png[:50], "image/png"),
        ("/explain?method=lime&seed=-1", png, "image/png"),
        ("/predict", io.BytesIO(b"x").read(), ""),
    ]
    for route, data, content_type in cases:
        response = client.post(route, content=data, headers={"content-type": content_type} if content_type else {})
        assert 400 <= response.status_code < 500, (route, content_type, response.text)
