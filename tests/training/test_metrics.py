"""Classification metrics against hand-computed values: accuracy, macro-F1, NLL, ECE, the confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import (
    bootstrap_interval,
    by_tumour_size,
    classification_metrics,
    expected_calibration_error,
    share_interval,
)


def test_metrics_of_a_small_hand_checked_case() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    metrics = classification_metrics(probs, labels, ["a", "b"])
    assert metrics["accuracy"] == 0.75 and metrics["confusion_matrix"] == [[1, 0], [1, 2]]
    f1_a, f1_b = 2 * 1 * 0.5 / 1.5, 2 * 1 * (2 / 3) / (1 + 2 / 3)  # precision·recall: a 0.5·1, b 1·2/3
    assert metrics["macro_f1"] == pytest.approx((f1_a + f1_b) / 2)
    assert metrics["nll"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4, 0.7])), abs=1e-6)


def test_ece_is_the_share_weighted_confidence_accuracy_gap() -> None:
    probs = np.array([[0.95, 0.05]] * 10)  # always 95 % sure of class 0
    right_half = np.array([0] * 5 + [1] * 5)  # right half of the time
    assert expected_calibration_error(probs, right_half) == pytest.approx(0.45)
    assert expected_calibration_error(probs, np.zeros(10, dtype=int)) == pytest.approx(0.05)


def test_by_tumour_size_bins_tumours_with_a_box_and_counts_no_tumour_answers() -> None:
    no_tumour = 2
    labels = np.array([0, 0, 1, 3, 1, 2, 0])
    predicted = np.array([2, 0, 1, 2, 0, 2, 2])
    areas = np.array([0.002, 0.004, 0.007, 0.02, 0.05, 0.003, np.nan])  # a no-tumour image and a boxless tumour
    rows = by_tumour_size(predicted, labels, areas, no_tumour, edges=(0.005, 0.01, 0.03))
    assert [(row["from"], row["to"], row["n"]) for row in rows] == [
        (0.0, 0.005, 2),
        (0.005, 0.01, 1),
        (0.01, 0.03, 1),
        (0.03, None, 1),
    ]
    assert [row["accuracy"] for row in rows] == [0.5, 1.0, 0.0, 0.0]
    assert [row["answered_no_tumour"] for row in rows] == [0.5, 0.0, 1.0, 0.0]
    empty = by_tumour_size(predicted, labels, areas, no_tumour, edges=(0.1,))
    assert empty[1] == {"from": 0.1, "to": None, "n": 0, "accuracy": None, "answered_no_tumour": None}


def test_an_interval_holds_its_estimate_and_a_share_needs_only_its_count() -> None:
    values = np.r_[np.ones(30), np.zeros(70)]
    low, high = bootstrap_interval(values)
    assert low < 0.3 < high and high - low < 0.2
    assert bootstrap_interval(np.ones(20)) == [1.0, 1.0]  # degenerate when all agree
    assert share_interval(0.3, 100) == [low, high]  # the same resampling, from the count alone
    median = bootstrap_interval(np.arange(101.0), statistic=lambda draw: float(np.median(draw)))
    assert median[0] < 50 < median[1]
    wider = bootstrap_interval(np.r_[np.ones(3), np.zeros(7)])
    assert wider[1] - wider[0] > high - low  # fewer items, a wider interval
