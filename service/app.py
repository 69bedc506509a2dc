"""The app factory: ``create_app(settings)`` wires settings, middleware, routers and the model."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from mlcore import artifact
from mlcore.onnx_forward import int8_forward_for, onnx_forward
from service.errors import install_error_handlers
from service.inference import Predictor
from service.limits import Limiter
from service.metrics import Metrics
from service.middleware import BodyLimitMiddleware, RequestContextMiddleware
from service.routes import dicomweb, explain, predict, system, viewer
from service.settings import Settings
from service.state import AppState

log = logging.getLogger("service")

DESCRIPTION = """Explainable brain-tumour MRI classification (glioma, meningioma, pituitary tumour, no tumour)
on 2D slices. Research use only: not a medical device.

Send an image as multipart field `file` or as the raw body with its content type
(`image/png`, `image/jpeg`, `application/dicom`). Errors are RFC 9457 problem details."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A configured app; the model is loaded (and warmed up) by the lifespan, before traffic is served."""
    settings = settings or Settings()
    metrics = Metrics()
    limiters = {
        "predict": Limiter("predict", settings.predict_concurrency, metrics.reject),
        "explain": Limiter("explain", settings.explain_concurrency, metrics.reject),
        "heavy_explain": Limiter("heavy_explain", settings.heavy_explain_concurrency, metrics.reject, retry_after_s=5),
    }
    state = AppState(settings=settings, metrics=metrics, limiters=limiters)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        model = await run_in_threadpool(artifact.load, settings.model_path)
        forward = explain_forward = None
        if settings.runtime == "onnx":
            size = int(model.manifest["input"]["size"])
            forward = await run_in_threadpool(onnx_forward, model.module, size, settings.torch_threads)
            if settings.explain_precision == "int8":
                explain_forward = await run_in_threadpool(int8_forward_for, model, settings.torch_threads)
        predictor = Predictor(model, forward, settings.explain_cache_size, explain_forward)
        await run_in_threadpool(predictor.warm_up)
        state.predictor, state.ready = predictor, True
        log.info(
            "model %s %s loaded from %s (sha256 %s); runtimes %s",
            model.manifest["name"],
            model.manifest["version"],
            settings.model_path,
            model.sha256[:12],
            predictor.runtimes(),
        )
        yield
        state.ready = False

    app = FastAPI(
        title="brainxai",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        license_info={"name": "Apache-2.0"},
    )
    app.state.brainxai = state
    install_error_handlers(app)
    app.include_router(predict.router)
    app.include_router(explain.router)
    app.include_router(dicomweb.router)
    app.include_router(system.router)
    app.include_router(system.health)
    app.include_router(viewer.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes, metrics=metrics)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
