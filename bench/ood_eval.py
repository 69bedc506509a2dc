"""Measure the input check as the service applies it: brain MRI slices of the validation side against an
out-of-distribution folder.

Every image goes through the service's one analysis pipeline (:class:`service.analysis.Analyser`: decode with the
colour share, PNG/JPEG/DICOM alike, the eval preprocessing, one prediction, :func:`mlcore.reliability.check_input`),
so the numbers are the service's; that is why this measurement lives here, beside the service, and not in the
training package. The OOD folder is ``<dir>/<group>/<image>`` (``python -m training ood-set``)::

    python bench/ood_eval.py --model models/brainxai-cnn.pt --ood runs/ood-set --out docs/evaluation
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from mlcore import artifact
from mlcore.errors import DatasetError, ImageError
from mlcore.runtimes import build_runtimes
from service.analysis import Analyser, AnalysisRequest
from service.image import DecodeOptions
from service.upload import Upload

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm"}


@dataclass(frozen=True)
class CheckedImages:
    """The input check of some images: score (NaN without a detector), accepted, predicted class index."""

    scores: np.ndarray
    accepted: np.ndarray
    predicted: np.ndarray
    kinds: list[str | None]


def check_files(model: artifact.LoadedModel, paths: list[Path], *, show_progress: bool = True) -> CheckedImages:
    """Each file through the service's own analysis (:class:`service.analysis.Analyser`, flag policy, TorchScript;
    DICOM of any modality is let through): its input check and predicted class."""
    analyser = Analyser(
        model,
        build_runtimes(model, "torchscript"),
        decode_limits=DecodeOptions(max_pixels=40_000_000, allow_non_mr=True),
        ood_policy="flag",
    )
    plan = analyser.plan(AnalysisRequest())
    scores, accepted, predicted, kinds = [], [], [], []
    for path in tqdm(paths, desc="input check", unit="image", disable=not show_progress):
        try:
            prediction = analyser.analyse(Upload(path.read_bytes(), None), plan).prediction
        except ImageError as exc:
            raise DatasetError(f"{path}: {exc}") from exc
        check = prediction.input_check
        scores.append(np.nan if check.score is None else check.score)
        accepted.append(check.in_distribution)
        predicted.append(model.classes.index(prediction.label))
        kinds.append(check.kind)
    return CheckedImages(np.array(scores), np.array(accepted, bool), np.array(predicted), kinds)


def ood_files(folder: Path) -> list[tuple[Path, str]]:
    """The images of an OOD folder with their group (the sub-folder's name), sorted."""
    found = sorted(
        (path, path.parent.name)
        for path in folder.glob("*/*")
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    )
    if not found:
        raise DatasetError(f"no images under {folder}/<group>/ (python -m training ood-set --out {folder})")
    return found


def input_check_report(
    model: artifact.LoadedModel, in_files: list[tuple[Path, int]], ood_dir: Path, *, show_progress: bool = True
) -> dict[str, Any]:
    """False refusals and selective accuracy on ``in_files``, caught share per OOD group, and the score's AUROC."""
    if model.reliability is None:
        log.warning("the model has no input check (python -m training fit-ood): only the cheap checks are measured")
    inside = check_files(model, [path for path, _ in in_files], show_progress=show_progress)
    labels = np.array([label for _, label in in_files])
    outside_files = ood_files(ood_dir)
    outside = check_files(model, [path for path, _ in outside_files], show_progress=show_progress)
    groups = np.array([group for _, group in outside_files])
    answered = inside.accepted
    report: dict[str, Any] = {
        "threshold": model.reliability.threshold if model.reliability else None,
        "in_distribution": {
            "n": len(in_files),
            "false_refusal_rate": float(1 - answered.mean()),
            "accuracy": float((inside.predicted == labels).mean()),
            "selective_accuracy": float((inside.predicted[answered] == labels[answered]).mean())
            if answered.any()
            else None,
            "coverage": float(answered.mean()),
        },
        "ood": {"n": len(outside_files), "caught": float((~outside.accepted).mean())},
        "groups": {},
        "missed": [
            str(path.relative_to(ood_dir))
            for (path, _), answered_anyway in zip(outside_files, outside.accepted, strict=True)
            if answered_anyway
        ],
    }
    if model.reliability is not None:
        truth = np.r_[np.zeros(len(inside.scores)), np.ones(len(outside.scores))]
        report["auroc"] = float(roc_auc_score(truth, np.r_[inside.scores, outside.scores]))
    for group in sorted(set(groups)):
        members = groups == group
        by_score = outside.scores[members] > report["threshold"] if report["threshold"] is not None else None
        report["groups"][group] = {
            "n": int(members.sum()),
            "caught": float((~outside.accepted[members]).mean()),
            "caught_by_score_alone": float(by_score.mean()) if by_score is not None else None,
        }
    return report


def input_check_markdown(report: dict[str, Any], ood_dir: Path) -> str:
    """The input-check section of the evaluation report."""
    inside, ood = report["in_distribution"], report["ood"]
    lines = [
        "## Input check (out-of-distribution detector)",
        "",
        f"Threshold {report['threshold']:.2f}; out-of-distribution images from `{ood_dir}` (groups below).",
        "",
        f"- brain MRI slices refused (false refusals): {inside['false_refusal_rate']:.2%} of {inside['n']}",
        f"- accuracy on all of them {inside['accuracy']:.4f}; on those answered (selective accuracy) "
        f"{inside['selective_accuracy']:.4f} at coverage {inside['coverage']:.2%}",
        f"- out-of-distribution images refused: {ood['caught']:.2%} of {ood['n']}",
    ]
    if "auroc" in report:
        lines.append(f"- AUROC of the score (brain MRI vs out-of-distribution): {report['auroc']:.4f}")
    lines += ["", "| group | images | refused | refused by the score alone |", "|---|---:|---:|---:|"]
    for group, row in report["groups"].items():
        alone = f"{row['caught_by_score_alone']:.0%}" if row["caught_by_score_alone"] is not None else "—"
        lines.append(f"| {group} | {row['n']} | {row['caught']:.0%} | {alone} |")
    missed = ", ".join(f"`{name}`" for name in report["missed"]) or "none"
    lines += ["", f"Answered although out of distribution: {missed}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure the input check of ``--model`` on its validation side and ``--ood``; write ``input_check.json`` and
    ``input_check.md`` under ``--out``."""
    from mlcore.artifact import DEFAULT_MODEL
    from training.__main__ import SHARED_TRAINING
    from training.evaluate import select_files

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="default: the shipped model")
    parser.add_argument("--data", type=Path, default=SHARED_TRAINING, help="dataset root <root>/<class>/*")
    parser.add_argument("--split", type=Path, default=None, help="default: <model>.split.json beside the model")
    parser.add_argument("--ood", type=Path, required=True, help="an out-of-distribution folder <dir>/<group>/<image>")
    parser.add_argument("--out", type=Path, default=Path("runs/input-check"), help="default: %(default)s")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    model = artifact.load(args.model)
    _, files = select_files(args.data, args.split or args.model.with_suffix(".split.json"), "val")
    report = input_check_report(model, files, args.ood, show_progress=sys.stderr.isatty())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "input_check.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "input_check.md").write_text(input_check_markdown(report, args.ood))
    log.info("refused %.1f %% of %d out-of-distribution images", 100 * report["ood"]["caught"], report["ood"]["n"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
