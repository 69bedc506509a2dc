"""The feature detector, the input check's content check for an artifact without an input gate, and the temperature
fitted beside it.

Both are fitted on an existing artifact without changing its weights (``python -m training fit-detector``) and stored
inside it:

- **The detector**: class-conditional Gaussians with one shared covariance (Ledoit-Wolf shrinkage) over the
  model's *penultimate features* — the backbone's feature maps averaged over space, L2-normalised — fitted on
  the training side of the split. An image's score is its squared Mahalanobis distance to the nearest class
  mean; above the threshold it is *out of distribution*. The threshold is conformal on brain slices the weights never
  trained on (the ⌈(n+1)(1−α)⌉-th smallest of n scores). Measured against energy, softmax confidence and
  k-nearest-neighbour scores in ``docs/INPUT_CHECK.md``.
- **The temperature**: logits / T before the softmax, T fitted on the validation side by minimum NLL. Every
  probability the service gives is :func:`probabilities`'.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

from mlcore.errors import ArtifactError

FORMAT_VERSION = 1
DETECTOR = "mahalanobis-l2"


@dataclass(frozen=True)
class FeatureDetector:
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
        """The manifest's ``feature_detector`` section: what the loader needs, plus ``described`` facts for people."""
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
    def from_artifact(cls, section: dict[str, Any], raw: bytes, where: str) -> FeatureDetector:
        """Rebuild from the manifest section and the stored arrays; :class:`ArtifactError` saying what is wrong."""
        if section.get("format_version") != FORMAT_VERSION or section.get("detector") != DETECTOR:
            raise ArtifactError(
                f"{where}: feature detector section of format {section.get('format_version')} / detector "
                f"{section.get('detector')!r} is not supported (this code reads {FORMAT_VERSION} / {DETECTOR}); "
                "run python -m training fit-detector again"
            )
        try:
            arrays = np.load(io.BytesIO(raw), allow_pickle=False)
            means, precision = arrays["means"], arrays["precision"]
        except (ValueError, KeyError, OSError) as exc:
            raise ArtifactError(f"{where}: the feature detector's arrays cannot be read: {exc}") from exc
        if means.ndim != 2 or precision.shape != (means.shape[1], means.shape[1]):
            raise ArtifactError(f"{where}: detector arrays of shapes {means.shape} and {precision.shape} disagree")
        return cls(
            means=means,
            precision=precision,
            threshold=float(section["threshold"]),
            temperature=float(section["temperature"]),
            weights_sha256=str(section["weights_sha256"]),
            false_refusal_target=float(section.get("false_refusal_target", 0.01)),
        )


def normalised(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (an all-zero row stays zero)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def pooled_features(feature_maps: torch.Tensor) -> torch.Tensor:
    """The penultimate features: N×C×H×W backbone maps averaged over space (what the head's pooling does)."""
    return feature_maps.mean(dim=(2, 3))


def probabilities(logits: torch.Tensor, detector: FeatureDetector | None) -> torch.Tensor:
    """Class probabilities: softmax of logits / T (T = 1 without a fitted temperature)."""
    temperature = detector.temperature if detector is not None else 1.0
    return torch.softmax(logits.detach() / temperature, dim=1)


def detector_content(pooled: np.ndarray, detector: FeatureDetector | None) -> tuple[float, float] | None:
    """The detector's (score, threshold) of one image's penultimate features, or None without a detector: the
    content check of an artifact that has no input gate."""
    if detector is None:
        return None
    return float(detector.scores(pooled[None])[0]), float(detector.threshold)
