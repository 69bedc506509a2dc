"""The evaluation report: headline numbers, per-class rows and the confusion matrix; the figures are written."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.evaluation.report import markdown_report, plot_calibration, plot_confusion_matrix
from training.metrics import classification_metrics


def test_the_report_and_figures_carry_the_metrics(tmp_path: Path) -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    labels = np.array([0, 1, 1])
    metrics = classification_metrics(probs, labels, ["glioma", "notumor"])
    text = markdown_report(metrics, "Evaluation", "three images")
    assert "- accuracy: 0.6667" in text and "| **notumor** | 1 | 1 |" in text
    assert text.count("\n| glioma | 0.5000 | 1.0000 |") == 1 and "three images" in text  # its per-class row
    plot_confusion_matrix(metrics["confusion_matrix"], ["glioma", "notumor"], tmp_path / "cm.png")
    plot_calibration(probs, labels, metrics["ece"], tmp_path / "rel.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "rel.png").stat().st_size > 1000
