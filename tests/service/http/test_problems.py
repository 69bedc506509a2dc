"""The one mapping from errors to HTTP: every error class of the tree has a status (or is deliberately a 500),
the nearest class wins, problem bodies follow RFC 9457, and the OpenAPI descriptions come from the table."""

from __future__ import annotations

import inspect

from mlcore import errors
from service import errors as service_errors
from service.http.problems import HTTP_PROBLEMS, problem_body, problem_responses, problem_type

# Errors that are bugs or start-up failures when they reach a request: answered 500, with nothing of the internals.
INTERNAL = {errors.BrainxaiError, errors.ArtifactError, errors.DatasetError, errors.TrainingError}


def test_every_error_class_has_an_http_meaning_or_is_internal() -> None:
    classes = {
        cls
        for module in (errors, service_errors)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, errors.BrainxaiError)
    }
    assert classes - INTERNAL == set(HTTP_PROBLEMS)


def test_the_nearest_class_decides() -> None:
    assert problem_type(service_errors.ImageTooLarge("x")).status == 413  # not ImageError's 422
    assert problem_type(errors.ImageError("x")).status == 422
    assert (
        problem_type(service_errors.PacsTimeout("x")).status == 504
        and problem_type(service_errors.PacsNotFound("x")).status == 404
    )
    assert problem_type(errors.DeadlineExceeded("x")).slug == "timeout"
    assert problem_type(service_errors.Busy("x")).slug == "busy"  # a client can tell a full server from a slow answer
    assert problem_type(errors.ArtifactError("x")) is None and problem_type(ValueError("x")) is None


def test_problem_bodies_follow_rfc_9457() -> None:
    body = problem_body(
        HTTP_PROBLEMS[service_errors.Busy], "all slots taken", instance="/predict", request_id="r", extra=1
    )
    assert body == {
        "type": "urn:brainxai:problem:busy",
        "title": "Service busy",
        "status": 503,
        "detail": "all slots taken",
        "instance": "/predict",
        "request_id": "r",
        "extra": 1,
    }


def test_openapi_responses_describe_the_errors_of_each_status() -> None:
    responses = problem_responses(404, 502, 504)
    assert "no such instance" in responses[404]["description"]
    assert "cannot be reached" in responses[502]["description"]
    assert "did not answer in time" in responses[504]["description"]
    assert len({entry["description"] for entry in responses.values()}) == 3  # not copies of one another
