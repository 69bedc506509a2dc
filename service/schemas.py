"""Response schemas: what SDKs generated from the OpenAPI spec will see."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mlcore.evidence import EvidenceCheck
from mlcore.explainers import DEFAULT_METHOD
from mlcore.input_check.check import InputCheck


class ModelRef(BaseModel):
    """Which model answered."""

    name: str
    version: str
    sha256: str


class Timing(BaseModel):
    """Milliseconds spent, by stage."""

    decode_ms: float
    inference_ms: float
    total_ms: float
    explain_ms: float | None = None


class PredictResponse(BaseModel):
    """A classification of one image."""

    label: str = Field(description="the most probable class")
    probabilities: dict[str, float] = Field(
        description="calibrated probability of every class (temperature scaling), summing to 1"
    )
    input_check: InputCheck
    model: ModelRef
    request_id: str
    timing: Timing


class Point(BaseModel):
    x: float
    y: float


class HeatmapSummary(BaseModel):
    """Numbers that describe a relevance map (pixel coordinates of the original image)."""

    width: int
    height: int
    max: float
    mean: float
    peak: Point
    centroid: Point | None
    area_above_half: float = Field(description="share of pixels with relevance at least 0.5")


class Heatmap(BaseModel):
    """The raw relevance map."""

    png_base64: str = Field(description="8-bit grayscale PNG at the image's original size: 0 = none, 255 = most")
    summary: HeatmapSummary


class ExplainResponse(BaseModel):
    """An explanation of one class's score for one image."""

    label: str = Field(description="the predicted class")
    probabilities: dict[str, float]
    target: str = Field(description="the class explained")
    input_check: InputCheck
    method: str
    parameters: dict[str, Any]
    heatmap: Heatmap
    evidence_check: EvidenceCheck | None = Field(
        default=None, description="null when the check is off (BRAINXAI_EVIDENCE_CHECK) or the map marks nothing"
    )
    model: ModelRef
    request_id: str
    timing: Timing


class Status(BaseModel):
    """Liveness or readiness."""

    status: str
    detail: str | None = None


class ProtocolError(BaseModel):
    """An error of the Open Inference Protocol's routes, in that protocol's shape."""

    error: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error is answered."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None = None
    reason: str | None = Field(None, description="out-of-distribution: why the image was refused")
    score: float | None = Field(None, description="out-of-distribution: the input check's score")
    threshold: float | None = Field(None, description="out-of-distribution: the input check's threshold")
    input_check: InputCheck | None = Field(None, description="out-of-distribution: the whole input check")


IMAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The image: multipart field `file`, or the raw body with its content type.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "application/dicom": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


UID_PATTERN = r"^[0-9]+(\.[0-9]+)*$"


class AnalyzeRequest(BaseModel):
    """An instance (or, without ``sop_instance_uid``, a whole series) in the configured PACS to analyse, and the
    explanations to store back."""

    study_instance_uid: str = Field(pattern=UID_PATTERN, max_length=64)
    series_instance_uid: str = Field(pattern=UID_PATTERN, max_length=64)
    sop_instance_uid: str | None = Field(
        None,
        pattern=UID_PATTERN,
        max_length=64,
        description="the instance; omitted: the whole series is analysed (docs/DICOM.md: the series rule) and a "
        "report and the key slices' Parametric Maps are stored",
    )
    methods: list[str] = Field(
        default_factory=lambda: [DEFAULT_METHOD],
        max_length=8,
        description="explanation methods (GET /v1/methods) to store as Secondary Captures, each once; [] stores "
        "the report only",
    )
    frame: int | None = Field(None, ge=0, le=100_000, description="frame of a multi-frame instance (default: middle)")


class RefusedSlice(BaseModel):
    """A slice of a series that was not classified, and why."""

    sop_instance_uid: str
    frame: int | None = Field(description="0-based frame of a multi-frame instance")
    kind: str = Field(description="content, colour, uniform, body-part or unreadable")
    reason: str


class SeriesSummary(BaseModel):
    """The slices of an analysed series: how many were classified, which were refused and why, the key slices."""

    slices: int
    accepted: int
    refused: list[RefusedSlice]
    key_slices: list[str] = Field(description="SOP Instance UIDs of the slices explained (Parametric Maps)")


class StoredResult(BaseModel):
    """One DICOM result made from the instance, and whether the PACS has it."""

    kind: str = Field(description="structured_report, parametric_map or secondary_capture")
    method: str | None = Field(None, description="the explanation method of a secondary capture")
    series_instance_uid: str
    sop_instance_uid: str
    stored: bool


class AnalyzeResponse(BaseModel):
    """The classification of a PACS instance or series and the UIDs of the results stored back in its study."""

    label: str | None = Field(description="the finding; null for a series with no slice accepted (not analysed)")
    probabilities: dict[str, float]
    input_check: InputCheck | None = Field(None, description="the instance's input check (instance analyses)")
    series: SeriesSummary | None = Field(None, description="the series analysis (series analyses)")
    study_instance_uid: str
    results: list[StoredResult]
    model: ModelRef
    request_id: str


class ParameterDeclaration(BaseModel):
    """One tunable parameter of an explanation method."""

    type: str = Field(description="integer, number, boolean or string")
    default: Any
    minimum: float | None
    maximum: float | None
    description: str


class MethodDeclaration(BaseModel):
    """An explanation method as it declares itself."""

    name: str = Field(description="the value of /explain's method parameter")
    title: str
    summary: str
    runtime: str = Field(
        description="gradients (runs on the TorchScript artifact), feature_maps (the head differentiated at the "
        "prediction's feature maps) or forward (any runtime)"
    )
    cost: str = Field(description="light (about one forward and backward) or heavy (many forwards); queued apart")
    parameters: dict[str, ParameterDeclaration]
