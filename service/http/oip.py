"""The Open Inference Protocol (KServe V2 REST) on the wire: infer requests in, infer responses out.

Tensors come as JSON ``data`` or, with the binary-data extension that Triton's clients use, as raw bytes after a
JSON header whose length is the ``Inference-Header-Content-Length`` header (each binary input's byte count in its
``parameters.binary_data_size``). A BYTES tensor in binary form is each element as a 4-byte little-endian length and
its bytes; FP32 is little-endian float32. Outputs go back as JSON unless binary is asked for (an output's
``parameters.binary_data`` or the request's ``parameters.binary_data_output``). Nothing here knows about the model.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.errors import RequestError

HEADER_LENGTH = "Inference-Header-Content-Length"
NUMERIC = {"FP32": np.float32, "FP64": np.float64, "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8}


@dataclass(frozen=True)
class Tensor:
    """One input or output: name, datatype, shape, and its data (an array, or a list of bytes for BYTES)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: Any
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InferRequest:
    """A parsed infer request: its id, parameters, inputs by name, and the outputs asked for (None: all)."""

    id: str | None
    parameters: dict[str, Any]
    inputs: dict[str, Tensor]
    outputs: dict[str, dict[str, Any]] | None


def _bytes_elements(raw: bytes) -> list[bytes]:
    """A binary BYTES tensor's elements."""
    elements, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise RequestError("a BYTES tensor's binary data ends inside an element length")
        (length,) = struct.unpack_from("<I", raw, offset)
        elements.append(raw[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return elements


def _tensor(spec: dict[str, Any], raw: bytes | None) -> Tensor:
    name, datatype = str(spec.get("name", "")), str(spec.get("datatype", ""))
    shape = tuple(int(n) for n in spec.get("shape", ()))
    if datatype == "BYTES":
        data: Any = _bytes_elements(raw) if raw is not None else [_text_bytes(v) for v in spec.get("data", [])]
    elif datatype in NUMERIC:
        dtype = NUMERIC[datatype]
        values = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")) if raw is not None else spec.get("data")
        data = np.asarray(values, dtype=dtype)
        if data.size != int(np.prod(shape)):
            raise RequestError(f"input {name!r}: {data.size} values do not fill the shape {list(shape)}")
        data = data.reshape(shape)
    else:
        raise RequestError(f"input {name!r}: datatype {datatype!r} is not supported (BYTES, FP32)")
    return Tensor(name, datatype, shape, data, dict(spec.get("parameters") or {}))


def _text_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """An infer request from its body (JSON, or a JSON header and binary tensors); 400 for a malformed one."""
    try:
        length = int(header_length) if header_length is not None else len(body)
        header = json.loads(body[:length])
        if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
            raise ValueError("the request needs an 'inputs' list")
        binary, offset, inputs = body[length:], 0, {}
        for spec in header["inputs"]:
            size = (spec.get("parameters") or {}).get("binary_data_size")
            raw = binary[offset : offset + int(size)] if size is not None else None
            offset += int(size or 0)
            tensor = _tensor(spec, raw)
            inputs[tensor.name] = tensor
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RequestError(f"not a valid inference request: {exc}") from exc
    outputs = header.get("outputs")
    asked = {str(o["name"]): dict(o.get("parameters") or {}) for o in outputs} if outputs else None
    request_id = header.get("id")
    return InferRequest(
        str(request_id) if request_id is not None else None, header.get("parameters") or {}, inputs, asked
    )


def _as_binary(tensor: Tensor) -> bytes:
    if tensor.datatype == "BYTES":
        return b"".join(struct.pack("<I", len(item)) + item for item in tensor.data)
    return np.ascontiguousarray(tensor.data, dtype=np.dtype(NUMERIC[tensor.datatype]).newbyteorder("<")).tobytes()


def encode_infer_response(
    header: dict[str, Any], outputs: list[Tensor], request: InferRequest
) -> tuple[bytes, dict[str, str]]:
    """The response body and its extra headers: ``header`` (model name, version, id) with the outputs, each in
    JSON or, when asked, in binary after the JSON."""
    all_binary = bool(request.parameters.get("binary_data_output"))
    described, blobs = [], []
    for tensor in outputs:
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        if tensor.parameters:
            entry["parameters"] = dict(tensor.parameters)
        wanted = (request.outputs or {}).get(tensor.name, {})
        if wanted.get("binary_data", all_binary):
            blob = _as_binary(tensor)
            entry["parameters"] = {**entry.get("parameters", {}), "binary_data_size": len(blob)}
            blobs.append(blob)
        elif tensor.datatype == "BYTES":
            entry["data"] = [item.decode("utf-8", "replace") for item in tensor.data]
        else:
            entry["data"] = np.asarray(tensor.data).ravel().tolist()
        described.append(entry)
    text = json.dumps({**header, "outputs": described}).encode()
    if not blobs:
        return text, {}
    return text + b"".join(blobs), {HEADER_LENGTH: str(len(text))}
