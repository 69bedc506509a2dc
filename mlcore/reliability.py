"""Knowing when not to answer, and how sure an answer is: the input check and the calibrated probabilities.

Two parts, both fitted on an existing artifact without changing its weights (``python -m training fit-ood``)
and stored inside it:

- **The detector**: class-conditional Gaussians with one shared covariance (Ledoit-Wolf shrinkage) over the
  model's *penultimate features* — the backbone's feature maps averaged over space, L2-normalised — fitted on
  the training side of the split. An image's score is its squared Mahalanobis distance to the nearest class
  mean; above the threshold it is *out of distribution*. The threshold comes from the validation side only
  (conformal: the ⌈(n+1)(1−α)⌉-th smallest of n validation scores, so that at most α of brain MRI slices
  like them are refused). Measured against energy, softmax confidence and k-nearest-neighbour scores in
  ``docs/RELIABILITY.md``.
- **The temperature**: logits / T before the softmax, T fitted on the validation side by minimum NLL.

Cheap checks come first and need no model: a colour image is not an MRI slice, a (nearly) uniform one has
no anatomy. :func:`check_input` combines them, the DICOM tags and the content check — the input gate
(:mod:`mlcore.input_gate`) where the artifact carries one, else this detector — into the :class:`InputCheck` every
answer carries.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch
from PIL import Image

from mlcore.errors import ArtifactError
from mlcore.input_gate import InputGate

FORMAT_VERSION = 1
DETECTOR = "mahalanobis-l2"
# A pixel is coloured when its channels differ by more than this (of 1); JPEG chroma noise of a grey image stays
# well under it. An image with more than COLOUR_LIMIT of such pixels is a colour image.
COLOUR_PIXEL = 0.1
COLOUR_LIMIT = 0.01
# Below this spread of intensities (0.5th to 99.5th percentile, of 1) an image has no anatomy to classify.
MIN_CONTRAST = 0.05
# The spread is measured on every k-th pixel of each axis, k chosen to leave about this many: enough for two
# percentiles, and a constant cost whatever the image's size.
CONTRAST_PROBE = 128


@dataclass(frozen=True)
class Reliability:
    """The fitted detector and temperature of one artifact's weights.

    ``means``: C×D class means of the normalised penultimate features; ``precision``: the D×D inverse of
    their shared covariance; ``threshold``: the highest score still in distribution; ``temperature``: the
    logit divisor; ``weights_sha256``: the weights they were fitted for (:func:`mlcore.artifact.weights_sha256`).
    """

    means: np.ndarray
    precision: np.ndarray
    threshold: float
    temperature: float
    weights_sha256: str
    false_refusal_target: float = 0.01

    def scores(self, pooled: np.ndarray) -> np.ndarray:
        """Scores of N×D penultimate features (not yet normalised): squared distance to the nearest class mean."""
        features = normalised(np.asarray(pooled, dtype=np.float64))
        # (f − m)ᵀP(f − m) = fᵀPf − 2 fᵀPm + mᵀPm for every class mean m at once: one matrix product per image.
        projected = features @ self.precision
        own = np.sum(projected * features, axis=1, keepdims=True)
        distances = own - 2 * projected @ self.means.T + self._mean_terms
        return np.min(distances, axis=1)

    @cached_property
    def _mean_terms(self) -> np.ndarray:
        return np.einsum("cd,de,ce->c", self.means, self.precision, self.means)[None, :]

    def to_bytes(self) -> bytes:
        """The arrays as an ``.npz`` (the scalars travel in the manifest, see :meth:`manifest_section`)."""
        buffer = io.BytesIO()
        np.savez(buffer, means=self.means.astype(np.float64), precision=self.precision.astype(np.float64))
        return buffer.getvalue()

    def manifest_section(self, **described: Any) -> dict[str, Any]:
        """The manifest's ``reliability`` section: what the loader needs, plus ``described`` facts for people."""
        return {
            **described,
            "format_version": FORMAT_VERSION,
            "detector": DETECTOR,
            "threshold": self.threshold,
            "temperature": self.temperature,
            "false_refusal_target": self.false_refusal_target,
            "weights_sha256": self.weights_sha256,
        }

    @classmethod
    def from_artifact(cls, section: dict[str, Any], raw: bytes, where: str) -> Reliability:
        """Rebuild from the manifest section and the stored arrays; :class:`ArtifactError` saying what is wrong."""
        if section.get("format_version") != FORMAT_VERSION or section.get("detector") != DETECTOR:
            raise ArtifactError(
                f"{where}: reliability section of format {section.get('format_version')} / detector "
                f"{section.get('detector')!r} is not supported (this code reads {FORMAT_VERSION} / {DETECTOR}); "
                "run python -m training fit-ood again"
            )
        try:
            arrays = np.load(io.BytesIO(raw), allow_pickle=False)
            means, precision = arrays["means"], arrays["precision"]
        except (ValueError, KeyError, OSError) as exc:
            raise ArtifactError(f"{where}: the reliability arrays cannot be read: {exc}") from exc
        if means.ndim != 2 or precision.shape != (means.shape[1], means.shape[1]):
            raise ArtifactError(f"{where}: reliability arrays of shapes {means.shape} and {precision.shape} disagree")
        return cls(
            means=means,
            precision=precision,
            threshold=float(section["threshold"]),
            temperature=float(section["temperature"]),
            weights_sha256=str(section["weights_sha256"]),
            false_refusal_target=float(section.get("false_refusal_target", 0.01)),
        )


