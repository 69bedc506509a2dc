"""Compare out-of-distribution scores on the shipped model, as docs/INPUT_CHECK.md reports them.

Every score is fitted on the train side of the model's split; its threshold is the conformal one on the validation
side (at most 1 % false refusals); the out-of-distribution folder (``python -m training ood-set``) only measures.
Scores compared: energy, maximum softmax probability, k-nearest-neighbour cosine distance, Mahalanobis distance on
raw and on L2-normalised penultimate features. Also the temperature's ECE cross-fitted on halves of the validation side.

    .venv/bin/python bench/ood_detectors.py --ood runs/ood-set
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from ood_eval import ood_files  # bench/ood_eval.py, beside this script
from sklearn.metrics import roc_auc_score

from mlcore import artifact
from mlcore.artifact import DEFAULT_MODEL
from mlcore.input_check.detector import FeatureDetector, normalised
from training.data.dataset import SHARED_TRAINING
from training.evaluation.evaluate import model_outputs, select_files
from training.input_check.detector import conformal_threshold, fit_gaussians, fit_temperature
from training.metrics import expected_calibration_error

log = logging.getLogger("ood_detectors")
Score = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (logits, pooled) -> score, higher = less alike


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature."""
    return torch.softmax(torch.as_tensor(logits, dtype=torch.float64) / temperature, dim=1).numpy()


def scores(train_pooled: np.ndarray, train_labels: np.ndarray, classes: int) -> dict[str, Score]:
    """The candidate scores, each fitted on the train side."""
    raw_means = np.stack([train_pooled[train_labels == c].mean(axis=0) for c in range(classes)])
    centred = train_pooled - raw_means[train_labels]
    raw_precision = np.linalg.pinv(centred.T @ centred / len(centred))
    raw = FeatureDetector(raw_means, raw_precision, np.inf, 1.0, "")
    means, precision = fit_gaussians(train_pooled, train_labels, classes)
    l2 = FeatureDetector(means, precision, np.inf, 1.0, "")
    bank = normalised(train_pooled)

    def raw_mahalanobis(_: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        distances = [np.einsum("nd,de,ne->n", pooled - m, raw.precision, pooled - m) for m in raw.means]
        return np.min(np.stack(distances, axis=1), axis=1)

    def knn(k: int) -> Score:
        return lambda _, pooled: -np.sort(normalised(pooled) @ bank.T, axis=1)[:, -k]

    return {
        "energy (-logsumexp of logits)": lambda logits, _: -np.log(np.exp(logits).sum(axis=1)),
        "max softmax probability": lambda logits, _: -softmax(logits).max(axis=1),
        "kNN cosine, k = 1": knn(1),
        "kNN cosine, k = 10": knn(10),
        "Mahalanobis, raw features": raw_mahalanobis,
        "Mahalanobis, L2-normalised (shipped)": lambda _, pooled: l2.scores(pooled),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=SHARED_TRAINING)
    parser.add_argument("--ood", type=Path, default=Path("runs/ood-set"))
    parser.add_argument("--out", type=Path, default=Path("docs/research/evaluation/ood-detectors.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model = artifact.load(args.model)
    split = args.model.with_suffix(".split.json")
    classes, train = select_files(args.data, split, "train")
    _, val = select_files(args.data, split, "val")
    outside = ood_files(args.ood)
    _, train_pooled = model_outputs(model, train, show_progress=False)
    val_logits, val_pooled = model_outputs(model, val, show_progress=False)
    ood_logits, ood_pooled = model_outputs(model, [(path, 0) for path, _ in outside], show_progress=False)
    groups = np.array([group for _, group in outside])
    results: dict[str, object] = {"model": model.manifest["version"], "val": len(val), "ood": len(outside)}
    train_labels = np.array([label for _, label in train])
    for name, score in scores(train_pooled, train_labels, len(classes)).items():
        inside, out = score(val_logits, val_pooled), score(ood_logits, ood_pooled)
        threshold = conformal_threshold(inside, 0.01)
        truth = np.r_[np.zeros(len(inside)), np.ones(len(out))]
        row = {
            "auroc": round(float(roc_auc_score(truth, np.r_[inside, out])), 4),
            "caught": round(float((out > threshold).mean()), 4),
            "groups": {g: round(float((out[groups == g] > threshold).mean()), 3) for g in sorted(set(groups))},
        }
        results[name] = row
        log.info("%-40s AUROC %.4f, caught %.1f %% %s", name, row["auroc"], 100 * row["caught"], row["groups"])
    results["ece_cross_fitted"] = cross_fitted_ece(val_logits, np.array([label for _, label in val]))
    log.info("temperature, cross-fitted on halves: %s", results["ece_cross_fitted"])
    args.out.write_text(json.dumps(results, indent=1) + "\n")


def cross_fitted_ece(logits: np.ndarray, labels: np.ndarray, rounds: int = 20) -> dict[str, float]:
    """ECE on one half of the validation side with T fitted on the other half, averaged over random halves."""
    rng = np.random.default_rng(0)
    before, after = [], []
    for _ in range(rounds):
        order = rng.permutation(len(labels))
        fit_half, test_half = order[: len(order) // 2], order[len(order) // 2 :]
        temperature = fit_temperature(logits[fit_half], labels[fit_half])
        before.append(expected_calibration_error(softmax(logits[test_half]), labels[test_half]))
        after.append(expected_calibration_error(softmax(logits[test_half], temperature), labels[test_half]))
    return {"ece_before": round(float(np.mean(before)), 4), "ece_after": round(float(np.mean(after)), 4)}


if __name__ == "__main__":
    main()
