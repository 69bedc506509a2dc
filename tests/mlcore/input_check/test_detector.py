"""The feature detector and the temperature: distances to the class means after normalising, probabilities after the
temperature, and the arrays and manifest section they travel in."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlcore.errors import ArtifactError
from mlcore.input_check.detector import FeatureDetector, normalised, pooled_features, probabilities


def make_detector(threshold: float = 4.0, temperature: float = 1.0) -> FeatureDetector:
    """Two classes along the first two axes of a 3-D feature space, unit covariance."""
    means = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return FeatureDetector(means, np.eye(3), threshold, temperature, "f" * 64)


def test_scores_are_the_squared_distance_to_the_nearest_class_mean_after_normalising() -> None:
    detector = make_detector()
    scores = detector.scores(np.array([[5.0, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 0.0]]))
    # Scale does not matter (features are L2-normalised); the third row is √2 away from both means.
    assert scores[0] == pytest.approx(0.0) and scores[1] == pytest.approx(0.0)
    assert scores[2] == pytest.approx(2.0)
    assert scores[3] == pytest.approx((1 - 1 / np.sqrt(2)) ** 2 + 0.5)


def test_normalised_keeps_an_all_zero_row_at_zero() -> None:
    rows = normalised(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(rows, [[0.6, 0.8], [0.0, 0.0]])


def test_pooled_features_average_the_maps_over_space() -> None:
    maps = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    assert torch.equal(pooled_features(maps), maps.mean(dim=(2, 3)))


def test_probabilities_divide_the_logits_by_the_temperature() -> None:
    logits = torch.tensor([[2.0, 0.0]])
    plain = probabilities(logits, None)
    sharper = probabilities(logits, make_detector(temperature=0.5))
    assert torch.allclose(plain, torch.softmax(logits, dim=1))
    assert torch.allclose(sharper, torch.softmax(logits * 2, dim=1))
    assert sharper[0, 0] > plain[0, 0]


def test_the_detector_round_trips_through_its_bytes_and_manifest_section() -> None:
    detector = make_detector(threshold=3.5, temperature=0.4)
    section = detector.manifest_section(note="for people")
    back = FeatureDetector.from_artifact(section, detector.to_bytes(), "model.pt")
    assert back.threshold == 3.5 and back.temperature == 0.4 and back.weights_sha256 == "f" * 64
    assert np.array_equal(back.means, detector.means) and np.array_equal(back.precision, detector.precision)
    assert section["note"] == "for people"


def test_a_detector_of_another_format_or_with_damaged_arrays_is_refused() -> None:
    detector = make_detector()
    section = detector.manifest_section()
    with pytest.raises(ArtifactError, match="not supported"):
        FeatureDetector.from_artifact({**section, "format_version": 99}, detector.to_bytes(), "m.pt")
    with pytest.raises(ArtifactError, match="cannot be read"):
        FeatureDetector.from_artifact(section, b"not an npz", "m.pt")
    wrong = FeatureDetector(detector.means, np.eye(2), 1.0, 1.0, "f" * 64)
    with pytest.raises(ArtifactError, match="disagree"):
        FeatureDetector.from_artifact(section, wrong.to_bytes(), "m.pt")
