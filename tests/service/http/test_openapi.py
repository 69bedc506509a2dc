"""The committed OpenAPI spec is what the app generates, and lists the registered methods and their parameters."""

from __future__ import annotations

import json

from mlcore.explainers import REGISTRY, method_names
from service.http.openapi import SPEC_PATH, render_spec


def test_committed_openapi_spec_is_current() -> None:
    assert SPEC_PATH.read_text() == render_spec(), "openapi/openapi.json is stale: run python -m service.http.openapi"


def test_methods_in_the_committed_spec_are_the_registered_explainers() -> None:
    spec = json.loads(SPEC_PATH.read_text())
    assert spec["components"]["schemas"]["Method"]["enum"] == method_names()
    parameters = {p["name"] for p in spec["paths"]["/explain"]["post"]["parameters"]}
    declared = {key for cls in REGISTRY.values() for key in cls.parameters}
    assert declared <= parameters
