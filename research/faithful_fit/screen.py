"""A candidate's screen against the issue's fallback, on the parts of the validation side
(``research/unseen_removal/parts.json``): the operating point chosen on ``selection``, every number reported on
``report`` (with n and a bootstrap 95 % interval), beside the shipped model on the same images.

    python -m research.faithful_fit.screen choose runs/faithful-a/model-0.pt      # the offset, selection part only
    python -m research.faithful_fit.screen report runs/faithful-a/model.pt models/brainxai-cnn.pt --out F.json
    python -m research.faithful_fit.screen report A.pt B.pt --part selection   # to choose between candidates

``choose`` reads a candidate exported with no offset and prints the "notumor" offset of :data:`OFFSETS` that the rule
of :func:`choose_offset` picks from the selection part's accuracy. ``report`` measures each artifact as it is: the
report part's accuracy (every image answered: the input check is not part of the screen), removal → "notumor" of
its boxed tumours off the midline by the mirror fill (never trained) and the donor fill (another healthy brain's
tissue, from the validation side), with their controls; the held-aside same-collection tumours (one slice per
group; no choice reads them) answered as a tumour; Grad-CAM of the true class on the report part's boxed tumours:
pointing and mass in the box. Every measure is the product's (counterfactual_eval, explanation_metrics, the
Grad-CAM explainer on the ONNX runtime); nothing is measured in a new way.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mlcore import artifact
from mlcore.artifact import DEFAULT_MODEL
from mlcore.explainers import get_explainer
from mlcore.preprocessing import PreprocessSpec, map_to_original, preprocess
from mlcore.runtimes import build_runtimes
from training.data.dataset import SHARED_TRAINING, SHARED_UNKNOWN_KIND, read_gray
from training.data.unknown_kind import one_per_group
from training.evaluation.counterfactual_eval import counterfactual_rows, donor_files
from training.evaluation.evaluate import model_outputs, select_files, unknown_kind_files
from training.evaluation.explain_eval import Case, load_cases
from training.evaluation.explanation_metrics import box_from_fractions, energy_in_box, pointing_game
from training.fit.counterfactual import NO_TUMOUR
from training.metrics import bootstrap_interval

log = logging.getLogger("screen")
PARTS = Path(__file__).resolve().parents[1] / "unseen_removal" / "parts.json"
SPLIT = DEFAULT_MODEL.with_suffix(".split.json")
BOXES = SHARED_TRAINING.parent / "tumor-boxes.csv"
OFFSETS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0)
SCREENED_FILLS = ("mirror", "donor")


def share(values: np.ndarray) -> dict[str, Any]:
    """A share of booleans with its n and bootstrap 95 % interval."""
    return {"n": len(values), "share": round(float(np.mean(values)), 4), "ci95": bootstrap_interval(values * 1.0)}


def part_logits(model: artifact.LoadedModel, data: Path, part: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Logits and labels of one part of the validation side, and the classes."""
    wanted = set(json.loads(PARTS.read_text())[part])
    classes, files = select_files(data, SPLIT, "val")
    files = [(path, label) for path, label in files if str(path.relative_to(data.parent)) in wanted]
    logits, _pooled = model_outputs(model, files, show_progress=False)
    return logits, np.array([label for _, label in files]), classes


def offset_accuracy(logits: np.ndarray, labels: np.ndarray, notumor: int, offset: float) -> float:
    """Accuracy with the "notumor" logit lowered by ``offset``."""
    moved = logits.copy()
    moved[:, notumor] -= offset
    return float((moved.argmax(1) == labels).mean())


def choose_candidate(screens: list[dict[str, Any]]) -> int:
    """The rule between candidates, declared before the second candidate's results: on the selection part, the highest
    accuracy; of equal accuracies, the highest Grad-CAM mass in the box; then the highest mean removal → "notumor" of
    the mirror and donor fills. Returns the index of the chosen screen."""

    def key(screen: dict[str, Any]) -> tuple[float, float, float]:
        removal = np.mean([screen["removal"][fill]["notumor"]["share"] for fill in SCREENED_FILLS])
        return screen["accuracy"]["share"], screen["gradcam"]["mass_in_box"]["mean"], float(removal)

    return max(range(len(screens)), key=lambda index: key(screens[index]))