# What the check found, in one plain sentence each, by kind of refusal: what a person reads.
PLAIN_SENTENCES = {
    "colour": "This is a colour image, and brain MRI slices are greyscale.",
    "uniform": "This image is blank: there is no anatomy in it to classify.",
    "content": "This image does not look like a brain MRI slice.",
    "body-part": "Its DICOM tags name another body part than the head.",
}


@dataclass(frozen=True)
class InputCheck:
    """Whether an input is like what the model knows: ``score`` against ``threshold`` (the input gate's, or the
    older detector's for an artifact without a gate; None without either), and ``reason`` — why it was refused
    (None when accepted: a reason always means refused)."""

    in_distribution: bool
    score: float | None
    threshold: float | None
    reason: str | None = None
    kind: str | None = None  # the refusal's kind for metrics: colour, uniform, body-part, content; None when accepted

    @property
    def summary(self) -> str | None:
        """One plain sentence on what the check found, without numbers (for people; ``reason``, ``score`` and
        ``threshold`` keep the details); None when there is nothing to say."""
        return PLAIN_SENTENCES.get(self.kind or "")

    def as_dict(self) -> dict[str, Any]:
        """The JSON form every answer carries."""
        return {
            "in_distribution": self.in_distribution,
            "summary": self.summary,
            "score": self.score,
            "threshold": self.threshold,
            "reason": self.reason,
        }


def normalised(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (an all-zero row stays zero)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def pooled_features(feature_maps: torch.Tensor) -> torch.Tensor:
    """The penultimate features: N×C×H×W backbone maps averaged over space (what the head's pooling does)."""
    return feature_maps.mean(dim=(2, 3))


def probabilities(logits: torch.Tensor, reliability: Reliability | None) -> torch.Tensor:
    """Class probabilities: softmax of logits / T (T = 1 without a fitted temperature)."""
    temperature = reliability.temperature if reliability is not None else 1.0
    return torch.softmax(logits.detach() / temperature, dim=1)


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
    (:mod:`mlcore.input_gate`, refused above 0) or, for an artifact without a gate, the detector's; None without
    either. A refusal always carries its reason and kind; an acceptance carries neither.
    """
    score, threshold = (round(content[0], 3), round(content[1], 3)) if content is not None else (None, None)
    refused = cheap_check(gray, colour)
    if refused is None and tags_reason:
        refused = "body-part", tags_reason
    if refused is None and score is not None and threshold is not None and not score <= threshold:
        refused = "content", "the image is unlike the brain MRI slices the model knows"
    if refused is None:
        return InputCheck(True, score, threshold)
    kind, reason = refused
    return InputCheck(False, score, threshold, reason, kind)


def detector_content(pooled: np.ndarray, reliability: Reliability | None) -> tuple[float, float] | None:
    """The detector's (score, threshold) of one image's penultimate features, or None without a detector: the
    content check of an artifact that has no input gate."""
    if reliability is None:
        return None
    return float(reliability.scores(pooled[None])[0]), float(reliability.threshold)


def content_check(
    gate: InputGate | None, reliability: Reliability | None, x: torch.Tensor, pooled: np.ndarray
) -> tuple[float, float] | None:
    """The content check's (score, threshold) of one model input ``x``: the input gate's (refused above 0) where
    the artifact has one, else the detector's on its penultimate features ``pooled``; None without either."""
    if gate is not None:
        return float(gate.score(x).score[0]), 0.0
    return detector_content(pooled, reliability)
