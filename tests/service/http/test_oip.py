"""The Open Inference Protocol's wire format: JSON and binary tensors in, JSON or binary outputs back."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from service.errors import RequestError
from service.http.oip import HEADER_LENGTH, Tensor, encode_infer_response, parse_infer_request


def _binary_request(header: dict, blobs: list[bytes]) -> tuple[bytes, str]:
    text = json.dumps(header).encode()
    return text + b"".join(blobs), str(len(text))


def test_binary_bytes_and_fp32_inputs_are_read() -> None:
    png = b"\x89PNG\r\n\x1a\n-pretend"
    values = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    bytes_blob = struct.pack("<I", len(png)) + png
    header = {
        "id": "r1",
        "inputs": [
            {"name": "image", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": len(bytes_blob)}},
            {"name": "input", "datatype": "FP32", "shape": [1, 2, 3], "parameters": {"binary_data_size": 24}},
        ],
        "outputs": [{"name": "label", "parameters": {"binary_data": True}}],
    }
    body, length = _binary_request(header, [bytes_blob, values.tobytes()])
    request = parse_infer_request(body, length)
    assert request.id == "r1" and request.inputs["image"].data == [png]
    np.testing.assert_array_equal(request.inputs["input"].data, values)
    assert request.outputs == {"label": {"binary_data": True}}


def test_json_inputs_and_malformed_requests() -> None:
    body = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [2], "data": [1.5, 2.5]}]}).encode()
    assert parse_infer_request(body, None).inputs["input"].data.tolist() == [1.5, 2.5]
    for bad in (b"not json", b"{}", b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [3], "data": [1]}]}',
                b'{"inputs": [{"name": "x", "datatype": "BF16", "shape": [1], "data": [1]}]}'):  # fmt: skip
        with pytest.raises(RequestError):
            parse_infer_request(bad, None)


def test_outputs_go_back_as_json_or_binary_as_asked() -> None:
    probabilities = np.array([[0.25, 0.75]], dtype=np.float32)
    outputs = [Tensor("probabilities", "FP32", (1, 2), probabilities), Tensor("label", "BYTES", (1,), [b"glioma"])]
    asked = parse_infer_request(json.dumps({"inputs": [], "outputs": [{"name": "label", "parameters": {
        "binary_data": True}}, {"name": "probabilities"}]}).encode(), None)  # fmt: skip
    body, headers = encode_infer_response({"model_name": "m"}, outputs, asked)
    length = int(headers[HEADER_LENGTH])
    header = json.loads(body[:length])
    assert header["outputs"][0]["data"] == [0.25, 0.75]
    assert header["outputs"][1]["parameters"]["binary_data_size"] == 10
    assert body[length:] == struct.pack("<I", 6) + b"glioma"
    plain, none = encode_infer_response({}, outputs, parse_infer_request(b'{"inputs": []}', None))
    assert none == {} and json.loads(plain)["outputs"][1]["data"] == ["glioma"]
