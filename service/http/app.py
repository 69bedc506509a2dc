"""The app factory: ``create_app(settings)`` wires settings, middleware, routers and the model."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service.http.api_docs import install_api_docs
from service.http.limits import WorkQueue
from service.http.middleware import BodyLimitMiddleware, LoadSheddingMiddleware, RequestContextMiddleware
from service.http.problems import install_error_handlers
from service.http.routes import dicomweb, explain, predict, system, v2, viewer
from service.http.state import AppState
from service.loading import load_analyser
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger("service")

WARM_UP_MARGIN = 1.5  # the warm-up's measured service times, scaled: the queues' estimates until work finishes
DESCRIPTION = """Explainable brain-tumour MRI classification (glioma, meningioma, pituitary tumour, no tumour)
on 2D slices. Research use only: not a medical device.

Send an image as multipart field `file` or as the raw body with its content type
(`image/png`, `image/jpeg`, `application/dicom`). Errors are RFC 9457 problem details."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A configured app; the model is loaded (and warmed up) by the lifespan, before traffic is served."""
    settings = settings or Settings()
    metrics = Metrics()
    state = AppState(settings=settings, metrics=metrics, queues=work_queues(settings, metrics))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.analyser = await run_in_threadpool(load_analyser, settings, state.metrics)
        for kind, seconds in (await run_in_threadpool(state.analyser.measure_work)).items():
            # A cold burst is then refused at once instead of waiting out its budget; with a margin, since work
            # served under concurrent requests takes longer than the warm-up's lone run.
            state.queues[kind].prime(WARM_UP_MARGIN * seconds)
        state.ready = True
        yield
        state.ready = False

    app = FastAPI(
        title="brainxai",
        version="1.3.1",
        description=DESCRIPTION,
        lifespan=lifespan,
        license_info={"name": "Apache-2.0"},
        docs_url=None,  # served from packaged assets by install_api_docs, not from a CDN
        redoc_url=None,
    )
    app.state.brainxai = state
    install_error_handlers(app)
    install_api_docs(app)
    app.include_router(predict.router)
    app.include_router(explain.build_router())
    app.include_router(dicomweb.router)
    app.include_router(system.router)
    app.include_router(system.operations)
    app.include_router(viewer.router)
    app.include_router(v2.health)
    app.include_router(v2.router)
    app.add_middleware(LoadSheddingMiddleware, queue_of=state.queue_for_request)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes, metrics=metrics)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


def work_queues(settings: Settings, metrics: Metrics) -> dict[str, WorkQueue]:
    """One queue per kind of work: predictions, light and heavy explanation methods (their declared cost)."""
    workers = {
        "predict": settings.predict_concurrency,
        "light": settings.light_explain_concurrency,
        "heavy": settings.heavy_explain_concurrency,
    }
    names = {"predict": "predict", "light": "light_explain", "heavy": "heavy_explain"}
    return {
        kind: WorkQueue(
            names[kind],
            count,
            max_queue=settings.max_queue,
            max_wait_s=settings.max_wait_s,
            observer=metrics.observer(),
        )
        for kind, count in workers.items()
    }