def choose_offset(curve: dict[float, float]) -> float:
    """The rule, declared before any candidate's result: the offset of highest selection-part accuracy; of equal
    accuracies, the smallest offset (the least pull away from "notumor", so the most removal kept)."""
    best = max(curve.values())
    return min(offset for offset, accuracy in curve.items() if accuracy == best)


def removal(model_path: Path, data: Path, cases: list[Case]) -> dict[str, Any]:
    """Removal → "notumor" and controls changed, by screened fill, overall and for gliomas."""
    rows = counterfactual_rows(model_path, cases, donor_files(data, SPLIT), seed=0, show_progress=False)
    out: dict[str, Any] = {}
    for fill in SCREENED_FILLS:
        chosen = [row for row in rows if row["method"] == fill]
        gliomas = [row for row in chosen if row["label"] == "glioma"]
        out[fill] = {
            "notumor": share(np.array([row["removed"] == NO_TUMOUR for row in chosen])),
            "controls_changed": share(np.array([row["control"] != row["original"] for row in chosen])),
            "glioma_notumor": share(np.array([row["removed"] == NO_TUMOUR for row in gliomas])),
        }
    return out


def gradcam(model: artifact.LoadedModel, cases: list[Case]) -> dict[str, Any]:
    """Grad-CAM of the true class on each boxed tumour: pointing (5 % tolerance, as explain-eval), mass in the box."""
    runtimes = build_runtimes(model, "onnx", "fp32")
    spec = PreprocessSpec.from_manifest(model.manifest)
    explainer = get_explainer("gradcam")
    pointing, mass = [], []
    for case in cases:
        gray = read_gray(case.path)
        x = preprocess(gray, spec)
        square = explainer.explain(runtimes.for_method(explainer), x, model.classes.index(case.label), {})
        original = map_to_original(square, *gray.shape)
        box = box_from_fractions(case.box, gray.shape)
        pointing.append(pointing_game(original, box, round(0.05 * max(gray.shape))))
        mass.append(energy_in_box(original, box))
    return {
        "pointing": share(np.array(pointing)),
        "mass_in_box": {
            "n": len(mass),
            "mean": round(float(np.mean(mass)), 4),
            "ci95": bootstrap_interval(np.array(mass)),
        },
    }


def same_collection(model: artifact.LoadedModel, unknown_kind: Path) -> dict[str, Any]:
    """The held-aside same-collection tumours (first slice of each group) answered as a tumour, nothing refused."""
    paths, groups = unknown_kind_files(unknown_kind, SPLIT)
    logits, _pooled = model_outputs(model, [(path, 0) for path in paths], show_progress=False)
    tumour = logits.argmax(1) != model.classes.index(NO_TUMOUR)
    return share(tumour[one_per_group(groups)])


def report(model_path: Path, data: Path, unknown_kind: Path, part: str = "report") -> dict[str, Any]:
    """Every screened number of one artifact on ``part`` (the report part; the selection part to choose between
    candidates)."""
    model = artifact.load(model_path)
    logits, labels, _classes = part_logits(model, data, part)
    wanted = set(json.loads(PARTS.read_text())[part])
    boxed = [case for case in load_cases(data, BOXES, SPLIT, per_class=None, seed=0) if case.relative in wanted]
    tumours = [case for case in boxed if case.label != NO_TUMOUR]
    return {
        "model": model.identity,
        "part": part,
        "offset": model.manifest["training"].get("notumor_logit_offset", 0.0),
        "accuracy": share(logits.argmax(1) == labels),
        "removal": removal(model_path, data, tumours),
        "same_collection_groups": same_collection(model, unknown_kind),
        "gradcam": gradcam(model, tumours),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("choose", "report"))
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, default=SHARED_TRAINING)
    parser.add_argument("--unknown-kind", type=Path, default=SHARED_UNKNOWN_KIND)
    parser.add_argument("--part", choices=("report", "selection"), default="report", help="report: the part measured")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.step == "choose":
        logits, labels, classes = part_logits(artifact.load(args.models[0]), args.data, "selection")
        curve = {offset: offset_accuracy(logits, labels, classes.index(NO_TUMOUR), offset) for offset in OFFSETS}
        result: Any = {"selection_accuracy": curve, "chosen_offset": choose_offset(curve), "n": len(labels)}
    else:
        result = [report(path, args.data, args.unknown_kind, args.part) for path in args.models]
    text = json.dumps(result, indent=1)
    if args.out is not None:
        args.out.write_text(text + "\n")
    log.info("%s", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
