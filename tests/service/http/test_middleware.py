"""The ASGI middleware on a bare app: request ids (kept when safe), metrics and logs per request, a 500 that
says nothing for anything unexpected, and bodies over the limit refused by Content-Length or while streaming."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from service.http.limits import WorkQueue
from service.http.middleware import BodyLimitMiddleware, LoadSheddingMiddleware, RequestContextMiddleware
from service.logs import FIELDS
from service.metrics import Metrics


async def _echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body and answers 200 with its length; a body of b"boom" raises."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if body == b"boom":
        raise RuntimeError("secret /etc/passwd")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def _call(app: Any, chunks: list[bytes], headers: dict[str, str] | None = None) -> list[Message]:
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _status_and_headers(sent: list[Message]) -> tuple[int, dict[bytes, bytes]]:
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], dict(start["headers"])


def test_each_request_is_logged_with_its_fields(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="service.access"):
        _call(
            RequestContextMiddleware(_echo_app, Metrics()),
            [b"abc"],
            {"content-type": "image/png", "content-length": "3"},
        )
    record = caplog.records[-1]
    fields = {name: getattr(record, name, None) for name in FIELDS}
    assert fields["status"] == 200 and fields["method"] == "POST" and fields["route"] == "unmatched"
    assert fields["content_type"] == "image/png" and fields["bytes"] == 3 and fields["latency_ms"] >= 0
    assert len(fields["request_id"]) == 32


def test_a_safe_request_id_is_kept_and_an_unsafe_one_replaced() -> None:
    metrics = Metrics()
    app = RequestContextMiddleware(_echo_app, metrics)
    _, kept = _status_and_headers(_call(app, [b"abc"], {"x-request-id": "trace-42"}))
    assert kept[b"x-request-id"] == b"trace-42"
    _, replaced = _status_and_headers(_call(app, [b"abc"], {"x-request-id": "bad id\nwith newline"}))
    assert len(replaced[b"x-request-id"]) == 32 and b" " not in replaced[b"x-request-id"]
    counted = metrics.requests.labels("unmatched", "POST", "200")._value.get()
    assert counted == 2


def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing() -> None:
    metrics = Metrics()
    sent = _call(RequestContextMiddleware(_echo_app, metrics), [b"boom"], {"x-request-id": "r-1"})
    status, headers = _status_and_headers(sent)
    body = json.loads(next(m for m in sent if m["type"] == "http.response.body")["body"])
    assert status == 500 and headers[b"content-type"] == b"application/problem+json"
    assert body["request_id"] == "r-1" and "passwd" not in json.dumps(body)
    assert metrics.requests.labels("unmatched", "POST", "500")._value.get() == 1


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    metrics = Metrics()
    app = BodyLimitMiddleware(_echo_app, max_bytes=1024, metrics=metrics)
    status, _ = _status_and_headers(_call(app, [b"x" * 10], {"content-length": "5000"}))
    assert status == 413
    assert metrics.rejections.labels("too_large")._value.get() == 1
    ok, _ = _status_and_headers(_call(app, [b"x" * 1000]))
    assert ok == 200


def test_a_streamed_body_over_the_limit_is_refused_while_it_arrives() -> None:
    metrics = Metrics()
    app = RequestContextMiddleware(BodyLimitMiddleware(_echo_app, max_bytes=1024, metrics=metrics), metrics)
    sent = _call(app, [b"x" * 600, b"x" * 600, b"x" * 600])
    status, _ = _status_and_headers(sent)
    body = json.loads(next(m for m in sent if m["type"] == "http.response.body")["body"])
    assert status == 413 and "exceeds the limit of 1,024 bytes" in body["detail"]


def test_load_shedding_refuses_from_the_request_line_when_the_line_is_full() -> None:
    metrics = Metrics()
    queue = WorkQueue("predict", 1, max_queue=0, max_wait_s=1.0, observer=metrics.observer())
    reads: list[int] = []

    async def counting_app(scope: Scope, receive: Receive, send: Send) -> None:
        reads.append(1)
        await _echo_app(scope, receive, send)

    app = LoadSheddingMiddleware(counting_app, lambda path, query: queue if path == "/predict" else None)
    ok, _ = _status_and_headers(_call(app, [b"abc"]))
    assert ok == 200 and reads == [1]
    queue.in_use = 1  # the one worker is busy and no one may wait
    sent = _call(app, [b"abc"])
    status, headers = _status_and_headers(sent)
    body = json.loads(next(m for m in sent if m["type"] == "http.response.body")["body"])
    assert status == 503 and headers[b"retry-after"] == b"1" and headers[b"connection"] == b"close"
    assert body["type"] == "urn:brainxai:problem:busy" and "full" in body["detail"]
    assert reads == [1]  # the app (and the body) were never reached
    assert metrics.rejections.labels("busy_predict")._value.get() == 1
