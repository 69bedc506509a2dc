"""An analysis turned into the bytes of an answer: a PNG overlay, the raw map, a DICOM capture or report.

Called on the worker thread that ran the analysis, so that rendering never blocks the event loop.
"""

from __future__ import annotations

from mlcore.render import heatmap_png, overlay_png
from service.analysis.pipeline import Analysis, Explanation
from service.dicom.capture import dicom_source, secondary_capture, to_bytes
from service.dicom.reading import DICOM
from service.dicom.report import structured_report
from service.schemas import ModelRef

PNG, JSON = "image/png", "application/json"


def explanation_bytes(
    analysis: Analysis, explanation: Explanation, media_type: str, *, model: ModelRef, opacity: float
) -> bytes:
    """``image/png``: the overlay with its legend; ``application/dicom``: a Secondary Capture of it in the
    input's study; otherwise the raw map as an 8-bit grayscale PNG (for JSON answers)."""
    image = analysis.image
    if media_type == DICOM:
        capture = secondary_capture(
            dicom_source(image),
            image.pixels,
            explanation.heatmap,
            method=explanation.method,
            target=explanation.target,
            model=model,
            opacity=opacity,
            frame=int(image.source.get("frame", 0)),
        )
        return to_bytes(capture)
    if media_type == PNG:
        return overlay_png(image.pixels, explanation.heatmap, opacity, f"{explanation.method} · {explanation.target}")
    return heatmap_png(explanation.heatmap)


def report_bytes(analysis: Analysis, model: ModelRef) -> bytes:
    """A Comprehensive SR of the prediction, referencing the input instance."""
    prediction = analysis.prediction
    report = structured_report(dicom_source(analysis.image), prediction.label, prediction.probabilities, model)
    return to_bytes(report)
