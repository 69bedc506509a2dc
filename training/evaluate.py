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
from training.data import discover, read_gray
from training.metrics import classification_metrics
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


def predict_files(
    model: artifact.LoadedModel, files: list[tuple[Path, int]], batch_size: int = 32, show_progress: bool = True
) -> np.ndarray:
    """Class probabilities (N, C) for image files, each through :func:`mlcore.preprocessing.preprocess`."""
    spec = PreprocessSpec.from_manifest(model.manifest)
    outputs: list[torch.Tensor] = []
    for start in tqdm(range(0, len(files), batch_size), desc="evaluate", unit="batch", disable=not show_progress):
        batch = torch.cat([preprocess(read_gray(path), spec) for path, _ in files[start : start + batch_size]])
        with torch.inference_mode():
            outputs.append(torch.softmax(model.module(batch), dim=1))
    return torch.cat(outputs).numpy()


def evaluate_artifact(
    model_path: Path,
    data_root: Path,
    split_file: Path | None,
    *,
    subset: str,
    out_dir: Path,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Evaluate the artifact and write ``metrics.json``, ``report.md`` and two PNG figures to ``out_dir``."""
    model = artifact.load(model_path)
    classes, files = select_files(data_root, split_file, subset)
    if classes != model.classes:
        raise DatasetError(f"the model's classes {model.classes} differ from the data's {classes}")
    probs = predict_files(model, files, show_progress=show_progress)
    labels = np.array([label for _, label in files])
    metrics = classification_metrics(probs, labels, classes)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_confusion_matrix(metrics["confusion_matrix"], classes, out_dir / "confusion_matrix.png")
    plot_reliability(probs, labels, metrics["ece"], out_dir / "reliability.png")
    what = f"the {subset} side of {split_file}" if split_file else "every image"
    shown_root = os.path.relpath(data_root) if data_root.is_absolute() else data_root
    source = f"Model `{model_path.name}` (sha256 `{model.sha256[:12]}`) on {what} under `{shown_root}`."
    (out_dir / "report.md").write_text(markdown_report(metrics, "Evaluation", source))
    log.info(
        "accuracy %.4f, macro-F1 %.4f on %d images; report in %s",
        metrics["accuracy"],
        metrics["macro_f1"],
        metrics["n"],
        out_dir,
    )
    return metrics
