"""Small helpers the routers share."""

from __future__ import annotations

from service.image import DecodeOptions
from service.inference import Predictor
from service.schemas import ModelRef
from service.settings import Settings


def model_ref(predictor: Predictor) -> ModelRef:
    """Name, version and sha256 of the served model."""
    manifest = predictor.model.manifest
    return ModelRef(name=manifest["name"], version=manifest["version"], sha256=predictor.model.sha256)


def decode_options(settings: Settings, frame: int | None) -> DecodeOptions:
    """How to decode this request's image: the server's limits and the frame asked for."""
    return DecodeOptions(max_pixels=settings.max_image_pixels, frame=frame, allow_non_mr=settings.allow_non_mr)
