"""The input check's threshold rules compared (research/same_collection/input_check_rules.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.errors import DatasetError
from mlcore.input_check.detector import FeatureDetector
from research.same_collection.input_check_rules import cross_fitted_scores
from training.input_check.detector import fit_gaussians


def test_cross_fitted_scores_see_each_group_as_one_the_detector_never_saw() -> None:
    """Groups of tumours of unknown kind that each sit in their own direction: in sample each group pulls the mean
    towards itself, so a group scored by Gaussians fitted without it scores higher — what an unseen group would."""
    rng = np.random.default_rng(0)
    dims, classes = 24, 2
    train = np.concatenate([rng.normal(size=(200, dims)) + 6 * np.eye(dims)[c] for c in range(classes)])
    train_labels = np.repeat(np.arange(classes), 200)
    groups = [f"g{index}" for index in range(10) for _ in range(4)]
    unknown = np.stack([rng.normal(size=dims) + 6 * np.eye(dims)[classes + int(group[1:])] for group in groups])
    unknown += 3 * np.eye(dims)[classes - 1]  # a shared part: the collection's look
    crossed = cross_fitted_scores(train, train_labels, unknown, groups, classes, folds=5)
    means, precision = fit_gaussians(
        np.concatenate([train, unknown]), np.concatenate([train_labels, np.full(len(unknown), classes)]), classes + 1
    )
    in_sample = FeatureDetector(means, precision, np.inf, 1.0, "", 0.0).scores(unknown)
    assert crossed.shape == (len(groups),) and np.all(crossed > in_sample)
    again = cross_fitted_scores(train, train_labels, unknown, groups, classes, folds=5)
    assert np.array_equal(crossed, again)  # seeded folds
    with pytest.raises(DatasetError, match="too few"):
        cross_fitted_scores(train, train_labels, unknown[:8], groups[:8], classes, folds=5)
