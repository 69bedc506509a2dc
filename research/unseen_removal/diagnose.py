"""Which tumours keep their class when removed? The shipped model's removal → "notumor" on its validation side, by
class, tumour size, fill and box margin, and the validation side divided by group into a selection
part and a report part for the next fit's choices.

    python -m research.unseen_removal.diagnose --out runs/unseen-removal

Writes ``diagnosis.json`` (every share with its n and bootstrap 95 % interval) and ``parts.json`` (the selection and
report parts: whole duplicate groups, stratified by class, seed 0) to ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mlcore import artifact
from mlcore.artifact import DEFAULT_MODEL
from mlcore.fills import MARGIN, Box, grown, off_midline
from training.data.dataset import SHARED_TRAINING, read_gray
from training.data.dedup import exact_key, find_duplicate_groups, perceptual_hash
from training.data.split import stratified_group_split
from training.evaluation.counterfactual_eval import Predictor, counterfactual_rows, donor_files, square_box
from training.evaluation.explain_eval import Case, load_cases
from training.fit.counterfactual import NO_TUMOUR
from training.metrics import share_interval

log = logging.getLogger("diagnose")
SPLIT = DEFAULT_MODEL.with_suffix(".split.json")
BOXES = SHARED_TRAINING.parent / "tumor-boxes.csv"
SIZE_EDGES = (0.02, 0.05)  # box area as a share of the image: small < 2 % ≤ medium < 5 % ≤ large


def enlarged(cases: list[Case], margin: float) -> list[Case]:
    """The cases with each box scaled by ``margin`` about its centre (clipped to the image): oedema and edges."""
    grown_cases = []
    for case in cases:
        x, y, w, h = case.box
        grown_cases.append(dataclasses.replace(case, box=(x, y, min(1.0, w * margin), min(1.0, h * margin))))
    return grown_cases


def size_of(box: tuple[float, float, float, float]) -> str:
    area = box[2] * box[3]
    return "small" if area < SIZE_EDGES[0] else "medium" if area < SIZE_EDGES[1] else "large"


def validation_parts(split_file: Path, data_root: Path, *, seed: int = 0) -> dict[str, list[str]]:
    """The validation side in two halves by whole duplicate groups (identical pixels or pHash within 4 bits, as the
    split itself), stratified by class: ``selection`` for every choice, ``report`` for the numbers a reader gets."""
    relative = json.loads(split_file.read_text())["val"]
    grays = [read_gray(data_root.parent / path) for path in relative]
    groups = find_duplicate_groups([exact_key(g) for g in grays], [perceptual_hash(g) for g in grays], 4).groups
    classes = sorted({Path(path).parent.name for path in relative})
    labels = np.array([classes.index(Path(path).parent.name) for path in relative])
    selection, report = stratified_group_split(labels, groups, 0.5, seed)
    return {"selection": [relative[i] for i in selection], "report": [relative[i] for i in report]}


def hemisphere_mirrored(image: np.ndarray, box: Box, *, control: bool = False) -> np.ndarray:
    """The image with the tumour's whole half replaced by the other half mirrored (about the square's vertical
    midline): the tumour gone with its oedema and mass effect, leaving a symmetric brain. ``control``: the same
    operation the other way, the tumour's half mirrored onto the healthy one (a symmetric brain with two tumours)."""
    width = image.shape[1]
    half = width // 2
    left, right = image[:, :half], image[:, width - half :]
    out = image.copy()
    if ((box[0] + box[2]) / 2 < width / 2) != control:
        out[:, :half] = right[:, ::-1]
    else:
        out[:, width - half :] = left[:, ::-1]
    return out


def hemisphere_rows(model: Path, cases: list[Case]) -> list[dict[str, Any]]:
    """For each boxed tumour off the midline: the answer with the tumour's half mirrored from the healthy half, and
    with the control (the healthy half mirrored from the tumour's)."""
    predictor = Predictor(artifact.load(model))
    rows = []
    for case in cases:
        image = predictor.square(case.path)
        box = square_box(case.box, read_gray(case.path).shape, predictor.spec.size)
        if not off_midline(grown(box, image.shape, MARGIN), image.shape[1]):
            continue
        pictures = [image, hemisphere_mirrored(image, box), hemisphere_mirrored(image, box, control=True)]
        original, removed, control = (predictor.classes[int(p.argmax())] for p in predictor(pictures))
        row = {"path": case.relative, "label": case.label, "method": "hemisphere", "margin": 1.0}
        rows.append({**row, "original": original, "removed": removed, "control": control})
    return rows


def share_rows(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Removal → "notumor" and controls changed, grouped by ``keys``, each share with its n and interval."""
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[tuple(row[key] for key in keys)].append(row)
    out = []
    for key, members in sorted(grouped.items()):
        n = len(members)
        removed = float(np.mean([m["removed"] == NO_TUMOUR for m in members]))
        changed = float(np.mean([m["control"] != m["original"] for m in members]))
        out.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n": n,
                "notumor": round(removed, 4),
                "ci95": share_interval(removed, n),
                "controls_changed": round(changed, 4),
            }
        )
    return out


def diagnose(model: Path, data_root: Path, margins: list[float], parts: dict[str, list[str]]) -> dict[str, Any]:
    """Removal rows for every margin, each row told its class, size, source, part; the shares by each of them."""
    cases = [case for case in load_cases(data_root, BOXES, SPLIT, per_class=None, seed=0) if case.label != NO_TUMOUR]
    part_of = {path: name for name, paths in parts.items() for path in paths}
    sizes = {case.relative: size_of(case.box) for case in cases}
    donors = donor_files(data_root, SPLIT)
    rows = []
    for margin in margins:
        for row in counterfactual_rows(model, enlarged(cases, margin), donors, seed=0, show_progress=False):
            if row["method"] == "insert":
                continue
            rows.append({**row, "margin": margin, "size": sizes[row["path"]], "part": part_of[row["path"]]})
        log.info("margin %.1f: %d removal rows", margin, sum(r["margin"] == margin for r in rows))
    # A grown box crosses the midline more often (no mirror, no pair): compare margins on the tumours both keep.
    kept = [{row["path"] for row in rows if row["margin"] == margin} for margin in margins]
    both = [row for row in rows if all(row["path"] in paths for paths in kept)]
    return {
        "model": str(model),
        "by_fill": share_rows(rows, ("margin", "method")),
        "by_class": share_rows(rows, ("margin", "method", "label")),
        "by_class_same_tumours": share_rows(both, ("margin", "method", "label")),
        "by_size": share_rows(rows, ("margin", "method", "size")),
        "by_part": share_rows(rows, ("margin", "method", "part")),
        "whole_half_mirrored": share_rows(hemisphere_rows(model, cases), ("method", "label")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=SHARED_TRAINING)
    parser.add_argument("--margins", type=float, nargs="+", default=[1.0, 1.5])
    parser.add_argument("--out", type=Path, default=Path("runs/unseen-removal"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    parts = validation_parts(SPLIT, args.data)
    (args.out / "parts.json").write_text(json.dumps(parts, indent=1))
    result = diagnose(args.model, args.data, args.margins, parts)
    (args.out / "diagnosis.json").write_text(json.dumps(result, indent=1))
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
