"""Reading a request's image: multipart field ``file`` or the raw body; missing parts and oversize are errors."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from service.errors import ImageTooLarge, RequestError
from service.http.upload import read_upload
from service.image import Upload


def _request(body: bytes, content_type: str) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "headers": [(b"content-type", content_type.encode())],
    }
    sent = [False]

    async def receive() -> dict[str, object]:
        if sent[0]:
            return {"type": "http.disconnect"}
        sent[0] = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def _multipart(name: str, data: bytes, part_type: str) -> tuple[bytes, str]:
    boundary = "b0und4ry"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="x"\r\n'
            f"Content-Type: {part_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_the_raw_body_with_its_declared_type() -> None:
    upload = asyncio.run(read_upload(_request(b"\x89PNG-bytes", "Image/PNG"), 1024))
    assert upload == Upload(b"\x89PNG-bytes", "image/png")


def test_the_multipart_file_part_with_its_own_type() -> None:
    body, content_type = _multipart("file", b"\xff\xd8\xff-jpeg", "image/jpeg")
    upload = asyncio.run(read_upload(_request(body, content_type), 1024))
    assert upload == Upload(b"\xff\xd8\xff-jpeg", "image/jpeg")


def test_a_multipart_body_without_a_file_part_is_a_request_error() -> None:
    body, content_type = _multipart("image", b"data", "image/png")
    with pytest.raises(RequestError, match="no file part named 'file'"):
        asyncio.run(read_upload(_request(body, content_type), 1024))


def test_uploads_over_the_limit_are_refused_in_both_forms() -> None:
    with pytest.raises(ImageTooLarge, match="1,024 bytes"):
        asyncio.run(read_upload(_request(b"x" * 1025, "image/png"), 1024))
    body, content_type = _multipart("file", b"x" * 1025, "image/png")
    with pytest.raises(ImageTooLarge):
        asyncio.run(read_upload(_request(body, content_type), 1024))
