"""The service's typed errors and the one place that turns any error into RFC 9457 problem details."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlcore.errors import BrainxaiError, ImageError
from mlcore.explainers import DeadlineExceeded, ExplainerError

PROBLEM_JSON = "application/problem+json"


class ServiceError(BrainxaiError):
    """An error with an HTTP meaning: a status, a short title and a slug for the problem type."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    slug: ClassVar[str] = "internal"

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra: dict[str, Any] = {}  # RFC 9457 extension members of the answer, added where it is raised


class BadRequest(ServiceError):
    status, title, slug = 400, "Bad request", "bad-request"


class Unauthorized(ServiceError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class NotAcceptable(ServiceError):
    status, title, slug = 406, "Not acceptable", "not-acceptable"


class PayloadTooLarge(ServiceError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaType(ServiceError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


class UnprocessableImage(ServiceError):
    status, title, slug = 422, "Unprocessable image", "unprocessable-image"


class InvalidParameter(ServiceError):
    status, title, slug = 422, "Invalid parameter", "invalid-parameter"


class Busy(ServiceError):
    status, title, slug = 503, "Service busy", "busy"


class NotReady(ServiceError):
    status, title, slug = 503, "Not ready", "not-ready"


class NotFound(ServiceError):
    status, title, slug = 404, "Not found", "not-found"


class NotConfigured(ServiceError):
    status, title, slug = 503, "Not configured", "not-configured"


class BadGateway(ServiceError):
    status, title, slug = 502, "Bad gateway", "bad-gateway"


class GatewayTimeout(ServiceError):
    status, title, slug = 504, "Gateway timeout", "gateway-timeout"


def problem_body(
    status: int, title: str, slug: str, detail: str, instance: str, request_id: str | None, **extra: Any
) -> dict[str, Any]:
    """The RFC 9457 body every error answer has, with the request id so that logs and answers can be matched."""
    return {
        "type": f"urn:brainxai:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
        **extra,
    }


def problem(request: Request, status: int, title: str, slug: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem-details response for a request that reached the routes."""
    request_id = getattr(request.state, "request_id", None)
    body = problem_body(status, title, slug, detail, request.url.path, request_id, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _classify(exc: Exception) -> ServiceError | None:
    """Map the shared errors of mlcore onto their HTTP meaning."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, ImageError):
        return UnprocessableImage(str(exc))
    if isinstance(exc, ExplainerError):
        return InvalidParameter(str(exc))
    if isinstance(exc, DeadlineExceeded):
        return Busy(f"{exc}; try again later or with fewer samples", {"Retry-After": "5"})
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: brainxai errors, validation errors and HTTP errors.

    Anything else propagates to :class:`service.middleware.RequestContextMiddleware`, which logs
    it with the request id and answers with :func:`unexpected_problem`.
    """

    async def on_brainxai_error(request: Request, exc: Exception) -> JSONResponse:
        mapped = _classify(exc)
        if mapped is None:
            raise exc  # not an HTTP-meaningful error: RequestContextMiddleware answers 500
        response = problem(request, mapped.status, mapped.title, mapped.slug, mapped.detail, **mapped.extra)
        response.headers.update(mapped.headers)
        return response

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"location": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors)
        return problem(request, 422, "Invalid parameter", "invalid-parameter", detail, errors=errors)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        response = problem(request, exc.status_code, _reason(exc.status_code), "http", str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    app.add_exception_handler(BrainxaiError, on_brainxai_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def unexpected_problem(path: str, request_id: str | None) -> dict[str, Any]:
    """The answer to anything unexpected: a 500 problem that says nothing of the internals."""
    detail = "an unexpected error occurred; it has been logged with this request id"
    return problem_body(500, "Internal error", "internal", detail, path, request_id)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
