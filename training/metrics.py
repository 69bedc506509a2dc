"""Classification metrics: accuracy, per-class precision/recall/F1, macro-F1, ROC-AUC, calibration; and the bootstrap
95 % intervals every reported number carries."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

# Bootstrap draws of an interval: the percentile interval's ends move by about 0.1 point between seeds at 2,000.
BOOTSTRAP = 2000


def bootstrap_interval(
    values: np.ndarray, statistic: Callable[[np.ndarray], float] | None = None, *, seed: int = 0
) -> list[float]:
    """The bootstrap 95 % percentile interval of ``statistic`` (the mean when None) over ``values``' rows resampled
    with replacement, rounded to 4 decimals; NaN ends for no values. Seeded: the same values give the same interval."""
    values = np.asarray(values)
    if len(values) == 0:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    draws = rng.choice(len(values), size=(BOOTSTRAP, len(values)), replace=True)
    if statistic is None:
        estimates = values.astype(float)[draws].mean(axis=1)
    else:
        estimates = np.array([statistic(draw) for draw in draws])
    return [round(float(v), 4) for v in np.percentile(estimates, [2.5, 97.5])]


def share_interval(share: float, n: int, *, seed: int = 0) -> list[float]:
    """The bootstrap 95 % interval of a share of ``n`` items, from the share alone: resampling ``n`` outcomes of which
    ``round(share · n)`` are ones is resampling the items themselves (a share's bootstrap needs nothing else)."""
    ones = round(share * n)
    return bootstrap_interval(np.r_[np.ones(ones), np.zeros(n - ones)], seed=seed)


def calibration_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> dict[str, list[float]]:
    """Per confidence bin: mean confidence, accuracy and share of samples (for the diagram and ECE)."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    bins: dict[str, list[float]] = {"lower": [], "upper": [], "confidence": [], "accuracy": [], "share": []}
    for b in range(n_bins):
        members = index == b
        bins["lower"].append(float(edges[b]))
        bins["upper"].append(float(edges[b + 1]))
        bins["share"].append(float(members.mean()) if len(members) else 0.0)
        bins["confidence"].append(float(confidence[members].mean()) if members.any() else 0.0)
        bins["accuracy"].append(float(correct[members].mean()) if members.any() else 0.0)
    return bins


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """ECE: the share-weighted gap between confidence and accuracy over equal-width bins."""
    bins = calibration_bins(probs, labels, n_bins)
    return float(
        sum(s * abs(a - c) for s, a, c in zip(bins["share"], bins["accuracy"], bins["confidence"], strict=True))
    )


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """The multi-class Brier score: mean over images of the squared distance between probabilities and the one-hot
    label (0 is perfect, 2 the worst)."""
    one_hot = np.eye(probs.shape[1])[labels]
    return float(((probs - one_hot) ** 2).sum(axis=1).mean())


def classification_metrics(probs: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """All metrics of one evaluation as a JSON-ready dict.

    ``probs`` is (N, C) with rows summing to one; ``labels`` (N,) integer classes. ROC-AUC is
    one-vs-rest per class (omitted for a class absent from ``labels``) with its macro mean.
    """
    predicted = probs.argmax(axis=1)
    all_labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=all_labels, zero_division=0
    )
    per_class: dict[str, dict[str, float]] = {}
    aucs = []
    for k, name in enumerate(classes):
        entry = {
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
        }
        positives = labels == k
        if 0 < positives.sum() < len(labels):
            entry["roc_auc"] = float(roc_auc_score(positives, probs[:, k]))
            aucs.append(entry["roc_auc"])
        per_class[name] = entry
    eps = 1e-12
    return {
        "n": len(labels),
        "accuracy": float((predicted == labels).mean()),
        "macro_f1": float(np.mean(f1)),
        "macro_roc_auc": float(np.mean(aucs)) if aucs else None,
        "nll": float(-np.mean(np.log(probs[np.arange(len(labels)), labels] + eps))),
        "ece": expected_calibration_error(probs, labels),
        "per_class": per_class,
        "classes": list(classes),
        "confusion_matrix": confusion_matrix(labels, predicted, labels=all_labels).tolist(),
    }


# Edges of the tumour-size bins: the tumour box's area as a share of the image's (the shared boxes' median is ~1.7 %).
TUMOUR_SIZE_EDGES = (0.005, 0.01, 0.03)


def by_tumour_size(
    predicted: np.ndarray,
    labels: np.ndarray,
    box_areas: np.ndarray,
    no_tumour: int,
    *,
    edges: tuple[float, ...] = TUMOUR_SIZE_EDGES,
) -> list[dict[str, Any]]:
    """Accuracy and the share answered no-tumour of the tumour images with a box, by the box's size.

    ``box_areas`` (N,) holds each image's tumour box area as a share of the image, NaN where it has none; images of
    class ``no_tumour`` and those without a box are left out. One row per bin (below ``edges[0]``, between
    neighbouring edges, at or above ``edges[-1]``), empty bins included with ``n`` 0 — small tumours are where a
    model whose decision rests on the tumour misses first.
    """
    tumour = (labels != no_tumour) & ~np.isnan(box_areas)
    bounds = (0.0, *edges, None)
    rows: list[dict[str, Any]] = []
    for lower, upper in pairwise(bounds):
        members = tumour & (box_areas >= lower) & (box_areas < (np.inf if upper is None else upper))
        n = int(members.sum())
        rows.append(
            {
                "from": lower,
                "to": upper,
                "n": n,
                "accuracy": float((predicted[members] == labels[members]).mean()) if n else None,
                "answered_no_tumour": float((predicted[members] == no_tumour).mean()) if n else None,
            }
        )
    return rows
