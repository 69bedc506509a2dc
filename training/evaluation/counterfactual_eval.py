"""Measure whether the decision rests on the tumour: predictions after counterfactual removal and insertion.

For each validation image with a tumour box off the midline and each removal of :mod:`training.fit.counterfactual`:
the calibrated prediction of the original, of the tumour removed, and of the control (the same operation on the
healthy side). For insertion: a tumour's box pasted into a no-tumour validation brain, and its control. Everything
on the model's square input (the eval preprocessing's padding and resize), one prediction per image.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mlcore import artifact
from mlcore.errors import DatasetError
from mlcore.input_check.detector import probabilities
from mlcore.preprocessing import PreprocessSpec, fit_to_square, normalise, square_padding
from training.data.dataset import read_gray
from training.evaluation.evaluate import select_files
from training.evaluation.explain_eval import Case, rows_by_method_and_class
from training.evaluation.explanation_metrics import Box, box_from_fractions
from training.fit.counterfactual import (
    NO_TUMOUR,
    REMOVALS,
    insert_and_control,
    remove_and_control,
    trained_fills,
    unseen_fills,
)

log = logging.getLogger(__name__)


def square_box(fractions: tuple[float, float, float, float], shape: tuple[int, int], size: int) -> Box:
    """A YOLO-style box of an H×W image in the coordinates of its padded, resized size×size square."""
    x0, y0, x1, y1 = box_from_fractions(fractions, shape)
    top, _, left, _ = square_padding(*shape)
    scale = size / max(shape)
    return (
        int(np.floor((x0 + left) * scale)),
        int(np.floor((y0 + top) * scale)),
        int(np.ceil((x1 + left) * scale)),
        int(np.ceil((y1 + top) * scale)),
    )


def donor_files(data_root: Path, split_file: Path | None) -> list[Path]:
    """The no-tumour images that lend their tissue: the validation side of ``split_file`` (every one without)."""
    classes, files = select_files(data_root, split_file, "val" if split_file is not None else "train")
    if NO_TUMOUR not in classes:
        raise DatasetError(f"{data_root} has no {NO_TUMOUR} class to take healthy tissue from")
    donors = [path for path, label in files if classes[label] == NO_TUMOUR]
    if len(donors) < 2:
        raise DatasetError(f"at least two {NO_TUMOUR} images are needed under {data_root}, found {len(donors)}")
    return donors


class Predictor:
    """Calibrated class probabilities of square [0, 1] images, by the artifact (TorchScript, float32)."""

    def __init__(self, model: artifact.LoadedModel) -> None:
        self.model = model
        self.spec = PreprocessSpec.from_manifest(model.manifest)
        self.classes = model.classes

    def square(self, path: Path) -> np.ndarray:
        """An image file as the model's padded, resized square in [0, 1]."""
        return fit_to_square(read_gray(path), self.spec.size)[0].numpy()

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        batch = normalise(torch.from_numpy(np.stack(images).astype(np.float32))[:, None], self.spec)
        with torch.inference_mode():
            return probabilities(self.model.module(batch), self.model.feature_detector).numpy()


def counterfactual_rows(
    model_path: Path, cases: list[Case], donors: list[Path], *, seed: int = 0, show_progress: bool = True
) -> list[dict[str, Any]]:
    """One row per (case, removal) for boxes off the midline, and one insertion row per case (a seeded donor)."""
    predictor = Predictor(artifact.load(model_path))
    healthy = [predictor.square(path) for path in donors]
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for case in tqdm(cases, desc="counterfactuals", unit="img", disable=not show_progress):
        if case.label == NO_TUMOUR:
            continue
        image = predictor.square(case.path)
        box = square_box(case.box, read_gray(case.path).shape, predictor.spec.size)
        donor = healthy[int(rng.integers(len(healthy)))]
        rows.extend(_removal_rows(predictor, case, image, box, donor=donor, rng=rng))
        rows.append(_insertion_row(predictor, case, image, box, healthy=healthy, rng=rng))
    return rows


def _row(classes: list[str], case: Case, method: str, probs: np.ndarray) -> dict[str, Any]:
    """One answer row from the probabilities of (original, changed, control): for a removal the changed image has
    the tumour removed, for insertion (``insert``) it has the tumour pasted in."""
    true, notumor = classes.index(case.label), classes.index(NO_TUMOUR)
    original, changed, control = probs
    return {
        "path": case.relative,
        "label": case.label,
        "method": method,
        "original": classes[int(original.argmax())],
        "removed": classes[int(changed.argmax())],
        "control": classes[int(control.argmax())],
        "p_true": float(original[true]),
        "p_true_removed": float(changed[true]),
        "p_true_control": float(control[true]),
        "p_notumor_removed": float(changed[notumor]),
    }


