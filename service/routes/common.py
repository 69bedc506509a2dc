"""Small helpers the routers share."""

from __future__ import annotations

from service.inference import Predictor
from service.schemas import ModelRef


def model_ref(predictor: Predictor) -> ModelRef:
    """Name, version and sha256 of the served model."""
    manifest = predictor.model.manifest
    return ModelRef(name=manifest["name"], version=manifest["version"], sha256=predictor.model.sha256)
