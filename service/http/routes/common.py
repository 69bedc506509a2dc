"""Small helpers the routers share: content negotiation, the frame query parameter, timings."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Query

from service.analysis.pipeline import Analysis
from service.errors import NotAcceptable
from service.schemas import Timing

FrameQuery = Annotated[
    int | None, Query(ge=0, le=100_000, description="frame of a multi-frame DICOM (default: the middle one)")
]


def timing(analysis: Analysis, started: float) -> Timing:
    """Milliseconds by stage of one analysis, the total counted from ``started`` (a perf_counter instant)."""
    return Timing(
        decode_ms=round(analysis.decode_ms, 3),
        inference_ms=round(analysis.prediction.inference_ms, 3),
        explain_ms=round(analysis.explain_ms, 3) if analysis.explanations else None,
        total_ms=round((time.perf_counter() - started) * 1000, 3),
    )


def negotiate(accept: str | None, offers: tuple[str, ...], route: str) -> str:
    """The media type to answer with: the best of ``offers`` for an Accept header (the first by default).

    Honours q-values and ``type/*`` wildcards; :class:`NotAcceptable` when nothing acceptable is offered.
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
