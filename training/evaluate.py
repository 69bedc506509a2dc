"""Evaluate a shipped artifact on images through the one eval preprocessing, and write a report."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mlcore import artifact
from mlcore.errors import DatasetError
from mlcore.preprocessing import PreprocessSpec, preprocess
from mlcore.reliability import Reliability, pooled_features, probabilities
from training.counterfactual import NO_TUMOUR
from training.data import discover, read_gray
from training.localisation import read_boxes
from training.metrics import brier_score, by_tumour_size, classification_metrics, expected_calibration_error
from training.ood_eval import input_check_markdown, input_check_report
from training.report import markdown_report, plot_confusion_matrix, plot_reliability

log = logging.getLogger(__name__)


def select_files(root: Path, split_file: Path | None, subset: str) -> tuple[list[str], list[tuple[Path, int]]]:
    """The (file, label) pairs to evaluate: all images under ``root``, or one side of a split.

    With ``split_file`` (a run's ``split.json``), only the images listed under ``subset``
    ("val" or "train") are kept, so the evaluation never touches images the model trained on.
    """
    classes, files = discover(root)
    if split_file is None:
        return classes, files
    split = json.loads(split_file.read_text())
    if split["classes"] != classes:
        raise DatasetError(f"{split_file} names classes {split['classes']} but {root} holds {classes}")
    wanted = set(split[subset])
    chosen = [(path, label) for path, label in files if f"{root.name}/{path.parent.name}/{path.name}" in wanted]
    if len(chosen) != len(wanted):
        missing = len(wanted) - len(chosen)
        raise DatasetError(f"{missing} images of {split_file}'s {subset} side are missing under {root}")
    return classes, chosen


def model_outputs(
    model: artifact.LoadedModel,
    files: list[tuple[Path, int]],
    *,
    batch_size: int = 32,
    show_progress: bool = True,
    desc: str = "evaluate",
) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) and penultimate features (N, D) of image files, each through
    :func:`mlcore.preprocessing.preprocess` and the artifact's ``features``/``classify``."""
    spec = PreprocessSpec.from_manifest(model.manifest)
    logits: list[torch.Tensor] = []
    pooled: list[torch.Tensor] = []
    for start in tqdm(range(0, len(files), batch_size), desc=desc, unit="batch", disable=not show_progress):
        batch = torch.cat([preprocess(read_gray(path), spec) for path, _ in files[start : start + batch_size]])
        with torch.inference_mode():
            feature_maps = model.module.features(batch)
            logits.append(model.module.classify(feature_maps))
            pooled.append(pooled_features(feature_maps))
    return torch.cat(logits).numpy(), torch.cat(pooled).numpy()


def predict_files(
    model: artifact.LoadedModel, files: list[tuple[Path, int]], batch_size: int = 32, show_progress: bool = True
) -> np.ndarray:
    """Class probabilities (N, C) for image files, calibrated as the service gives them (the artifact's
    temperature, if it has one)."""
    logits, _ = model_outputs(model, files, batch_size=batch_size, show_progress=show_progress)
    return probabilities(torch.from_numpy(logits), model.reliability).numpy()


def calibration_summary(logits: np.ndarray, labels: np.ndarray, reliability: Reliability | None) -> dict[str, Any]:
    """ECE (15 bins) and Brier score of the probabilities before and after the artifact's temperature."""
    before = probabilities(torch.from_numpy(logits), None).numpy()
    after = probabilities(torch.from_numpy(logits), reliability).numpy()
    return {
        "temperature": reliability.temperature if reliability else 1.0,
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
        "brier_before": brier_score(before, labels),
        "brier_after": brier_score(after, labels),
    }


def evaluate_artifact(
    model_path: Path,
    data_root: Path,
    split_file: Path | None,
    *,
    subset: str,
    out_dir: Path,
    ood_dir: Path | None = None,
    boxes_csv: Path | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Evaluate the artifact and write ``metrics.json``, ``report.md`` and PNG figures to ``out_dir``.

    Probabilities are the calibrated ones the service gives; the calibration section compares them with the
    uncalibrated ones. With ``ood_dir``, the input check is measured too (:mod:`training.ood_eval`); with
    ``boxes_csv``, accuracy by tumour size (:func:`training.metrics.by_tumour_size`) for the images it boxes.
    """
    model = artifact.load(model_path)
    classes, files = select_files(data_root, split_file, subset)
    if classes != model.classes:
        raise DatasetError(f"the model's classes {model.classes} differ from the data's {classes}")
    logits, _ = model_outputs(model, files, show_progress=show_progress)
    probs = probabilities(torch.from_numpy(logits), model.reliability).numpy()
    labels = np.array([label for _, label in files])
    metrics = classification_metrics(probs, labels, classes)
    metrics["calibration"] = calibration_summary(logits, labels, model.reliability)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_confusion_matrix(metrics["confusion_matrix"], classes, out_dir / "confusion_matrix.png")
    uncalibrated = probabilities(torch.from_numpy(logits), None).numpy()
    plot_reliability(uncalibrated, labels, metrics["calibration"]["ece_before"], out_dir / "reliability_before.png")
    plot_reliability(probs, labels, metrics["ece"], out_dir / "reliability.png")
    what = f"the {subset} side of {split_file}" if split_file else "every image"
    shown_root = os.path.relpath(data_root) if data_root.is_absolute() else data_root
    source = f"Model `{model_path.name}` (sha256 `{model.sha256[:12]}`) on {what} under `{shown_root}`."
    report = markdown_report(metrics, "Evaluation", source) + calibration_markdown(metrics["calibration"])
    if boxes_csv is not None and NO_TUMOUR in classes:
        areas = box_areas(files, data_root, boxes_csv)
        metrics["by_tumour_size"] = by_tumour_size(probs.argmax(1), labels, areas, classes.index(NO_TUMOUR))
        report += tumour_size_markdown(metrics["by_tumour_size"], NO_TUMOUR)
    if ood_dir is not None:
        metrics["input_check"] = input_check_report(model, files, ood_dir, show_progress=show_progress)
        report += input_check_markdown(metrics["input_check"], ood_dir)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out_dir / "report.md").write_text(report)
    log.info(
        "accuracy %.4f, macro-F1 %.4f, ECE %.4f on %d images; report in %s",
        metrics["accuracy"],
        metrics["macro_f1"],
        metrics["ece"],
        metrics["n"],
        out_dir,
    )
    return metrics


def box_areas(files: list[tuple[Path, int]], data_root: Path, boxes_csv: Path) -> np.ndarray:
    """Each file's tumour box area as a share of its image (width × height of the box's fractions), NaN where the
    boxes file has none; files are keyed as the boxes file keys them, ``<root name>/<class>/<file>``."""
    boxes = read_boxes(boxes_csv)
    keys = [f"{data_root.name}/{path.parent.name}/{path.name}" for path, _ in files]
    return np.array([boxes[key][2] * boxes[key][3] if key in boxes else np.nan for key in keys])


def tumour_size_markdown(rows: list[dict[str, Any]], no_tumour: str) -> str:
    """The report's section on accuracy by tumour size (the rows of :func:`training.metrics.by_tumour_size`)."""
    lines = [
        "",
        "## By tumour size",
        "",
        "Tumour images with a box, by the box's area as a share of the image.",
        "",
        f"| box area | images | accuracy | answered {no_tumour} |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        span = f"≥ {row['from']:.1%}" if row["to"] is None else f"{row['from']:.1%} – {row['to']:.1%}"
        if row["n"] == 0:
            lines.append(f"| {span} | 0 | – | – |")
        else:
            lines.append(f"| {span} | {row['n']} | {row['accuracy']:.3f} | {row['answered_no_tumour']:.3f} |")
    return "\n".join([*lines, ""])


def calibration_markdown(calibration: dict[str, Any]) -> str:
    """The calibration section of the report: ECE and Brier score before and after the temperature."""
    return "\n".join(
        [
            "",
            "## Calibration",
            "",
            f"Temperature T = {calibration['temperature']:.3f} (probabilities are softmax(logits / T)).",
            "",
            "| | ECE (15 bins) | Brier score | diagram |",
            "|---|---:|---:|---|",
            f"| before (T = 1) | {calibration['ece_before']:.4f} | {calibration['brier_before']:.4f} | "
            "`reliability_before.png` |",
            f"| after | {calibration['ece_after']:.4f} | {calibration['brier_after']:.4f} | `reliability.png` |",
            "",
        ]
    )