def _removal_rows(
    predictor: Predictor, case: Case, image: np.ndarray, box: Box, *, donor: np.ndarray, rng: np.random.Generator
) -> list[dict[str, Any]]:
    made = {method: remove_and_control(image, box, method, rng, donor=donor) for method in REMOVALS}
    pairs = {method: pair for method, pair in made.items() if pair is not None}
    if not pairs:
        return []  # the box crosses the midline
    probs = predictor([image] + [picture for pair in pairs.values() for picture in pair])
    return [
        _row(predictor.classes, case, method, probs[[0, 1 + 2 * index, 2 + 2 * index]])
        for index, method in enumerate(pairs)
    ]


def _insertion_row(
    predictor: Predictor,
    case: Case,
    image: np.ndarray,
    box: Box,
    *,
    healthy: list[np.ndarray],
    rng: np.random.Generator,
) -> dict[str, Any]:
    first, second = rng.choice(len(healthy), 2, replace=len(healthy) < 2)
    inserted, control = insert_and_control(healthy[first], image, box, healthy[second])
    return _row(predictor.classes, case, "insert", predictor([healthy[first], inserted, control]))


def summarise_counterfactuals(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per method (and per class): n, the share answered notumor after removal (for insertion: the share answered
    the inserted tumour's class), the mean drop of p(true class), and how often the control changed the answer."""
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for method, by_group in rows_by_method_and_class(rows).items():
        summary[method] = {}
        for group, members in by_group.items():
            inserting = method == "insert"
            summary[method][group] = {
                "n": float(len(members)),
                "answered_notumor": float(np.mean([m["removed"] == NO_TUMOUR for m in members])),
                "answered_true_class": float(np.mean([m["removed"] == m["label"] for m in members])),
                "p_true_drop": float(np.mean([m["p_true"] - m["p_true_removed"] for m in members])),
                "control_changed": float(np.mean([m["control"] != m["original"] for m in members])),
                "control_notumor": float(np.mean([m["control"] == NO_TUMOUR for m in members]))
                if not inserting
                else float(np.mean([m["control"] != NO_TUMOUR for m in members])),
            }
    return summary


def counterfactual_markdown(summary: dict[str, dict[str, dict[str, float]]], fills: list[str] | None) -> str:
    """The counterfactual section of EXPLANATIONS.md; ``fills``: the removals the model was trained with
    (:func:`training.fit.counterfactual.trained_fills`, None when unknown), so that each row says whether its fill is
    one the model never saw."""
    lines = [
        "## Does the decision rest on the tumour? Counterfactual removal and insertion",
        "",
        "Tumours off the midline, removed four ways (`training/fit/counterfactual.py`); the control is the same "
        "operation on the healthy side with the tumour kept. Insertion pastes a tumour's box into a no-tumour brain.",
        "",
        "| removal | fill in training | class | images | answered notumor | still the true class | drop of p(true) | "
        "control changed the answer |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    unseen = unseen_fills(fills)
    for method in [*REMOVALS, "insert"]:
        seen = _seen_in_training(method, unseen)
        for group, entry in sorted(summary.get(method, {}).items(), key=lambda item: item[0] != "all"):
            lines.append(
                f"| {method} | {seen} | {group} | {entry['n']:.0f} | {entry['answered_notumor']:.0%} | "
                f"{entry['answered_true_class']:.0%} | {entry['p_true_drop']:.3f} | {entry['control_changed']:.0%} |"
            )
    lines += [
        "",
        "For `insert`, *answered notumor* is the share still answered notumor with the tumour pasted in, *still the "
        "true class* the share answered the inserted tumour's class, and *drop* is negative when p(class) rose.",
        "*Fill in training*: whether the model (or a model it was fine-tuned or composed from) was trained with that "
        "removal; " + _unseen_fills_sentence(unseen),
        "",
    ]
    return "\n".join(lines)


def _seen_in_training(method: str, unseen: list[str] | None) -> str:
    if method not in REMOVALS:
        return "–"  # insertion is not a removal fill
    if unseen is None:
        return "unknown"
    return "**no**" if method in unseen else "yes"


def _unseen_fills_sentence(unseen: list[str] | None) -> str:
    if unseen is None:
        return "not recorded in this artifact's manifest."
    if not unseen:
        return "**every fill was used in training** — no row here measures a fill the model never saw."
    return f"fills it never saw: {', '.join(unseen)}."


def counterfactual_evaluation(
    model: Path, data: Path, cases: list[Any], split: Path | None, *, seed: int, show_progress: bool = False
) -> dict[str, Any]:
    """The counterfactual rows and their summary for boxed cases (no-tumour donors: the same split side)."""
    donors = donor_files(data, split)
    rows = counterfactual_rows(model, cases, donors, seed=seed, show_progress=show_progress)
    fills = trained_fills(artifact.load(model).manifest)
    if unseen_fills(fills) == []:
        log.warning("%s was trained with every removal fill: no row measures a fill it never saw", model)
    return {"summary": summarise_counterfactuals(rows), "rows": rows, "trained_fills": fills}
