"""The explanation methods' query parameters, generated from their declarations.

FastAPI reads a dependency's signature to know its query parameters, their bounds and their OpenAPI
schema; :func:`method_parameters_dependency` builds that signature from every registered method's
``parameters``, so the API, its validation and the committed spec follow the declarations. A name
that two methods share must be declared alike by both (checked here, at app start).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query

from mlcore.explainers import explainer_class, method_names
from mlcore.explainers.base import Parameter


def method_enum() -> type[StrEnum]:
    """An enum of the registered methods' names (its OpenAPI schema is ``Method``)."""
    method = StrEnum("Method", {name: name for name in method_names()})  # type: ignore[misc]
    method.__doc__ = "Explanation methods served by /explain (GET /v1/methods describes each)."
    return method


def shared_parameters() -> dict[str, tuple[Parameter, list[str]]]:
    """Every declared parameter name, its declaration and the titles of the methods that take it."""
    found: dict[str, tuple[Parameter, list[str]]] = {}
    for name in method_names():
        cls = explainer_class(name)
        for key, spec in cls.parameters.items():
            if key in found and _bounds(found[key][0]) != _bounds(spec):
                raise TypeError(f"parameter {key!r} is declared differently by {found[key][1]} and {cls.title}")
            found.setdefault(key, (spec, []))[1].append(cls.title)
    return found


def method_parameters_dependency() -> Callable[..., dict[str, Any]]:
    """A FastAPI dependency whose query parameters are the methods' declared ones; it returns those given."""
    signature = []
    for key, (spec, titles) in shared_parameters().items():
        query = Query(
            ge=spec.minimum,
            le=spec.maximum,
            description=f"{', '.join(titles)}: {spec.description} (default {spec.default})",
        )
        annotation = Annotated[spec.kind | None, query]  # type: ignore[name-defined]
        signature.append(inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))

    def given(**values: Any) -> dict[str, Any]:
        return {key: value for key, value in values.items() if value is not None}

    given.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    return given


def _bounds(spec: Parameter) -> tuple[type, float | None, float | None]:
    return spec.kind, spec.minimum, spec.maximum
