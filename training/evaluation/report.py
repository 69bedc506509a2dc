"""Figures and the Markdown report of an evaluation: confusion matrix and calibration diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from training.metrics import calibration_bins


def plot_confusion_matrix(matrix: list[list[int]], classes: list[str], path: Path) -> None:
    """Save the confusion matrix (rows: true class, columns: predicted) as a PNG."""
    counts = np.array(matrix)
    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=120)
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            colour = "white" if counts[i, j] > counts.max() / 2 else "black"
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", color=colour)
    ax.set_title("Confusion matrix")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_calibration(probs: np.ndarray, labels: np.ndarray, ece: float, path: Path) -> None:
    """Save a calibration diagram: accuracy against confidence per bin, with bin shares."""
    bins = calibration_bins(probs, labels)
    centres = [(lo + hi) / 2 for lo, hi in zip(bins["lower"], bins["upper"], strict=True)]
    width = bins["upper"][0] - bins["lower"][0]
    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=120)
    ax.bar(centres, bins["accuracy"], width=width * 0.9, color="#4878d0", label="accuracy")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Calibration (ECE {ece:.3f})")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def markdown_report(metrics: dict[str, Any], title: str, source: str) -> str:
    """The evaluation as Markdown: headline numbers, a per-class table, the confusion matrix."""
    classes = metrics["classes"]
    lines = [
        f"# {title}",
        "",
        f"{source}",
        "",
        f"- images: {metrics['n']}",
        f"- accuracy: {metrics['accuracy']:.4f}",
        f"- macro-F1: {metrics['macro_f1']:.4f}",
        f"- macro ROC-AUC (one-vs-rest): {metrics['macro_roc_auc']:.4f}" if metrics["macro_roc_auc"] else "",
        f"- expected calibration error (15 bins): {metrics['ece']:.4f}",
        f"- negative log-likelihood: {metrics['nll']:.4f}",
        "",
        "| class | precision | recall | F1 | ROC-AUC | support |",
        "|---|---|---|---|---|---|",
    ]
    for name in classes:
        entry = metrics["per_class"][name]
        auc = f"{entry['roc_auc']:.4f}" if "roc_auc" in entry else "–"
        lines.append(
            f"| {name} | {entry['precision']:.4f} | {entry['recall']:.4f} | {entry['f1']:.4f} | {auc} "
            f"| {entry['support']} |"
        )
    lines += ["", "Confusion matrix (rows: true, columns: predicted):", "", "| | " + " | ".join(classes) + " |"]
    lines.append("|---" * (len(classes) + 1) + "|")
    for name, row in zip(classes, metrics["confusion_matrix"], strict=True):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(line for line in lines if line is not None) + "\n"
