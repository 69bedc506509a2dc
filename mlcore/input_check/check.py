"""The input check every answer carries: may the model answer this image at all?

Cheap checks come first and need no model: a colour image is not an MRI slice, a (nearly) uniform one has no anatomy.
:func:`check_input` combines them, the DICOM tags and the content check — the input gate
(:mod:`mlcore.input_check.gate`) where the artifact carries one, else the feature detector
(:mod:`mlcore.input_check.detector`) — into the
:class:`InputCheck` every answer carries. How it was fitted and how well it works: ``docs/INPUT_CHECK.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, computed_field

from mlcore.input_check.detector import FeatureDetector, detector_content
from mlcore.input_check.gate import InputGate

# A pixel is coloured when its channels differ by more than this (of 1); JPEG chroma noise of a grey image stays
# well under it. An image with more than COLOUR_LIMIT of such pixels is a colour image.
COLOUR_PIXEL = 0.1
COLOUR_LIMIT = 0.01
# Below this spread of intensities (0.5th to 99.5th percentile, of 1) an image has no anatomy to classify.
MIN_CONTRAST = 0.05
# The spread is measured on every k-th pixel of each axis, k chosen to leave about this many: enough for two
# percentiles, and a constant cost whatever the image's size.
CONTRAST_PROBE = 128


# What the check found, in one plain sentence each, by kind of refusal: what a person reads.
PLAIN_SENTENCES = {
    "colour": "This is a colour image, and brain MRI slices are greyscale.",
    "uniform": "This image is blank: there is no anatomy in it to classify.",
    "content": "This image does not look like a brain MRI slice.",
    "body-part": "Its DICOM tags name another body part than the head.",
}


class InputCheck(BaseModel):
    """Whether the image is like the brain MRI slices the model was trained on (docs/INPUT_CHECK.md): ``score`` against
    ``threshold`` (the input gate's, or the feature detector's for an artifact without a gate; null without either),
    and ``reason`` — why it was refused (null when accepted: a reason always means refused). The one definition: the
    analysis makes it, every answer carries it, the metrics count its ``kind``."""

    model_config = ConfigDict(frozen=True)

    in_distribution: bool = Field(description="false: the answer (flag policy) should not be trusted")
    score: float | None = Field(
        description="how far the image lies from the brain MRI slices the model knows (higher: less alike; refused "
        "above the threshold); null when the model has no content check"
    )
    threshold: float | None = Field(description="scores above it are out of distribution")
    reason: str | None = Field(
        default=None, description="why it is out of distribution (DICOM tags naming another body part, colour, ...)"
    )
    # The refusal's kind for metrics (colour, uniform, body-part, content; None when accepted): not in the answer.
    kind: str | None = Field(default=None, exclude=True)

    @computed_field(  # type: ignore[prop-decorator]
        description="what the check found, in one plain sentence without numbers (for people); null when nothing"
    )
    @property
    def summary(self) -> str | None:
        """One plain sentence on what the check found, without numbers (for people; ``reason``, ``score`` and
        ``threshold`` keep the details); None when there is nothing to say."""
        return PLAIN_SENTENCES.get(self.kind or "")

    def as_dict(self) -> dict[str, Any]:
        """The JSON form every answer carries."""
        return self.model_dump()


def colour_fraction(rgb: np.ndarray) -> float:
    """The fraction of pixels of an H×W×3 image in [0, 1] whose channels differ by more than :data:`COLOUR_PIXEL`."""
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return float((spread > COLOUR_PIXEL).mean())


# Pillow modes that can carry colour, and the side of the reduced copy the colour share is measured on: enough to
# tell, cheap on 40 MP.
COLOUR_MODES = {"RGB", "RGBA", "RGBX", "RGBa", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"}
COLOUR_PROBE = 256


def colour_of(image: Image.Image) -> float:
    """The share of coloured pixels of a loaded Pillow image (0 for grey modes), on a reduced copy."""
    if image.mode not in COLOUR_MODES:
        return 0.0
    probe = image.convert("RGB")
    probe.thumbnail((COLOUR_PROBE, COLOUR_PROBE))
    return colour_fraction(np.asarray(probe, dtype=np.float32) / 255.0)


def cheap_check(gray: np.ndarray, colour: float) -> tuple[str, str] | None:
    """(kind, reason) when an image cannot be a brain MRI slice without asking the model, else None."""
    if colour > COLOUR_LIMIT:
        return "colour", f"a colour image ({colour:.0%} of pixels coloured); MRI slices are greyscale"
    step = max(1, max(gray.shape) // CONTRAST_PROBE)
    low, high = np.percentile(gray[::step, ::step], [0.5, 99.5])
    if high - low < MIN_CONTRAST:
        return "uniform", "the image is (nearly) uniform: there is no anatomy to classify"
    return None


def check_input(
    gray: np.ndarray,
    colour: float,
    content: tuple[float, float] | None,
    *,
    tags_reason: str | None = None,
) -> InputCheck:
    """The input check of one image, first reason first: the cheap checks (colour, blank), what the DICOM tags say
    (``tags_reason``: another body part), then the content's ``(score, threshold)`` — the input gate's
    (:mod:`mlcore.input_check.gate`, refused above 0) or, for an artifact without a gate, the detector's; None without
    either. A refusal always carries its reason and kind; an acceptance carries neither.
    """
    score, threshold = (round(content[0], 3), round(content[1], 3)) if content is not None else (None, None)
    refused = cheap_check(gray, colour)
    if refused is None and tags_reason:
        refused = "body-part", tags_reason
    if refused is None and score is not None and threshold is not None and not score <= threshold:
        refused = "content", "the image is unlike the brain MRI slices the model knows"
    if refused is None:
        return InputCheck(in_distribution=True, score=score, threshold=threshold)
    kind, reason = refused
    return InputCheck(in_distribution=False, score=score, threshold=threshold, reason=reason, kind=kind)


def content_check(
    gate: InputGate | None, detector: FeatureDetector | None, x: torch.Tensor, pooled: np.ndarray
) -> tuple[float, float] | None:
    """The content check's (score, threshold) of one model input ``x``: the input gate's (refused above 0) where
    the artifact has one, else the detector's on its penultimate features ``pooled``; None without either."""
    if gate is not None:
        return float(gate.score(x).score[0]), 0.0
    return detector_content(pooled, detector)
