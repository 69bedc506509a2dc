"""The evidence check's level and margin refitted for the shipped model: chosen on the selection part of the validation
side, reported on the report part, which no choice read.

    python -m research.evidence_refit.refit --out runs/evidence-refit

For every validation tumour with a box: Grad-CAM of its true class (as explain-eval computes it), the check's
region at each level of :data:`LEVELS` removed (inpainting, as served) beside its control, and the true box removed
(grown by the fills' margin, the same rule). For each (level, margin) pair: how often the check's verdict agrees with
the true box's, how often its control says "depends" (a false alarm: no tumour there), how often it says "depends".
The pair is chosen on the selection part by a rule declared here before the run (:func:`choose`); both the chosen and
the previous pair (:data:`PREVIOUS`) are reported on the report part with n and bootstrap 95 % intervals. Writes
``refit.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from mlcore import artifact
from mlcore.artifact import DEFAULT_MODEL
from mlcore.evidence import evidence_check
from mlcore.explainers import get_explainer
from mlcore.preprocessing import fit_to_square, normalise
from training.data.boxes import box_on_grid
from training.data.dataset import SHARED_TRAINING, read_gray
from training.evaluation.explain_eval import (
    Case,
    EvalModels,
    box_removal_probabilities,
    evidence_probabilities,
    load_cases,
    load_eval_models,
)
from training.fit.counterfactual import NO_TUMOUR
from training.metrics import share_interval

log = logging.getLogger("evidence_refit")
SPLIT = DEFAULT_MODEL.with_suffix(".split.json")
BOXES = SHARED_TRAINING.parent / "tumor-boxes.csv"
PARTS = Path(__file__).resolve().parents[1] / "unseen_removal" / "parts.json"
LEVELS = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8)
MARGINS = (0.25, 0.4, 0.5, 0.6)
CONTROL_LIMIT = 0.05  # declared before the run: a pair whose control says "depends" more often is not chosen
PREVIOUS = (0.65, 0.5)  # the level and margin chosen on 2.1.0, which the service used until this refit


def measure(models: EvalModels, case: Case) -> dict[str, Any]:
    """One tumour: its class's calibrated probability before, after the true box is removed, and after each level's
    region and control are removed (with the answers after)."""
    gray = read_gray(case.path)
    fitted = fit_to_square(gray, models.spec.size)[0].numpy()
    x = normalise(torch.from_numpy(fitted)[None, None], models.spec)
    target = models.classes.index(case.label)
    gradcam = get_explainer("gradcam")
    square = gradcam.explain(models.runtimes.for_method(gradcam), x, target, {})
    peak = float(square.max(initial=0.0))
    relevance = square / peak if peak > 0 else square
    calibrated = evidence_probabilities(models)
    probs = box_removal_probabilities(models, fitted, box_on_grid(case.box, gray.shape, models.spec.size))
    row: dict[str, Any] = {
        "path": case.relative,
        "label": case.label,
        "before": float(probs[0, target]),
        "box_after": float(probs[1, target]),
        "box_answer_changed": int(probs[1].argmax()) != target,
        "levels": {},
    }
    for level in LEVELS:
        check = evidence_check(
            calibrated, fitted, relevance, answered=target, classes=models.classes, original=probs[0], level=level
        )
        if check is None:
            continue
        row["levels"][str(level)] = {
            "after": check.probability_after,
            "answer_changed": check.answer_after != check.answered,
            "control_after": check.control_probability_after,
            "control_answer_changed": check.control_answer_after != check.answered,
        }
    return row


def verdicts(row: dict[str, Any], level: float, margin: float) -> tuple[bool, bool, bool] | None:
    """(the check says "depends", its control does, removing the true box does) at one pair; None without a region."""
    at = row["levels"].get(str(level))
    if at is None:
        return None
    before = row["before"]
    depends = at["answer_changed"] or before - at["after"] > margin
    control = at["control_answer_changed"] or before - at["control_after"] > margin
    box = row["box_answer_changed"] or before - row["box_after"] > margin
    return depends, control, box


def pair_shares(rows: list[dict[str, Any]], level: float, margin: float) -> dict[str, Any]:
    """Agreement with the true box, control "depends" and "depends", each with n and a bootstrap 95 % interval."""
    found = [v for v in (verdicts(row, level, margin) for row in rows) if v is not None]
    n = len(found)
    shares = {
        "agrees_with_box": sum(d == b for d, _, b in found) / n,
        "control_depends": sum(c for _, c, _ in found) / n,
        "depends": sum(d for d, _, _ in found) / n,
    }
    return {"level": level, "margin": margin, "n": n} | {
        name: {"share": round(share, 4), "ci95": share_interval(share, n)} for name, share in shares.items()
    }


def choose(table: list[dict[str, Any]]) -> dict[str, Any]:
    """The rule, declared before the run: the highest agreement with the true box among the pairs whose control says
    "depends" at most :data:`CONTROL_LIMIT` of the time; a tie goes to the previous pair, then to the higher margin
    (fewer "depends" on a wobble) and the higher level (a tighter region)."""
    allowed = [row for row in table if row["control_depends"]["share"] <= CONTROL_LIMIT]

    def key(row: dict[str, Any]) -> tuple[float, bool, float, float]:
        previous = (row["level"], row["margin"]) == PREVIOUS
        return row["agrees_with_box"]["share"], previous, row["margin"], row["level"]

    return max(allowed, key=key)


def by_class(rows: list[dict[str, Any]], level: float, margin: float) -> dict[str, Any]:
    """The pair's shares on each tumour class."""
    classes = sorted({row["label"] for row in rows})
    return {label: pair_shares([r for r in rows if r["label"] == label], level, margin) for label in classes}


def refit(model: Path, data_root: Path) -> dict[str, Any]:
    """Measure every validation tumour, choose on the selection part, report on the report part."""
    parts = json.loads(PARTS.read_text())
    part_of = {path: name for name, paths in parts.items() for path in paths}
    cases = [case for case in load_cases(data_root, BOXES, SPLIT, per_class=None, seed=0) if case.label != NO_TUMOUR]
    models = load_eval_models(model, seed=0, precision="fp32")
    rows = [measure(models, case) for case in tqdm(cases, desc="evidence refit", unit="img")]
    selection = [row for row in rows if part_of.get(row["path"]) == "selection"]
    report = [row for row in rows if part_of.get(row["path"]) == "report"]
    table = [pair_shares(selection, level, margin) for level in LEVELS for margin in MARGINS]
    chosen = choose(table)
    pairs = {"chosen": (chosen["level"], chosen["margin"]), "previous": PREVIOUS}
    return {
        "model": artifact.load(model).identity,
        "rule": choose.__doc__,
        "selection_n": len(selection),
        "report_n": len(report),
        "selection_table": table,
        "chosen": {"level": chosen["level"], "margin": chosen["margin"]},
        "report": {
            name: pair_shares(report, *pair) | {"by_class": by_class(report, *pair)} for name, pair in pairs.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run the refit and write ``refit.json`` under ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=SHARED_TRAINING)
    parser.add_argument("--out", type=Path, default=Path("runs/evidence-refit"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = refit(args.model, args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "refit.json").write_text(json.dumps(result, indent=1) + "\n")
    chosen, report = result["chosen"], result["report"]
    log.info("chosen on the selection part: level %s, margin %s", chosen["level"], chosen["margin"])
    for name, shares in report.items():
        log.info("report part, %s pair: %s", name, {k: v for k, v in shares.items() if k != "by_class"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
