"""The explanation evaluation as people read it: a Markdown table and a figure grid."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from mlcore import artifact
from mlcore.explainers import get_explainer
from mlcore.preprocessing import PreprocessSpec, map_to_original, preprocess
from mlcore.render import overlay_png
from training.data.dataset import read_gray
from training.evaluation.explain_eval import Case
from training.evaluation.explanation_metrics import box_from_fractions

COLUMNS = (
    ("pointing_game", "pointing game ↑"),
    ("energy_in_box", "energy in box ↑"),
    ("deletion_auc", "deletion AUC, black fill ↓"),
    ("insertion_auc", "insertion AUC, black fill ↑"),
    ("deletion_auc_blur", "deletion AUC, blur fill ↓"),
    ("insertion_auc_blur", "insertion AUC, blur fill ↑"),
    ("randomisation_rank_correlation", "rank corr. with randomised model ↓"),
    ("seconds", "s / image"),
    ("samples", "model samples (LIME)"),
)


def _cell(entry: dict[str, float], key: str) -> str:
    if key not in entry:
        return "–"
    if key == "samples":
        return f"{entry[key]:.0f}"
    return f"{entry[key]:.2f}" if key == "seconds" else f"{entry[key]:.3f}"


def markdown(summary: dict[str, dict[str, dict[str, float]]], header: str, methods: list[str]) -> str:
    """Tables: every measure per method, then pointing game and energy per method and class."""
    order = [*methods, "centre_prior", "random"]
    lines = [
        header,
        "",
        "| method | " + " | ".join(title for _, title in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for method in order:
        entry = summary[method]["all"]
        lines.append(f"| {method} | " + " | ".join(_cell(entry, key) for key, _ in COLUMNS) + " |")
    prior = summary["centre_prior"]["all"]
    lines += ["", "Ratio to the centred-prior baseline (pointing game, energy in box):", ""]
    for method in methods:
        entry = summary[method]["all"]
        ratios = [entry[k] / prior[k] if prior.get(k) else float("nan") for k in ("pointing_game", "energy_in_box")]
        lines.append(f"- {method}: {ratios[0]:.2f}× and {ratios[1]:.2f}×")
    classes = sorted(k for k in summary[order[0]] if k != "all")
    lines += [
        "",
        "Per class (pointing game / energy in box; n images):",
        "",
        "| method | " + " | ".join(f"{c} (n={int(summary[order[0]][c]['n'])})" for c in classes) + " |",
        "|---" * (len(classes) + 1) + "|",
    ]
    for method in order:
        cells = [
            f"{summary[method][c]['pointing_game']:.2f} / {summary[method][c]['energy_in_box']:.2f}" for c in classes
        ]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def evidence_markdown(summary: dict[str, dict[str, dict[str, float]]], methods: list[str]) -> str:
    """The evidence check of each method's maps: how often it says "depends", how often that agrees with removing the
    true tumour box (the same rule), and how often its control says "depends" (a false alarm: no tumour there)."""
    order = [*methods, "centre_prior", "random"]
    classes = sorted(k for k in summary[order[0]] if k != "all")
    lines = [
        "## The evidence check of each map",
        "",
        "The region a map marks removed (surrounding tissue) and the model asked again (`mlcore/evidence.py`, as the "
        "service does with every explanation); the same rule on the true tumour box; a control of the same size "
        "elsewhere. Shares of the images:",
        "",
        "| method | says depends | agrees with removing the box | control says depends | "
        + " | ".join(f"agrees: {c}" for c in classes)
        + " |",
        "|---" * (4 + len(classes)) + "|",
    ]
    for method in order:
        entry = summary[method]["all"]
        if "evidence_depends" not in entry:
            continue
        cells = [
            f"{entry['evidence_depends']:.1%}",
            f"{entry['evidence_agrees_with_box']:.1%}",
            f"{entry['evidence_control_depends']:.1%}",
            *(f"{summary[method][c].get('evidence_agrees_with_box', float('nan')):.1%}" for c in classes),
        ]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    box = summary[order[0]]["all"].get("box_removal_depends")
    if box is not None:
        lines += ["", f"Removing the true tumour box moves the answer (the same rule) on {box:.1%} of the images."]
    return "\n".join(lines) + "\n"


def pick_figure_cases(rows: list[dict[str, Any]], cases: list[Case], per_class: int = 2) -> list[Case]:
    """A few cases per class, the misclassified ones first, so the figure shows failures too."""
    verdicts = {row["path"]: row["predicted"] == row["label"] for row in rows if row["method"] == "centre_prior"}
    chosen: list[Case] = []
    for label in sorted({case.label for case in cases}):
        group = [c for c in cases if c.label == label]
        wrong = [c for c in group if not verdicts.get(c.relative, True)]
        right = [c for c in group if verdicts.get(c.relative, False)]
        chosen.extend((wrong[:1] + right)[:per_class])
    return chosen


TITLE_HEIGHT = 24  # pixels of the strip above a figure's tiles that names the model


def figure(
    model_path: Path,
    cases: list[Case],
    methods: list[str],
    params: dict[str, dict[str, Any]],
    *,
    out: Path,
    tile: int = 200,
    title: str | None = None,
) -> None:
    """Rows of cases; columns: the image with its box (green), then each method's overlay; ``title`` (e.g. the
    model's name and version) on a strip above them."""
    model = artifact.load(model_path)
    spec = PreprocessSpec.from_manifest(model.manifest)
    rows = []
    for case in cases:
        gray = read_gray(case.path)
        x = preprocess(gray, spec)
        target = model.classes.index(case.label)
        with torch.inference_mode():
            predicted = model.classes[int(torch.argmax(model.module(x)))]
        x0, y0, x1, y1 = box_from_fractions(case.box, gray.shape)
        base = Image.fromarray(np.round(gray * 255).astype(np.uint8)).convert("RGB")
        ImageDraw.Draw(base).rectangle(
            [x0, y0, x1 - 1, y1 - 1], outline=(0, 255, 0), width=max(1, gray.shape[0] // 100)
        )
        tiles = [_caption(base, f"{case.label} -> {predicted}", tile)]
        for method in methods:
            square = get_explainer(method).explain(model.module, x, target, params.get(method, {}))
            heatmap = map_to_original(square, *gray.shape)
            overlay = Image.open(io.BytesIO(overlay_png(gray, np.clip(heatmap, 0, 1), 0.6, method)))
            tiles.append(_caption(overlay.crop((0, 0, gray.shape[1], gray.shape[0])), method, tile))
        rows.append(tiles)
    width, top = sum(t.width for t in rows[0]), TITLE_HEIGHT if title else 0
    sheet = Image.new("RGB", (width, top + tile * len(rows)), (0, 0, 0))
    if title:
        ImageDraw.Draw(sheet).text((4, 6), title, fill=(255, 255, 255))
    for r, tiles in enumerate(rows):
        left = 0
        for t in tiles:
            sheet.paste(t, (left, top + r * tile))
            left += t.width
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)


def _caption(image: Image.Image, text: str, tile: int) -> Image.Image:
    scale = tile / image.height
    resized = image.resize((max(1, round(image.width * scale)), tile), Image.Resampling.BILINEAR)
    ImageDraw.Draw(resized).text((4, 4), text, fill=(255, 255, 0))
    return resized
