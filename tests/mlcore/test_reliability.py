"""The input check and the calibrated probabilities (mlcore/reliability.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlcore.errors import ArtifactError
from mlcore.reliability import (
    Reliability,
    cheap_check,
    check_input,
    colour_fraction,
    detector_content,
    normalised,
    pooled_features,
    probabilities,
)


def _reliability(threshold: float = 4.0, temperature: float = 1.0) -> Reliability:
    """Two classes along the first two axes of a 3-D feature space, unit covariance."""
    means = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return Reliability(means, np.eye(3), threshold, temperature, "f" * 64)


def _anatomy(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    return (np.hypot(xx - 0.5, yy - 0.5) < 0.4).astype(np.float32) * 0.8


def test_scores_are_the_squared_distance_to_the_nearest_class_mean_after_normalising() -> None:
    reliability = _reliability()
    scores = reliability.scores(np.array([[5.0, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 0.0]]))
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
    sharper = probabilities(logits, _reliability(temperature=0.5))
    assert torch.allclose(plain, torch.softmax(logits, dim=1))
    assert torch.allclose(sharper, torch.softmax(logits * 2, dim=1))
    assert sharper[0, 0] > plain[0, 0]


def test_colour_fraction_tells_a_colour_image_from_a_grey_one_stored_as_rgb() -> None:
    grey = np.repeat(np.random.default_rng(0).random((32, 32, 1)), 3, axis=2)
    noisy_grey = np.clip(grey + np.random.default_rng(1).normal(0, 0.01, grey.shape), 0, 1)  # JPEG-like chroma noise
    colour = grey.copy()
    colour[:16, :, 0] = 1.0
    colour[:16, :, 2] = 0.0
    assert colour_fraction(grey) == 0.0
    assert colour_fraction(noisy_grey) == 0.0
    assert colour_fraction(colour) > 0.4


def test_cheap_checks_refuse_colour_and_uniform_images_and_pass_anatomy() -> None:
    assert cheap_check(_anatomy(), 0.0) is None
    kind, reason = cheap_check(_anatomy(), 0.3) or ("", "")
    assert kind == "colour" and "30%" in reason
    for flat in (np.zeros((64, 64)), np.full((64, 64), 0.7), np.full((64, 64), 0.5) + 0.01 * np.eye(64)):
        assert (cheap_check(flat.astype(np.float32), 0.0) or ("",))[0] == "uniform"


def test_check_input_accepts_below_the_threshold_and_refuses_above_with_a_reason() -> None:
    reliability = _reliability(threshold=1.0)
    near = check_input(_anatomy(), 0.0, detector_content(np.array([1.0, 0.1, 0.0]), reliability))
    far = check_input(_anatomy(), 0.0, detector_content(np.array([0.0, 0.0, 1.0]), reliability))
    assert near.in_distribution and near.reason is None and near.kind is None and near.score is not None
    assert near.score <= near.threshold == 1.0
    assert not far.in_distribution and far.kind == "content" and far.score == pytest.approx(2.0)
    assert far.reason is not None and "unlike the brain MRI slices" in far.reason
    assert far.as_dict() == {
        "in_distribution": False,
        "summary": "This image does not look like a brain MRI slice.",
        "score": 2.0,
        "threshold": 1.0,
        "reason": far.reason,
    }


def test_tags_naming_another_body_part_refuse_whatever_the_content_says() -> None:
    reason = "the DICOM tags name another body part than the head (BodyPartExamined 'KNEE')"
    refused = check_input(_anatomy(), 0.0, (-3.0, 0.0), tags_reason=reason)
    assert not refused.in_distribution and refused.kind == "body-part" and refused.reason == reason
    assert refused.summary == "Its DICOM tags name another body part than the head."
    assert check_input(_anatomy(), 0.0, (-3.0, 0.0)).in_distribution


def test_an_accepted_input_never_carries_a_reason() -> None:
    for content in ((-1.0, 0.0), None):
        accepted = check_input(_anatomy(), 0.0, content)
        assert accepted.in_distribution and accepted.reason is None and accepted.summary is None


def test_without_a_content_check_only_the_cheap_checks_decide() -> None:
    accepted = check_input(_anatomy(), 0.0, detector_content(np.zeros(3), None))
    refused = check_input(np.zeros((64, 64), np.float32), 0.0, None)
    assert accepted.in_distribution and accepted.score is None and accepted.threshold is None
    assert not refused.in_distribution and refused.kind == "uniform"


def test_the_detector_round_trips_through_its_bytes_and_manifest_section() -> None:
    reliability = _reliability(threshold=3.5, temperature=0.4)
    section = reliability.manifest_section(note="for people")
    back = Reliability.from_artifact(section, reliability.to_bytes(), "model.pt")
    assert back.threshold == 3.5 and back.temperature == 0.4 and back.weights_sha256 == "f" * 64
    assert np.array_equal(back.means, reliability.means) and np.array_equal(back.precision, reliability.precision)
    assert section["note"] == "for people"


def test_a_detector_of_another_format_or_with_damaged_arrays_is_refused() -> None:
    reliability = _reliability()
    section = reliability.manifest_section()
    with pytest.raises(ArtifactError, match="not supported"):
        Reliability.from_artifact({**section, "format_version": 99}, reliability.to_bytes(), "m.pt")
    with pytest.raises(ArtifactError, match="cannot be read"):
        Reliability.from_artifact(section, b"not an npz", "m.pt")
    wrong = Reliability(reliability.means, np.eye(2), 1.0, 1.0, "f" * 64)
    with pytest.raises(ArtifactError, match="disagree"):
        Reliability.from_artifact(section, wrong.to_bytes(), "m.pt")


def test_each_finding_reads_as_one_plain_sentence_without_numbers() -> None:
    from mlcore.reliability import PLAIN_SENTENCES, InputCheck

    colour = InputCheck(
        False, None, None, "a colour image (40% of pixels coloured); MRI slices are greyscale", "colour"
    )
    assert colour.summary == PLAIN_SENTENCES["colour"]
    tagged = InputCheck(False, -2.0, 0.0, "the DICOM tags name another body part than the head (X)", "body-part")
    assert tagged.summary == PLAIN_SENTENCES["body-part"]
    assert InputCheck(True, -2.0, 0.0).summary is None
    for sentence in PLAIN_SENTENCES.values():
        assert sentence.endswith(".") and sentence.count(".") == 1 and not any(c.isdigit() for c in sentence)
    assert colour.as_dict()["summary"] == colour.summary
