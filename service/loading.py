"""The model as the service serves it: the artifact loaded, its runtimes built for this CPU, the analysis pipeline
warmed up. Shared by the HTTP app and the DICOM node (neither imports the other)."""

from __future__ import annotations

import logging

import torch

from mlcore import artifact
from mlcore.runtimes import build_runtimes
from service.analysis.pipeline import Analyser
from service.image import DecodeOptions
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger("service")


def load_analyser(settings: Settings, metrics: Metrics | None = None) -> Analyser:
    """Load the artifact, build its runtimes for this CPU, and warm up: what the service serves (its input checks
    counted in ``metrics``)."""
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    model = artifact.load(settings.model_path)
    runtimes = build_runtimes(model, settings.runtime, settings.explain_precision, settings.torch_threads)
    analyser = Analyser(
        model,
        runtimes,
        decode_limits=DecodeOptions(max_pixels=settings.max_image_pixels, allow_non_mr=settings.allow_non_mr),
        cache_size=settings.explain_cache_size,
        caps={"lime": {"num_samples": settings.lime_max_samples}},
        ood_policy=settings.ood_policy,
        on_check=metrics.input_check if metrics is not None else None,
        evidence=settings.evidence_check,
        on_evidence=metrics.evidence_check if metrics is not None else None,
        trust_body_part=settings.dicom_body_part_check == "refuse",
    )
    analyser.warm_up()
    manifest = model.manifest
    log.info(
        "model %s %s loaded from %s (sha256 %s); runtimes %s",
        manifest["name"],
        manifest["version"],
        settings.model_path,
        model.sha256[:12],
        runtimes.describe(),
    )
    return analyser
