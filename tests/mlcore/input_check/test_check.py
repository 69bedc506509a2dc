"""The input check: cheap checks for colour and blank images, the DICOM tags, the content check's threshold, and one
plain sentence for each finding."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.input_check.check import cheap_check, check_input, colour_fraction
from mlcore.input_check.detector import detector_content
from tests.mlcore.input_check.test_detector import make_detector


def _anatomy(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    return (np.hypot(xx - 0.5, yy - 0.5) < 0.4).astype(np.float32) * 0.8


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
    detector = make_detector(threshold=1.0)
    near = check_input(_anatomy(), 0.0, detector_content(np.array([1.0, 0.1, 0.0]), detector))
    far = check_input(_anatomy(), 0.0, detector_content(np.array([0.0, 0.0, 1.0]), detector))
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


def test_each_finding_reads_as_one_plain_sentence_without_numbers() -> None:
    from mlcore.input_check.check import PLAIN_SENTENCES, InputCheck

    colour = InputCheck(
        in_distribution=False,
        score=None,
        threshold=None,
        reason="a colour image (40% of pixels coloured); MRI slices are greyscale",
        kind="colour",
    )
    assert colour.summary == PLAIN_SENTENCES["colour"]
    reason = "the DICOM tags name another body part than the head (X)"
    tagged = InputCheck(in_distribution=False, score=-2.0, threshold=0.0, reason=reason, kind="body-part")
    assert tagged.summary == PLAIN_SENTENCES["body-part"]
    assert InputCheck(in_distribution=True, score=-2.0, threshold=0.0).summary is None
    for sentence in PLAIN_SENTENCES.values():
        assert sentence.endswith(".") and sentence.count(".") == 1 and not any(c.isdigit() for c in sentence)
    assert colour.as_dict()["summary"] == colour.summary and "kind" not in colour.as_dict()
