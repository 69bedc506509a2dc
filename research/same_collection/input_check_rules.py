"""Which threshold rule lets the input check answer unseen slices of the other collection and still refuse what is
not a brain MRI?

``python -m research.same_collection.input_check_rules --model runs/<name>/model.pt --ood runs/ood-set`` scores,
with the artifact's own detector (the Gaussians ``fit-detector`` stored), the validation side of the main dataset, the
held-aside groups of tumours of unknown kind and the out-of-distribution folder; then sets the threshold by each rule
below from in-distribution data only and prints, for each, the share of each set it refuses:

- ``validation``: conformal on the validation side alone;
- ``in-sample``: that, or the largest score of the train-side tumours of unknown kind (the rule ``fit-detector`` used
  before), whose Gaussian was fitted on those very slices;
- ``cross-fitted``: that, or the conformal threshold of the train-side tumours' *cross-fitted* scores — each group
  scored by Gaussians fitted without its fold of groups (:func:`cross_fitted_scores`), as a group the detector
  never saw would score;
- ``held-aside`` (what ``fit-detector`` does): that, or the largest score of the held-aside groups — measured on them
  leaving each group out (each against the threshold set without it), as ``evaluate`` does.

Only the last rule uses the held-aside groups, and it measures each of them as unseen. Every image goes through the
evaluation's reading and the service's input check (:func:`training.evaluation.evaluate.answered`), the cheap checks
included.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mlcore import artifact
from mlcore.errors import DatasetError
from mlcore.input_check.detector import FeatureDetector
from training.data.dataset import SHARED_TRAINING, SHARED_UNKNOWN_KIND
from training.evaluation.evaluate import answered, model_outputs, one_per_group, select_files, unknown_kind_files
from training.input_check.detector import conformal_threshold, fit_gaussians, unknown_kind_side

log = logging.getLogger(__name__)


def refusal_table(model_path: Path, ood_dir: Path, *, false_refusal: float = 0.01) -> dict[str, Any]:
    """Each rule's threshold and the share it refuses of the validation side, the held-aside same-collection
    tumours (one slice per group and every copy) and the OOD images."""
    model = artifact.load(model_path)
    if model.feature_detector is None:
        raise SystemExit(f"{model_path} has no input check (python -m training fit-detector)")
    split = model_path.parent / "split.json"
    _, train = select_files(SHARED_TRAINING, split, "train")
    _, val = select_files(SHARED_TRAINING, split, "val")
    unknown, unknown_groups = unknown_kind_side(split, "train")
    held_paths, held_groups = unknown_kind_files(SHARED_UNKNOWN_KIND, split)
    ood_paths = sorted(path for path in ood_dir.glob("*/*") if path.suffix.lower() in {".png", ".jpg", ".jpeg"})
    sets = {
        "train": train,
        "val": val,
        "unknown": unknown,
        "held": [(path, 0) for path in held_paths],
        "ood": [(path, 0) for path in ood_paths],
    }
    pooled = features_of(model, sets, model_path.with_suffix(".features.npz"))
    train_pooled, val_pooled, unknown_pooled, held_pooled, ood_pooled = (pooled[name] for name in sets)
    detector = model.feature_detector
    cheap_ok_held = answered_cheaply(model, held_paths, held_pooled)
    cheap_ok_ood = answered_cheaply(model, ood_paths, ood_pooled)

    train_labels = np.array([label for _, label in train])
    crossed = cross_fitted_scores(train_pooled, train_labels, unknown_pooled, unknown_groups, len(model.classes))
    validation = conformal_threshold(detector.scores(val_pooled), false_refusal)
    in_sample = max(validation, float(detector.scores(unknown_pooled).max()))
    val_scores, held_scores, ood_scores = (detector.scores(f) for f in (val_pooled, held_pooled, ood_pooled))
    members = np.array(held_groups)
    without_own_group = np.array([max(in_sample, held_scores[members != group].max()) for group in held_groups])
    rules = {  # the threshold, and the one each held-aside image meets
        "validation": (validation, np.full(len(held_scores), validation)),
        "in-sample": (in_sample, np.full(len(held_scores), in_sample)),
        "cross-fitted": (max(validation, conformal_threshold(crossed, false_refusal)),) * 2,
        "held-aside": (max(in_sample, float(held_scores.max())), without_own_group),
        "stored": (detector.threshold, np.full(len(held_scores), detector.threshold)),
    }
    first = one_per_group(held_groups)
    table = {}
    for name, (threshold, held_threshold) in rules.items():
        held_refused = ~cheap_ok_held | (held_scores > held_threshold)
        table[name] = {
            "threshold": round(threshold, 1),
            "validation_refused": float((val_scores > threshold).mean()),
            "same_collection_refused_groups": float(held_refused[first].mean()),
            "same_collection_refused_copies": float(held_refused.mean()),
            "ood_refused": float((~cheap_ok_ood | (ood_scores > threshold)).mean()),
            "ood_n": len(ood_paths),
        }
    return table


def cross_fitted_scores(
    train_pooled: np.ndarray,
    train_labels: np.ndarray,
    unknown_pooled: np.ndarray,
    unknown_groups: list[str],
    n_classes: int,
    *,
    folds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """The scores of the train-side tumours of unknown kind as groups the detector never saw would score: their
    groups dealt into ``folds`` folds, each fold scored by Gaussians fitted on the main training images and the
    other folds' tumours. (Their in-sample scores are optimistic: their mean was fitted on them.)"""
    names = sorted(set(unknown_groups))
    if len(names) < folds:
        raise DatasetError(f"{len(names)} groups of tumours of unknown kind are too few for {folds} folds")
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of_group = {names[index]: position % folds for position, index in enumerate(order)}
    fold = np.array([fold_of_group[group] for group in unknown_groups])
    scores = np.empty(len(unknown_groups))
    for held in range(folds):
        kept = fold != held
        means, precision = fit_gaussians(
            np.concatenate([train_pooled, unknown_pooled[kept]]),
            np.concatenate([train_labels, np.full(int(kept.sum()), n_classes)]),
            n_classes + 1,
        )
        scores[~kept] = FeatureDetector(means, precision, math.inf, 1.0, "", 0.0).scores(unknown_pooled[~kept])
    return scores


