"""Fit the input check and the temperature of an existing artifact, weights unchanged (``python -m training
fit-detector``).

The detector's Gaussians come from the *train* side of the model's split — one per class, and one more for the
tumours of unknown kind when the model trained with some (a brain MRI from another scanner is in distribution); the
threshold and the temperature from the *validation* side only (in-distribution data the weights never trained on) —
never from out-of-distribution examples. The method is described in :mod:`mlcore.input_check.check` and measured in
``docs/INPUT_CHECK.md``.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.covariance import LedoitWolf

from mlcore import artifact
from mlcore.errors import DatasetError
from mlcore.input_check.detector import FeatureDetector, normalised
from training.data.unknown_kind import group_of_each
from training.evaluation.evaluate import HELD_ASIDE_PART, calibration_summary, model_outputs, select_files
from training.provenance import this_command

log = logging.getLogger(__name__)


def fit_gaussians(pooled: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Class means and the inverse of the shared, Ledoit-Wolf-shrunk covariance of L2-normalised features."""
    features = normalised(np.asarray(pooled, dtype=np.float64))
    missing = [c for c in range(n_classes) if not (labels == c).any()]
    if missing:
        raise DatasetError(f"no training images of class index {missing}: the detector needs every class")
    means = np.stack([features[labels == c].mean(axis=0) for c in range(n_classes)])
    covariance = LedoitWolf().fit(features - means[labels]).covariance_
    return means, np.linalg.inv(covariance)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 that minimises the negative log-likelihood of softmax(logits / T) (L-BFGS on log T)."""
    z = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimiser.step(closure)
    return float(log_t.detach().exp())


def conformal_threshold(scores: np.ndarray, false_refusal: float) -> float:
    """The ⌈(n+1)(1−α)⌉-th smallest of n in-distribution scores: a new one like them exceeds it with chance ≤ α."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    rank = math.ceil((len(ordered) + 1) * (1 - false_refusal))
    if rank > len(ordered):
        raise DatasetError(
            f"{len(ordered)} validation images are too few for a false-refusal rate of {false_refusal:.2%}"
        )
    return float(ordered[rank - 1])


def detector_threshold(
    unfitted: FeatureDetector,
    val_pooled: np.ndarray,
    unknown_pooled: np.ndarray | None,
    held_pooled: np.ndarray | None,
    *,
    false_refusal: float,
) -> tuple[float, str, dict[str, float]]:
    """The detector's threshold, its rule and its parts: conformal on the validation side; with tumours of unknown
    kind, at least the largest of their train-side scores, and the largest score of their held-aside groups (slices
    of the other collection the weights never trained on: the validation side's counterpart, whose refusals the
    evaluation then measures group by group, each with a threshold set without it —
    :func:`training.evaluation.evaluate.same_collection_report`). In-distribution data only, always."""
    parts = {"validation": conformal_threshold(unfitted.scores(val_pooled), false_refusal)}
    rule = (
        f"conformal: the ceil((n+1)(1-a))-th smallest of n = {len(val_pooled)} validation scores, a = {false_refusal}"
    )
    if unknown_pooled is not None:
        parts["unknown_kind_train"] = float(unfitted.scores(unknown_pooled).max())
        rule += f", or the largest score of the {len(unknown_pooled)} train-side tumours of unknown kind"
    if held_pooled is not None:
        parts[HELD_ASIDE_PART] = float(unfitted.scores(held_pooled).max())
        rule += f", or the largest score of the {len(held_pooled)} held-aside tumours of unknown kind"
    if len(parts) > 1:
        rule += ", whichever is highest"
    return max(parts.values()), rule, parts


