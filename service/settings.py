"""Settings from ``BRAINXAI_*`` environment variables; bad values stop the start with a clear message."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mlcore.artifact import DEFAULT_MODEL
from mlcore.runtimes import Engine, Precision


class Settings(BaseSettings):
    """Everything an operator can set. Each field is ``BRAINXAI_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="BRAINXAI_", extra="ignore", frozen=True, populate_by_name=True)

    model_path: Path = Field(DEFAULT_MODEL, description="the TorchScript artifact to serve")
    host: str = Field("127.0.0.1", description="address to bind")
    port: int = Field(8000, ge=1, le=65535)
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="larger uploads get 413")
    max_image_pixels: int = Field(40_000_000, ge=4096, description="decoded images above this get 413")
    ood_policy: Literal["reject", "flag"] = Field(
        "reject",
        description="what an input the input check finds out of distribution gets: reject (422, problem type "
        "out-of-distribution, no class) or flag (the answer as usual, with input_check.in_distribution false); DICOM "
        "results are never made of it",
    )
    evidence_check: bool = Field(
        True,
        description="with every explanation, check whether the answer depends on the region the map marks (the "
        "region removed and the model asked again, against a control elsewhere; two extra forwards)",
    )
    allow_non_mr: bool = Field(False, description="accept DICOM of modalities other than MR (the model knows MR)")
    dicom_body_part_check: Literal["refuse", "ignore"] = Field(
        "refuse",
        description="what a DICOM instance or slice whose tags (BodyPartExamined, Anatomic Region Sequence, else a "
        "description) name another body part than the head gets: refuse (422, problem type out-of-distribution) or "
        "ignore (for sites that misuse the tags: the image content decides alone)",
    )
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="comma-separated keys; when set, model routes need X-API-Key or a Bearer token"
    )
    protect_health: bool = Field(False, description="also require a key on /healthz, /readyz and /metrics")
    predict_concurrency: int = Field(2, ge=1, le=64, description="predictions running at once; more wait in line")
    light_explain_concurrency: int = Field(
        2,
        ge=1,
        le=64,
        validation_alias=AliasChoices("BRAINXAI_LIGHT_EXPLAIN_CONCURRENCY", "BRAINXAI_EXPLAIN_CONCURRENCY"),
        description="explanations of light methods (declared cost light: Grad-CAM) running at once "
        "(BRAINXAI_EXPLAIN_CONCURRENCY, its former name, is still read)",
    )
    heavy_explain_concurrency: int = Field(
        1,
        ge=1,
        le=16,
        description="explanations of heavy methods (declared cost heavy: LIME, Integrated Gradients, Occlusion) "
        "running at once",
    )
    max_queue: int = Field(
        32, ge=0, le=4096, description="requests that may wait in line for each kind of work; more get 503 at once"
    )
    max_wait_s: float = Field(
        2.0,
        gt=0,
        le=600,
        description="the longest a request may wait for a worker: refused at once (503, Retry-After) when its "
        "expected wait (the queue ahead × the measured service time) is longer; not started once it has waited so long",
    )
    explain_timeout_s: float = Field(
        30.0, gt=0, description="model work running longer is stopped and answered 503 (problem type timeout)"
    )
    lime_max_samples: int = Field(3000, ge=50, le=5000, description="upper bound of LIME's num_samples")
    explain_cache_size: int = Field(
        64, ge=0, le=4096, description="explanations kept for identical requests (image, method, target, parameters)"
    )
    runtime: Engine = Field(
        "onnx",
        description="forward-only work (predict, LIME, Occlusion) on ONNX Runtime (converted and checked at start; "
        "TorchScript if that fails) or on TorchScript; Grad-CAM and Integrated Gradients always use TorchScript",
    )
    explain_precision: Precision = Field(
        "int8",
        description="LIME and Occlusion evaluate their perturbations with the model quantized to int8 (about 3x "
        "faster; needs runtime=onnx and an artifact with calibration images, else fp32) or in float32",
    )
    torch_threads: int = Field(0, ge=0, le=256, description="intra-op threads per inference (0: torch's default)")
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    shutdown_timeout_s: int = Field(
        30,
        ge=1,
        le=600,
        description="on SIGTERM: stop accepting, finish the requests already accepted within this many seconds, exit 0 "
        "(Kubernetes: keep terminationGracePeriodSeconds above it)",
    )
    dicomweb_url: str | None = Field(
        None,
        pattern="^https?://",
        description="DICOMweb root of the PACS for /v1/dicomweb/analyze (e.g. http://orthanc:8042/dicom-web)",
    )
    dicomweb_timeout_s: float = Field(20.0, gt=0, le=600, description="per request to the PACS; slower gets 504")
    dicomweb_username: str | None = Field(None, description="HTTP basic user for the PACS, if it needs one")
    dicomweb_password: str | None = Field(None, description="HTTP basic password for the PACS")

    dimse_ae_title: str = Field(
        "BRAINXAI", pattern=r"^[ -~]{1,16}$", description="the DICOM node's AE title (python -m service.dimse)"
    )
    dimse_port: int = Field(11112, ge=1, le=65535, description="the DICOM node's port")
    dimse_destination: str | None = Field(
        None,
        pattern=r"^[ -~]{1,16}@[^:@\s]+:\d{1,5}$",
        description="where the node C-STOREs its results, as AE@host:port (e.g. ORTHANC@orthanc:4242); without it "
        "results stay in the outbox",
    )
    dimse_allowed_aes: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="comma-separated calling AE titles the node accepts; others are refused at association",
    )
    dimse_series_idle_s: float = Field(
        3.0, gt=0, le=3600, description="a series is complete when no instance of it has arrived for this long"
    )
    dimse_key_slices: int = Field(3, ge=1, le=32, description="slices of a series explained (Parametric Maps)")
    dimse_methods: Annotated[tuple[str, ...], NoDecode] = Field(
        ("gradcam",), description="comma-separated explanation methods of the key slices' maps"
    )
    dimse_secondary_capture: bool = Field(
        False, description="also send each key slice's map as a Secondary Capture (viewers without Parametric Maps)"
    )
    dimse_max_series_instances: int = Field(
        2000, ge=1, le=100_000, description="instances held for one series; more are refused (out of resources)"
    )
    dimse_outbox: Path = Field(
        Path("/tmp/brainxai-outbox"), description="results waiting to be sent are kept here until sent or expired"
    )
    dimse_spool: Path = Field(
        Path("/tmp/brainxai-spool"),
        description="every instance the node acknowledged, kept (fsync'd) until its series' results are in the "
        "outbox; a restarted node finishes what it finds here. Put it on a persistent volume",
    )
    dimse_send_attempts: int = Field(
        5,
        ge=1,
        le=100,
        description="sends of a result before it is given up: moved to <outbox>/failed, logged and counted, kept",
    )
    dimse_retry_interval_s: float = Field(10.0, gt=0, le=3600, description="wait between sends of a waiting result")
    dimse_metrics_port: int = Field(9112, ge=0, le=65535, description="the node's /metrics port (0: none)")

    @field_validator("api_keys", "dimse_allowed_aes", "dimse_methods", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("model_path")
    @classmethod
    def _model_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"no model file at {value} (set BRAINXAI_MODEL_PATH)")
        return value
