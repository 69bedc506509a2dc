"""Evaluate a shipped artifact on images through the one eval preprocessing, and write a report."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score
from tqdm import tqdm

from mlcore import artifact
from mlcore.errors import DatasetError
from mlcore.input_check.check import check_input, content_check
from mlcore.input_check.detector import FeatureDetector, pooled_features, probabilities
from mlcore.preprocessing import PreprocessSpec, preprocess
from training.data.boxes import read_boxes
from training.data.dataset import discover, read_gray, read_gray_and_colour
from training.data.unknown_kind import group_of_each, one_per_group
from training.evaluation.report import markdown_report, plot_calibration, plot_confusion_matrix
from training.fit.counterfactual import NO_TUMOUR
from training.metrics import (
    bootstrap_interval,
    brier_score,
    by_tumour_size,
    classification_metrics,
    expected_calibration_error,
    share_interval,
)

log = logging.getLogger(__name__)

# The input check's threshold part set by the held-aside tumours of unknown kind (``fit-detector``), which the
# same-collection measure must then leave out group by group.
HELD_ASIDE_PART = "unknown_kind_held_aside"


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
    return probabilities(torch.from_numpy(logits), model.feature_detector).numpy()


def calibration_summary(logits: np.ndarray, labels: np.ndarray, detector: FeatureDetector | None) -> dict[str, Any]:
    """ECE (15 bins) and Brier score of the probabilities before and after the artifact's temperature."""
    before = probabilities(torch.from_numpy(logits), None).numpy()
    after = probabilities(torch.from_numpy(logits), detector).numpy()
    return {
        "temperature": detector.temperature if detector else 1.0,
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
    boxes_csv: Path | None = None,
    unknown_kind: Path | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Evaluate the artifact and write ``metrics.json``, ``report.md`` and PNG figures to ``out_dir``.

    Probabilities are the calibrated ones the service gives; the calibration section compares them with the
    uncalibrated ones, and the input check section says how many images it refuses and how accurate the answered
    ones are. With ``boxes_csv``, accuracy by tumour size (:func:`training.metrics.by_tumour_size`) for the
    images it boxes; with ``unknown_kind`` (a folder of tumours of unknown kind), the same-collection section
    (:func:`same_collection_report`).
    """
    model = artifact.load(model_path)
    classes, files = select_files(data_root, split_file, subset)
    if classes != model.classes:
        raise DatasetError(f"the model's classes {model.classes} differ from the data's {classes}")
    logits, pooled = model_outputs(model, files, show_progress=show_progress)
    probs = probabilities(torch.from_numpy(logits), model.feature_detector).numpy()
    labels = np.array([label for _, label in files])
    metrics = {"model": model.identity, **classification_metrics(probs, labels, classes)}
    metrics["ci95"] = quality_intervals(probs, labels)  # and every share's from its count (training.metrics)
    metrics["calibration"] = calibration_summary(logits, labels, model.feature_detector)
    accepted = answered(model, [path for path, _ in files], pooled)
    metrics["input_check"] = answered_summary(probs, labels, accepted, classes)
    out_dir.mkdir(parents=True, exist_ok=True)
    _figures(metrics, logits, probs, labels, out_dir=out_dir)
    what = f"the {subset} side of {split_file}" if split_file else "every image"
    shown_root = os.path.relpath(data_root) if data_root.is_absolute() else data_root
    source = f"Model `{model_path.name}` (sha256 `{model.sha256[:12]}`) on {what} under `{shown_root}`."
    report = markdown_report(metrics, "Evaluation", source) + calibration_markdown(metrics["calibration"])
    report += answered_markdown(metrics["input_check"])
    if boxes_csv is not None and NO_TUMOUR in classes:
        areas = box_areas(files, data_root, boxes_csv)
        metrics["by_tumour_size"] = by_tumour_size(probs.argmax(1), labels, areas, classes.index(NO_TUMOUR))
        report += tumour_size_markdown(metrics["by_tumour_size"], NO_TUMOUR)
    if unknown_kind is not None:
        metrics["same_collection"] = same_collection_report(
            model, unknown_kind, split_file, show_progress=show_progress
        )
        report += same_collection_markdown(metrics["same_collection"], unknown_kind)
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


def _figures(
    metrics: dict[str, Any], logits: np.ndarray, probs: np.ndarray, labels: np.ndarray, *, out_dir: Path
) -> None:
    """The confusion matrix and the calibration diagrams before and after the temperature, as PNG."""
    plot_confusion_matrix(metrics["confusion_matrix"], metrics["classes"], out_dir / "confusion_matrix.png")
    uncalibrated = probabilities(torch.from_numpy(logits), None).numpy()
    plot_calibration(uncalibrated, labels, metrics["calibration"]["ece_before"], out_dir / "calibration_before.png")
    plot_calibration(probs, labels, metrics["ece"], out_dir / "calibration.png")


def quality_intervals(probs: np.ndarray, labels: np.ndarray) -> dict[str, list[float]]:
    """Bootstrap 95 % intervals (images resampled) of accuracy (from its count, as every share's:
    :func:`training.metrics.share_interval`), macro-F1 and ECE."""
    rows = np.arange(len(labels))
    accuracy = float((probs.argmax(1) == labels).mean())
    return {
        "accuracy": share_interval(accuracy, len(labels)),
        "macro_f1": bootstrap_interval(
            rows,
            lambda draw: f1_score(
                labels[draw],
                probs[draw].argmax(1),
                labels=list(range(probs.shape[1])),
                average="macro",
                zero_division=0,
            ),
        ),
        "ece": bootstrap_interval(rows, lambda draw: expected_calibration_error(probs[draw], labels[draw])),
    }


def box_areas(files: list[tuple[Path, int]], data_root: Path, boxes_csv: Path) -> np.ndarray:
    """Each file's tumour box area as a share of its image (width × height of the box's fractions), NaN where the
    boxes file has none; files are keyed as the boxes file keys them, ``<root name>/<class>/<file>``."""
    boxes = read_boxes(boxes_csv)
    keys = [f"{data_root.name}/{path.parent.name}/{path.name}" for path, _ in files]
    return np.array([boxes[key][2] * boxes[key][3] if key in boxes else np.nan for key in keys])


def tumour_size_markdown(rows: list[dict[str, Any]], no_tumour: str) -> str:
    """The report's section on accuracy by tumour size (the rows of
    :func:`training.metrics.by_tumour_size`)."""
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
            "`calibration_before.png` |",
            f"| after | {calibration['ece_after']:.4f} | {calibration['brier_after']:.4f} | `calibration.png` |",
            "",
        ]
    )


def answered(model: artifact.LoadedModel, paths: list[Path], pooled: np.ndarray) -> np.ndarray:
    """Which images the service would answer: the input check (:func:`mlcore.input_check.check.check_input`: colour,
    blank, the input gate's or the detector's score) of each file with its pooled features; all of them without
    either."""
    if model.feature_detector is None and model.gate is None:
        return np.ones(len(paths), bool)
    spec = PreprocessSpec.from_manifest(model.manifest)
    accepted = []
    for path, features in zip(paths, pooled, strict=True):
        gray, colour = read_gray_and_colour(path)
        content = content_check(model.gate, model.feature_detector, preprocess(gray, spec), features)
        accepted.append(check_input(gray, colour, content).in_distribution)
    return np.array(accepted, bool)


def answered_summary(probs: np.ndarray, labels: np.ndarray, accepted: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Refusals and the metrics of the answered images (what a user of the service gets)."""
    summary: dict[str, Any] = {"n": len(labels), "refused": float(1 - accepted.mean()) if len(labels) else 0.0}
    if accepted.any():
        kept = classification_metrics(probs[accepted], labels[accepted], classes)
        summary.update(
            answered_accuracy=kept["accuracy"], answered_macro_f1=kept["macro_f1"], answered=int(accepted.sum())
        )
    return summary


