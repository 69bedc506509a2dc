"""The input gate: is this a brain MRI slice at all? Asked apart from the classifier's decision.

The classifier's fine-tuned features keep what tells the four classes apart and lose what tells a knee from a head,
so the gate reads the model input through features of its own — a frozen ImageNet backbone, several depths pooled
(:mod:`training.input_check.gate_features`), scripted into the artifact — and scores them twice, on standardised
features:

- **brain margin**: a logistic regression of brain slices (every collection, and scanner views of them) against
  assembled images of other kinds (``python -m training ood-set``'s fit part) — what tells a brain from an abdomen,
  a knee or a chest when the modality is the same;
- **distance**: the squared Mahalanobis distance to the brain slices' Gaussian (Ledoit-Wolf) — what is far from
  every brain seen, whatever no negative showed.

An image is refused when its margin is below ``margin_threshold`` *or* its distance above ``distance_threshold``.
Both thresholds are conformal on brain slices only (cross-fitted scores of the fit's brains, each collection apart,
the most permissive collection's bound; :mod:`training.input_check.gate`). The one number an answer carries, ``score``,
puts both on one scale: how far past its threshold the worse of the two lies, in units of the brains' own spread
(interquartile range) of that score — ``score > 0`` means refused.
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
METHOD = "imagenet-lite0-margin-and-distance"


@dataclass(frozen=True)
class GateScores:
    """Per image: the brain margin, the distance and the combined score (> 0: refused)."""

    margin: np.ndarray
    distance: np.ndarray
    score: np.ndarray


@dataclass(frozen=True)
class GateScorer:
    """What scores gate features: ``centre``/``scale`` standardise the D features, ``weights``/``bias`` are the
    logistic regression on them, ``mean``/``precision`` the brains' Gaussian."""

    centre: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    precision: np.ndarray

    def margins_and_distances(self, features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """The brain margins and the squared Mahalanobis distances of N×D features.

        Computed with torch, not numpy: numpy's BLAS runs the D×D product on a thread pool of its own whose threads
        then spin beside torch's and ONNX Runtime's on the same cores — measured in the service's analysis at +4 ms
        per image, against 0.1 ms here."""
        centre, scale, weights, mean, precision = self._tensors
        z = (torch.as_tensor(features).to(torch.float64) - centre) / scale
        offset = z - mean
        margins = z @ weights + self.bias
        distances = ((offset @ precision) * offset).sum(dim=1)
        return margins.numpy(), distances.numpy()

    @cached_property
    def _tensors(self) -> tuple[torch.Tensor, ...]:
        arrays = (self.centre, self.scale, self.weights, self.mean, self.precision)
        return tuple(torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64)) for array in arrays)


@dataclass(frozen=True)
class InputGate:
    """The fitted gate: its feature module, its scorer and its thresholds; ``margin_spread``/``distance_spread`` are
    the brains' interquartile ranges that put the two scores on one scale."""

    features: Any  # a scripted module: model input N×1×S×S → N×D
    scorer: GateScorer
    margin_threshold: float
    distance_threshold: float
    margin_spread: float
    distance_spread: float

    def score_features(self, features: np.ndarray | torch.Tensor) -> GateScores:
        """The scores of N×D gate features."""
        margin, distance = self.scorer.margins_and_distances(features)
        past_margin = (self.margin_threshold - margin) / self.margin_spread
        past_distance = (distance - self.distance_threshold) / self.distance_spread
        return GateScores(margin, distance, np.maximum(past_margin, past_distance))

    def score(self, x: torch.Tensor) -> GateScores:
        """The scores of model inputs (N×1×S×S, the manifest's normalisation)."""
        with torch.inference_mode():
            return self.score_features(self.features(x))

    @cached_property
    def dimensions(self) -> int:
        """D, the number of gate features."""
        return int(self.scorer.centre.shape[0])

    def to_bytes(self) -> bytes:
        """The arrays as an ``.npz`` (the scalars travel in the manifest, see :meth:`manifest_section`)."""
        buffer = io.BytesIO()
        # The D×D precision in float32 (half the bytes; the distances it gives differ by < 1e-4 relative).
        scorer = self.scorer
        np.savez(
            buffer,
            centre=scorer.centre.astype(np.float64),
            scale=scorer.scale.astype(np.float64),
            weights=scorer.weights.astype(np.float64),
            mean=scorer.mean.astype(np.float64),
            precision=scorer.precision.astype(np.float32),
        )
        return buffer.getvalue()

    def manifest_section(self, **described: Any) -> dict[str, Any]:
        """The manifest's ``input_gate`` section: what the loader needs, plus ``described`` facts for people."""
        return {
            **described,
            "format_version": FORMAT_VERSION,
            "method": METHOD,
            "bias": self.scorer.bias,
            "margin_threshold": self.margin_threshold,
            "distance_threshold": self.distance_threshold,
            "margin_spread": self.margin_spread,
            "distance_spread": self.distance_spread,
        }

    @classmethod
    def from_artifact(cls, section: dict[str, Any], module: Any, raw: bytes, where: str) -> InputGate:
        """Rebuild from the manifest section, the loaded feature module and the stored arrays; an
        :class:`ArtifactError` saying what is wrong."""
        if section.get("format_version") != FORMAT_VERSION or section.get("method") != METHOD:
            raise ArtifactError(
                f"{where}: input gate of format {section.get('format_version')} / method {section.get('method')!r} "
                f"is not supported (this code reads {FORMAT_VERSION} / {METHOD}); run python -m training fit-gate"
            )
        try:
            arrays = np.load(io.BytesIO(raw), allow_pickle=False)
            loaded = {
                name: arrays[name].astype(np.float64) for name in ("centre", "scale", "weights", "mean", "precision")
            }
        except (ValueError, KeyError, OSError) as exc:
            raise ArtifactError(f"{where}: the input gate's arrays cannot be read: {exc}") from exc
        size = loaded["centre"].shape[0]
        shapes_agree = all(loaded[name].shape == (size,) for name in ("scale", "weights", "mean"))
        if not shapes_agree or loaded["precision"].shape != (size, size):
            raise ArtifactError(f"{where}: the input gate's arrays disagree in shape")
        try:
            gate = cls(
                features=module,
                scorer=GateScorer(bias=float(section["bias"]), **loaded),
                margin_threshold=float(section["margin_threshold"]),
                distance_threshold=float(section["distance_threshold"]),
                margin_spread=float(section["margin_spread"]),
                distance_spread=float(section["distance_spread"]),
            )
        except KeyError as exc:
            raise ArtifactError(f"{where}: the input gate's manifest section lacks {exc}") from exc
        return gate
