"""ASGI middleware: request ids, access logs and metrics; and the upload size limit, while streaming."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlcore.errors import BrainxaiError
from service.errors import Busy, ImageTooLarge
from service.http.limits import WorkQueue
from service.http.problems import HTTP_PROBLEMS, in_protocol_shape, problem_body, problem_type, unexpected_problem
from service.metrics import Metrics

log = logging.getLogger("service.access")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MULTIPART_OVERHEAD = 64 * 1024


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID`` accepted when safe, echoed), logs and measures it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _SAFE_ID.match(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        response_started = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            kind = problem_type(exc)
            if isinstance(exc, BrainxaiError) and kind is not None:  # raised outside the routes (e.g. while streaming)
                body = problem_body(kind, exc.message, instance=scope.get("path", ""), request_id=request_id)
            else:
                log.exception("unexpected error", extra={"request_id": request_id, "route": scope.get("path")})
                body = unexpected_problem(scope.get("path", ""), request_id)
            if not response_started:
                await _send_json(send_with_id, body["status"], body)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route, str(status)).observe(elapsed)
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "route": route,
                    "method": scope["method"],
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 2),
                    "content_type": headers.get(b"content-type", b"").decode("latin-1") or None,
                    "bytes": int(length) if (length := headers.get(b"content-length", b"")).isdigit() else None,
                },
            )


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413: by Content-Length at once, else while they stream in."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.max_bytes + (MULTIPART_OVERHEAD if multipart else 0)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            self.metrics.reject("too_large")
            detail = f"the body is {int(declared):,} bytes; the limit is {limit:,}"
            request_id = scope.get("state", {}).get("request_id")
            body = problem_body(HTTP_PROBLEMS[ImageTooLarge], detail, instance=scope["path"], request_id=request_id)
            await _send_json(send, 413, body)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    self.metrics.reject("too_large")
                    raise ImageTooLarge(f"the body exceeds the limit of {limit:,} bytes")
            return message

        await self.app(scope, counting_receive, send)


class LoadSheddingMiddleware:
    """Refuses model work whose queue is full (or would make it wait too long) before its body is read.

    Under a burst of clients that retry at once, a refusal must cost next to nothing, or answering the
    excess takes the CPU from the admitted work: this answers the 503 (with Retry-After and
    ``Connection: close``, the body unread) from the request line alone. ``queue_of`` names the queue a
    request would wait in, from its path and query (None: not model work, or not known before the body).
    """

    def __init__(self, app: ASGIApp, queue_of: Callable[[str, str], WorkQueue | None]) -> None:
        self.app = app
        self.queue_of = queue_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            queue = self.queue_of(scope["path"], scope.get("query_string", b"").decode("latin-1"))
            reason = queue.refusal() if queue is not None else None
            if queue is not None and reason is not None:
                error = queue.shed(reason)
                request_id = scope.get("state", {}).get("request_id")
                body = problem_body(HTTP_PROBLEMS[Busy], error.message, instance=scope["path"], request_id=request_id)
                retry = str(int(error.retry_after_s or 1)).encode()
                await _send_json(send, 503, body, extra_headers=[(b"retry-after", retry)])
                return
        await self.app(scope, receive, send)


async def _send_json(
    send: Send, status: int, body: dict[str, Any], extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    content, media_type = in_protocol_shape(body)
    payload = json.dumps(content).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
                *(extra_headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