def answered_markdown(summary: dict[str, Any]) -> str:
    """The report's input-check section on these (in-distribution) images."""
    lines = ["", "## Input check on these images", ""]
    lines.append(f"Refused as not like a brain MRI slice: {summary['refused']:.2%} of {summary['n']}.")
    if "answered_accuracy" in summary:
        lines.append(
            f"On the {summary['answered']} answered: accuracy {summary['answered_accuracy']:.4f}, "
            f"macro-F1 {summary['answered_macro_f1']:.4f}."
        )
    return "\n".join([*lines, ""])


def unknown_kind_files(root: Path, split_file: Path | None) -> tuple[list[Path], list[str]]:
    """The tumours of unknown kind to measure and their groups: the held-aside side of the model's split when it
    trained with some (``split.json``'s ``unknown_kind.val``), else every image of ``root`` (none was trained on)."""
    groups = group_of_each(root)
    chosen = list(groups)
    if split_file is not None:
        held = json.loads(split_file.read_text()).get("unknown_kind", {}).get("val")
        if held is not None:
            chosen = [path for path in chosen if path in set(held)]
    return [root / path for path in chosen], [groups[path] for path in chosen]


def same_collection_report(
    model: artifact.LoadedModel, root: Path, split_file: Path | None, *, show_progress: bool = True
) -> dict[str, Any]:
    """Tumours from the collection of most no-tumour images, as a user gets them: the share answered as a tumour,
    refused by the input check, and answered "notumor" (a missed tumour), counted one slice per group of copies (the
    first of each group) and over every copy.

    When these held-aside groups also set the input check's threshold (``fit-detector``: its part
    ``unknown_kind_held_aside``), their own refusals say nothing about a new group's, so they are also measured as
    unseen (``unseen_by_the_input_check``): each group against the threshold set without it (leave one group out —
    the largest held-aside score of the *other* groups, and the threshold's other parts)."""
    if NO_TUMOUR not in model.classes:
        raise DatasetError(f"the same-collection measure needs a {NO_TUMOUR!r} class; the model has {model.classes}")
    paths, groups = unknown_kind_files(root, split_file)
    if not paths:
        raise DatasetError(f"no tumours of unknown kind to measure under {root}")
    logits, pooled = model_outputs(
        model, [(path, 0) for path in paths], show_progress=show_progress, desc="same collection"
    )
    tumour_answer = logits.argmax(1) != model.classes.index(NO_TUMOUR)
    accepted = answered(model, paths, pooled)
    first = one_per_group(groups)
    report: dict[str, Any] = {
        "groups": _shares(accepted, tumour_answer, first),
        "copies": _shares(accepted, tumour_answer, None),
    }
    parts = (model.manifest.get("feature_detector") or {}).get("threshold_parts", {})
    # Only where the feature detector decides: an input gate never reads these groups (training.input_check.gate).
    if model.gate is None and model.feature_detector is not None and HELD_ASIDE_PART in parts:
        accepted_unseen = _accepted_leaving_each_group_out(model, paths, groups, pooled, parts=parts)
        report["unseen_by_the_input_check"] = {
            "groups": _shares(accepted_unseen, tumour_answer, first),
            "copies": _shares(accepted_unseen, tumour_answer, None),
        }
    return report


