"""The trade-off table: several artifacts side by side on accuracy, same-collection tumours and tumour removal.

``python -m research.same_collection.tradeoff A.pt B.pt …`` evaluates each artifact on the validation side of its
own split (``<artifact>.split.json`` beside it, else ``split.json`` in its folder) through the product's evaluation —
answered accuracy and refusals, the same-collection shares (one slice per held-aside group), removal → "notumor"
for each fill and its control — and prints one Markdown row per model. Every number comes from
:mod:`training.evaluation.evaluate` and :mod:`training.evaluation.counterfactual_eval`; nothing here measures on its
own.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlcore import artifact
from mlcore.input_check.detector import probabilities
from training.data.dataset import SHARED_TRAINING, SHARED_UNKNOWN_KIND
from training.evaluation.counterfactual_eval import counterfactual_rows, donor_files, summarise_counterfactuals
from training.evaluation.evaluate import answered, answered_summary, model_outputs, same_collection_report, select_files
from training.evaluation.explain_eval import load_cases
from training.fit.counterfactual import REMOVALS, trained_fills

log = logging.getLogger(__name__)


def split_of(model_path: Path) -> Path:
    """The split an artifact was fitted on: ``<model>.split.json`` beside it, else ``split.json`` in its folder."""
    beside = model_path.with_suffix(".split.json")
    return beside if beside.is_file() else model_path.parent / "split.json"


def model_row(model_path: Path, data: Path, unknown_kind: Path) -> dict[str, Any]:
    """One model's numbers: answered accuracy and refusals, same-collection shares, removal and control rates."""
    model = artifact.load(model_path)
    split = split_of(model_path)
    classes, files = select_files(data, split, "val")
    logits, pooled = model_outputs(model, files, show_progress=False)
    probs = probabilities(torch.from_numpy(logits), model.feature_detector).numpy()
    labels = np.array([label for _, label in files])
    summary = answered_summary(probs, labels, answered(model, [path for path, _ in files], pooled), classes)
    same = same_collection_report(model, unknown_kind, split, show_progress=False)["groups"]
    cases = load_cases(data, data.parent / "tumor-boxes.csv", split, per_class=None, seed=0)
    rows = counterfactual_rows(model_path, cases, donor_files(data, split), seed=0, show_progress=False)
    removal = summarise_counterfactuals(rows)
    return {
        "model": f"{model.manifest['name']} {model.manifest['version']}",
        "accuracy": float((probs.argmax(1) == labels).mean()),
        "answered_accuracy": summary.get("answered_accuracy"),
        "refused": summary["refused"],
        "same_collection": same,
        "removal": {fill: removal[fill]["all"]["answered_notumor"] for fill in REMOVALS if fill in removal},
        "controls": {fill: removal[fill]["all"]["control_changed"] for fill in REMOVALS if fill in removal},
        "trained_fills": trained_fills(model.manifest),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as one Markdown table (fills never trained with are marked *)."""
    lines = [
        "| model | accuracy (answered) | refused | same collection: tumour / refused / notumor | removal → notumor "
        f"({' / '.join(REMOVALS)}) | controls changed |",
        "|---|---:|---:|---|---|---|",
    ]
    for row in rows:
        fills = row["trained_fills"] or []
        removal = " / ".join(
            f"{100 * row['removal'][fill]:.0f}{'' if fill in fills else '*'}"
            for fill in REMOVALS
            if fill in row["removal"]
        )
        controls = " / ".join(f"{100 * value:.1f}" for value in row["controls"].values())
        same = row["same_collection"]
        answered_accuracy = row["answered_accuracy"]
        lines.append(
            f"| {row['model']} | {100 * row['accuracy']:.2f} % ({100 * (answered_accuracy or 0):.2f} %) | "
            f"{100 * row['refused']:.1f} % | {100 * same['answered_tumour']:.0f} / {100 * same['refused']:.0f} / "
            f"{100 * same['answered_notumor']:.0f} % | {removal} % | {controls} % |"
        )
    return "\n".join(lines) + "\n\n\\* a fill the model never trained with.\n"


def main(argv: list[str] | None = None) -> int:
    """Evaluate the artifacts named on the command line and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, default=SHARED_TRAINING)
    parser.add_argument("--unknown-kind", type=Path, default=SHARED_UNKNOWN_KIND)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rows = [model_row(path, args.data, args.unknown_kind) for path in args.models]
    sys.stdout.write(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
