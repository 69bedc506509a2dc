"""Small helpers the routers share."""

from __future__ import annotations

from service.errors import NotAcceptable
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


def negotiate(accept: str | None, offers: tuple[str, ...], route: str) -> str:
    """The media type to answer with: the best of ``offers`` for an Accept header (the first by default).

    Honours q-values and ``type/*`` wildcards; 406 when nothing acceptable is offered.
    """
    if not accept:
        return offers[0]
    ranked = []
    for order, part in enumerate(accept.split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, order, media.lower()))
    for _, _, media in sorted(ranked):
        if media == "*/*":
            return offers[0]
        for offer in offers:
            if media == offer or (media.endswith("/*") and offer.startswith(media[:-1])):
                return offer
    listed = ", ".join(offers)
    raise NotAcceptable(f"cannot answer with {accept!r}; {route} gives {listed} (the first is the default)")
