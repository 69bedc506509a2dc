"""Find the shortcut: how well does "tumour or not" follow from what is *not* the tumour?

Simple statistics of each image with its tumour's box masked out — size and aspect, the intensity histogram, the
share of background, the borders — and a gradient-boosted classifier trained on the train side to tell tumour
images from no-tumour ones, scored on the validation side. No-tumour images get a box of a tumour image masked
at random, so that masking is no cue. An AUC near 0.5 says the rest of the image does not tell; near 1 says a
model can answer "tumour or not" without looking at any tumour — the source of the image answers it.

``python -m training shortcut`` writes ``shortcut.json`` and prints the AUC per group of statistics.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from mlcore.errors import DatasetError
from mlcore.preprocessing import FOREGROUND_LEVEL
from training.data.boxes import read_boxes
from training.data.dataset import read_gray
from training.evaluation.evaluate import select_files
from training.evaluation.explanation_metrics import box_from_fractions
from training.fit.counterfactual import NO_TUMOUR, grown

log = logging.getLogger(__name__)
HISTOGRAM_BINS = 16
GROUPS = {
    "size and aspect": slice(0, 3),
    "intensity histogram": slice(3, 3 + HISTOGRAM_BINS),
    "background and borders": slice(3 + HISTOGRAM_BINS, 3 + HISTOGRAM_BINS + 9),
}


def statistics(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The statistics of one image outside ``box``: size, aspect, histogram, background share, border levels."""
    height, width = gray.shape
    keep = np.ones(gray.shape, bool)
    x0, y0, x1, y1 = grown(box, gray.shape)
    keep[y0:y1, x0:x1] = False
    values = gray[keep]
    histogram = np.histogram(values, bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0] / max(1, values.size)
    strip = max(1, round(0.05 * min(gray.shape)))
    borders = [gray[:strip], gray[-strip:], gray[:, :strip], gray[:, -strip:]]
    border_levels = [float(part.mean()) for part in borders] + [float(part.std()) for part in borders]
    background = float((values <= FOREGROUND_LEVEL).mean())
    return np.array([np.log(height), np.log(width), height / width, *histogram, background, *border_levels])


def _masked_box(
    relative: str, label: str, shape: tuple[int, int], boxes: dict[str, Any], *, rng: np.random.Generator
) -> tuple[int, int, int, int]:
    fractions = boxes[relative] if label != NO_TUMOUR else list(boxes.values())[int(rng.integers(len(boxes)))]
    return box_from_fractions(fractions, shape)


def side_statistics(
    data_root: Path,
    split_file: Path,
    subset: str,
    boxes: dict[str, Any],
    *,
    seed: int,
    show_progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Statistics and tumour-or-not labels of one side: no-tumour images and tumour images that have a box."""
    classes, files = select_files(data_root, split_file, subset)
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for path, label in tqdm(files, desc=f"{subset} statistics", unit="img", disable=not show_progress):
        relative = f"{data_root.name}/{path.parent.name}/{path.name}"
        if classes[label] != NO_TUMOUR and relative not in boxes:
            continue  # a tumour without a known box cannot be masked
        gray = read_gray(path)
        rows.append(statistics(gray, _masked_box(relative, classes[label], gray.shape, boxes, rng=rng)))
        labels.append(classes[label] != NO_TUMOUR)
    if len(set(labels)) < 2:
        raise DatasetError(f"the {subset} side needs tumour images with boxes and no-tumour images")
    return np.stack(rows), np.array(labels)


def shortcut_report(
    data_root: Path,
    boxes_csv: Path,
    split_file: Path,
    *,
    seed: int = 0,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Validation AUC of tumour-or-not from the statistics outside the tumour: all of them and each group alone."""
    boxes = read_boxes(boxes_csv)
    train_x, train_y = side_statistics(data_root, split_file, "train", boxes, seed=seed, show_progress=show_progress)
    val_x, val_y = side_statistics(data_root, split_file, "val", boxes, seed=seed + 1, show_progress=show_progress)
    report: dict[str, Any] = {"train": len(train_y), "val": len(val_y), "auc": {}}
    for name, columns in {"all statistics": slice(None), **GROUPS}.items():
        classifier = HistGradientBoostingClassifier(max_iter=200, random_state=seed)
        classifier.fit(train_x[:, columns], train_y)
        scores = classifier.predict_proba(val_x[:, columns])[:, 1]
        report["auc"][name] = round(float(roc_auc_score(val_y, scores)), 4)
        log.info("tumour or not from %s outside the tumour: validation AUC %.3f", name, report["auc"][name])
    return report


def write_shortcut_report(report: dict[str, Any], out: Path) -> None:
    """``out/shortcut.json``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "shortcut.json").write_text(json.dumps(report, indent=1) + "\n")