def features_of(
    model: artifact.LoadedModel, sets: dict[str, list[tuple[Path, int]]], cache: Path
) -> dict[str, np.ndarray]:
    """The pooled features of each set of files, read from ``cache`` when it holds them for this artifact (same
    sha256 and files), else computed and stored there."""
    key = json.dumps(
        {"sha256": model.sha256, "files": {name: [str(p) for p, _ in files] for name, files in sets.items()}}
    )
    if cache.is_file():
        stored = np.load(cache)
        if str(stored["key"]) == key:
            return {name: stored[name] for name in sets}
    pooled = {name: model_outputs(model, files, desc=f"{name} features")[1] for name, files in sets.items()}
    arrays: dict[str, Any] = {"key": np.array(key), **pooled}
    np.savez(cache, **arrays)
    return pooled


def answered_cheaply(model: artifact.LoadedModel, paths: list[Path], pooled: np.ndarray) -> np.ndarray:
    """Which images pass the cheap checks (colour, blank): the service's check with the detector's threshold lifted."""
    assert model.feature_detector is not None
    lifted = dataclasses.replace(model.feature_detector, threshold=np.inf)
    return answered(dataclasses.replace(model, feature_detector=lifted), paths, pooled)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--ood", type=Path, required=True)
    parser.add_argument("--out", type=Path, help="also write the table as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    table = refusal_table(args.model, args.ood)
    if args.out:
        args.out.write_text(json.dumps(table, indent=2) + "\n")
    lines = ["| rule | threshold | validation refused | same collection refused (groups / copies) | OOD refused |"]
    lines.append("|---|---:|---:|---:|---:|")
    for name, row in table.items():
        lines.append(
            f"| {name} | {row['threshold']} | {row['validation_refused']:.1%} | "
            f"{row['same_collection_refused_groups']:.1%} / {row['same_collection_refused_copies']:.1%} | "
            f"{row['ood_refused']:.1%} |"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