def _shares(accepted: np.ndarray, tumour_answer: np.ndarray, rows: np.ndarray | None) -> dict[str, float | int]:
    """Answered as a tumour / refused / answered "notumor" among ``rows`` (every image when None)."""
    chosen = np.arange(len(accepted)) if rows is None else rows
    return {
        "n": len(chosen),
        "answered_tumour": float((accepted & tumour_answer)[chosen].mean()),
        "refused": float((~accepted)[chosen].mean()),
        "answered_notumor": float((accepted & ~tumour_answer)[chosen].mean()),
    }


def _accepted_leaving_each_group_out(
    model: artifact.LoadedModel, paths: list[Path], groups: list[str], pooled: np.ndarray, *, parts: dict[str, float]
) -> np.ndarray:
    """Which images the input check would answer if their own group had not helped set its threshold: the cheap
    checks as the service runs them, and the detector's score against the threshold without that group."""
    assert model.feature_detector is not None
    lifted = dataclasses.replace(
        model, feature_detector=dataclasses.replace(model.feature_detector, threshold=math.inf)
    )
    passes_cheap_checks = answered(lifted, paths, pooled)
    scores = model.feature_detector.scores(pooled)
    others = max(value for name, value in parts.items() if name != HELD_ASIDE_PART)
    members = np.array(groups)
    accepted = np.empty(len(paths), bool)
    for group in set(groups):
        inside = members == group
        threshold = max(others, float(scores[~inside].max())) if (~inside).any() else others
        accepted[inside] = passes_cheap_checks[inside] & (scores[inside] <= threshold)
    return accepted


def same_collection_markdown(report: dict[str, Any], root: Path) -> str:
    """The report's same-collection section."""
    lines = [
        "",
        "## Tumours from the collection of most no-tumour images",
        "",
        f"Tumour slices of unknown kind from `{root.name}` the model never trained on, as the service answers them.",
        "",
        "| counted | tumours | answered as a tumour | refused (input check) | answered notumor |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = [(report[name], label) for name, label in (("groups", "one slice per group"), ("copies", "every copy"))]
    unseen = report.get("unseen_by_the_input_check")
    if unseen:
        rows += [
            (unseen["groups"], "one slice per group, **as an unseen group** (threshold set without it)"),
            (unseen["copies"], "every copy, as an unseen group"),
        ]
    for row, label in rows:
        lines.append(
            f"| {label} | {row['n']} | {row['answered_tumour']:.1%} | {row['refused']:.1%} | "
            f"{row['answered_notumor']:.1%} |"
        )
    if unseen:
        lines += [
            "",
            "These groups also set the input check's threshold (`fit-detector`), so their own refusals are low by "
            "construction; the *unseen* rows measure each group against the threshold set without it (leave one "
            "group out): what a new group of this collection meets.",
        ]
    return "\n".join([*lines, ""])
