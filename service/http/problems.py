"""The one place that turns errors into HTTP: RFC 9457 problem details.

:data:`HTTP_PROBLEMS` maps each class of the error tree (:mod:`mlcore.errors`) to a status, a title
and a problem-type slug; an error takes the entry of its nearest class. An error with no entry (and
anything unexpected) is answered 500 by :class:`service.http.middleware.RequestContextMiddleware`, with
nothing of the internals. The OpenAPI error responses are generated from the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlcore import errors
from service import errors as service_errors
from service.schemas import Problem, ProtocolError

OIP_PREFIX = "/v2"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    """How one class of error is answered over HTTP."""

    status: int
    title: str
    slug: str


HTTP_PROBLEMS: dict[type[errors.BrainxaiError], ProblemType] = {
    service_errors.RequestError: ProblemType(400, "Bad request", "bad-request"),
    service_errors.Unauthorized: ProblemType(401, "Unauthorized", "unauthorized"),
    service_errors.PacsNotFound: ProblemType(404, "Not found", "not-found"),
    service_errors.NotAcceptable: ProblemType(406, "Not acceptable", "not-acceptable"),
    service_errors.NotDicom: ProblemType(406, "Not acceptable", "not-acceptable"),
    service_errors.ImageTooLarge: ProblemType(413, "Payload too large", "payload-too-large"),
    service_errors.UnsupportedImageType: ProblemType(415, "Unsupported media type", "unsupported-media-type"),
    errors.ImageError: ProblemType(422, "Unprocessable image", "unprocessable-image"),
    service_errors.UnsupportedSopClass: ProblemType(422, "Unprocessable image", "unprocessable-image"),
    service_errors.DatasetMismatch: ProblemType(422, "Unprocessable image", "unprocessable-image"),
    errors.OutOfDistribution: ProblemType(422, "Out of distribution", "out-of-distribution"),
    errors.ParameterError: ProblemType(422, "Invalid parameter", "invalid-parameter"),
    service_errors.PacsError: ProblemType(502, "Bad gateway", "bad-gateway"),
    service_errors.PacsUnreachable: ProblemType(502, "Bad gateway", "bad-gateway"),
    service_errors.Busy: ProblemType(503, "Service busy", "busy"),
    errors.DeadlineExceeded: ProblemType(503, "Timed out", "timeout"),
    service_errors.NotReady: ProblemType(503, "Not ready", "not-ready"),
    service_errors.NotConfigured: ProblemType(503, "Not configured", "not-configured"),
    service_errors.ModelNotFound: ProblemType(404, "Model not found", "model-not-found"),
    service_errors.StorageFailed: ProblemType(507, "Insufficient storage", "insufficient-storage"),
    service_errors.PacsTimeout: ProblemType(504, "Gateway timeout", "gateway-timeout"),
}
VALIDATION = ProblemType(422, "Invalid parameter", "invalid-parameter")


def problem_type(exc: BaseException) -> ProblemType | None:
    """The HTTP meaning of an error: the entry of its nearest class in :data:`HTTP_PROBLEMS`, else None."""
    for cls in type(exc).__mro__:
        if cls in HTTP_PROBLEMS:
            return HTTP_PROBLEMS[cls]
    return None


def problem_body(kind: ProblemType, detail: str, *, instance: str, request_id: str | None, **extra: Any) -> dict:
    """The RFC 9457 body every error answer has, with the request id so that logs and answers can be matched."""
    return {
        "type": f"urn:brainxai:problem:{kind.slug}",
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
        **extra,
    }


def in_protocol_shape(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """An error body as the route's protocol wants it, and its media type: RFC 9457 problem details, or on the Open
    Inference Protocol's routes (``/v2``, ``/v2/...``) that protocol's ``{"error": message}``."""
    path = str(body.get("instance", ""))
    if path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/"):
        return {"error": body["detail"]}, "application/json"
    return body, PROBLEM_JSON


def problem_response(request: Request, kind: ProblemType, detail: str, **extra: Any) -> JSONResponse:
    """A problem-details response (in the route's protocol's shape) for a request that reached the routes."""
    request_id = getattr(request.state, "request_id", None)
    body = problem_body(kind, detail, instance=request.url.path, request_id=request_id, **extra)
    content, media_type = in_protocol_shape(body)
    return JSONResponse(content, status_code=kind.status, media_type=media_type)


def error_response(request: Request, exc: errors.BrainxaiError, kind: ProblemType) -> JSONResponse:
    """The answer to a brainxai error of HTTP meaning ``kind``, with Retry-After when the error gives one."""
    response = problem_response(request, kind, exc.message, **exc.extra)
    if exc.retry_after_s is not None:
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    if isinstance(exc, service_errors.Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="brainxai"'
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: brainxai errors, request validation errors and Starlette's HTTP errors."""

    async def on_brainxai_error(request: Request, exc: Exception) -> JSONResponse:
        kind = problem_type(exc)
        if kind is None or not isinstance(exc, errors.BrainxaiError):
            raise exc  # no HTTP meaning: RequestContextMiddleware logs it and answers 500
        return error_response(request, exc, kind)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        found = exc.errors() if isinstance(exc, RequestValidationError) else []
        listed = [
            {"location": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", "")} for err in found
        ]
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in listed)
        return problem_response(request, VALIDATION, detail, errors=listed)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        kind = ProblemType(status, _reason(status), "http")
        response = problem_response(request, kind, str(getattr(exc, "detail", "")))
        response.headers.update(getattr(exc, "headers", None) or {})
        return response

    app.add_exception_handler(errors.BrainxaiError, on_brainxai_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def unexpected_problem(path: str, request_id: str | None) -> dict[str, Any]:
    """The answer to anything unexpected: a 500 problem that says nothing of the internals."""
    detail = "an unexpected error occurred; it has been logged with this request id"
    return problem_body(ProblemType(500, "Internal error", "internal"), detail, instance=path, request_id=request_id)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these statuses, described from the errors the table maps to each."""
    entries: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        causes = [
            (cls.__doc__ or cls.__name__).strip().rstrip(".")
            for cls, kind in HTTP_PROBLEMS.items()
            if kind.status == status
        ]
        if status == VALIDATION.status:
            causes.append("A query parameter or body field out of its bounds")
        described = "; or ".join(dict.fromkeys(causes)) or _reason(status)
        entries[status] = {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": described + (" (see Retry-After)" if status == 503 else ""),
        }
    return entries


def protocol_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The same entries for the Open Inference Protocol's routes, whose errors are ``{"error": message}``."""
    return {
        status: {"model": ProtocolError, "description": entry["description"]}
        for status, entry in problem_responses(*statuses).items()
    }


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