def unknown_kind_side(split_file: Path, side: str) -> tuple[list[tuple[Path, int]], list[str]]:
    """The tumours of unknown kind on one side (``"train"`` or ``"val"``, the held-aside groups) of a split's
    ``unknown_kind`` record, as (file, 0) pairs, and each one's group of copies (from the folder's ``boxes.csv``);
    none when the split records none."""
    record = json.loads(split_file.read_text()).get("unknown_kind")
    if not record:
        return [], []
    root = Path(record["root"])
    missing = [path for path in record[side] if not (root / path).is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} tumours of unknown kind of {split_file} are missing under {root}")
    groups = group_of_each(root)
    return [(root / path, 0) for path in record[side]], [groups[path] for path in record[side]]


def unknown_kind_features(
    model: artifact.LoadedModel, split_file: Path, *, show_progress: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The pooled features of the split's train-side and held-aside tumours of unknown kind (None for a side it
    records none of)."""
    pooled: list[np.ndarray | None] = []
    for side, desc in (("train", "unknown-kind features"), ("val", "held-aside unknown-kind")):
        files, _ = unknown_kind_side(split_file, side)
        pooled.append(model_outputs(model, files, show_progress=show_progress, desc=desc)[1] if files else None)
    return pooled[0], pooled[1]


def fit_detector(
    model_path: Path,
    data_root: Path,
    split_file: Path,
    *,
    false_refusal: float = 0.01,
    version: str | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Fit the detector (train side) and the threshold and temperature (validation side), store them in
    ``model_path`` (module, weights and calibration images unchanged; the manifest's version becomes ``version``
    when given) and return the manifest section."""
    model = artifact.load(model_path)
    classes, train = select_files(data_root, split_file, "train")
    _, val = select_files(data_root, split_file, "val")
    if classes != model.classes:
        raise DatasetError(f"the model's classes {model.classes} differ from the data's {classes}")
    _, train_pooled = model_outputs(model, train, show_progress=show_progress, desc="train features")
    val_logits, val_pooled = model_outputs(model, val, show_progress=show_progress, desc="validation features")
    train_labels = np.array([label for _, label in train])
    val_labels = np.array([label for _, label in val])
    unknown_pooled, held_pooled = unknown_kind_features(model, split_file, show_progress=show_progress)
    unknown = 0 if unknown_pooled is None else len(unknown_pooled)
    if unknown_pooled is not None:
        train_pooled = np.concatenate([train_pooled, unknown_pooled])
        train_labels = np.concatenate([train_labels, np.full(unknown, len(classes))])
    means, precision = fit_gaussians(train_pooled, train_labels, len(classes) + (1 if unknown else 0))
    unfitted = FeatureDetector(means, precision, math.inf, 1.0, artifact.weights_sha256(model.module), false_refusal)
    threshold, rule, parts = detector_threshold(
        unfitted, val_pooled, unknown_pooled, held_pooled, false_refusal=false_refusal
    )
    temperature = fit_temperature(val_logits, val_labels)
    detector = FeatureDetector(means, precision, threshold, temperature, unfitted.weights_sha256, false_refusal)
    calibration = calibration_summary(val_logits, val_labels, detector)
    section = detector.manifest_section(
        features="the backbone's feature maps averaged over space, L2-normalised",
        gaussians=f"class means and a shared Ledoit-Wolf covariance, from {len(train)} train-side images"
        + (f", and the mean of {unknown} train-side tumours of unknown kind" if unknown else ""),
        threshold_rule=rule,
        threshold_parts={name: round(value, 3) for name, value in parts.items()},
        calibration={
            "method": "temperature scaling, minimum NLL on the validation side",
            "n": len(val),
            **{key: round(value, 4) for key, value in calibration.items() if key != "temperature"},
        },
        command=this_command(),
    )
    manifest = {**model.manifest, "feature_detector": section, "version": version or model.manifest["version"]}
    digest = artifact.save(
        model.module, manifest, model_path, calibration=model.calibration, feature_detector=detector, gate=model.gate
    )
    ece = section["calibration"]
    log.info("input check stored in %s (sha256 %s): threshold %.2f, temperature %.3f, ECE %.4f -> %.4f", model_path,
             digest[:12], threshold, temperature, ece["ece_before"], ece["ece_after"])  # fmt: skip
    return section
