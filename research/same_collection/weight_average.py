"""The midpoint of two checkpoints of one lineage: a weight average ("model soup") as a candidate.

Two kept checkpoints fine-tuned from a common point (one run going on from the other's weights) lie on one trade-off
curve; the uniform average of their tensors is a point between them. ``python -m research.same_collection.
weight_average A/best.pt B/best.pt --out C/best.pt`` writes a ``best.pt`` with every floating tensor averaged
(parameters and BatchNorm statistics; counters are taken from ``B``), the configuration, split and provenance of
``B``, and validation metrics recomputed on the split's validation side — so that ``python -m training export`` and
every later command treat it as any other run's kept epoch. The two must share architecture, classes, preprocessing
and split; anything else stops with a message.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlcore.files import atomic_write
from mlcore.preprocessing import fit_to_square
from training.artifact.operating_point import validation_images
from training.data.dataset import read_gray
from training.fit.checkpoint import checkpoint_spec, read_model_checkpoint
from training.fit.loop import answered_tumour, evaluate
from training.fit.models import build_model
from training.input_check.detector import unknown_kind_side

log = logging.getLogger(__name__)

MUST_AGREE = ("classes", "preprocess", "fingerprint", "split", "counterfactual_fills")
CONFIG_MUST_AGREE = ("architecture", "width", "dropout", "image_size", "data", "unknown_kind", "seed")


def check_same_lineage(first: dict[str, Any], second: dict[str, Any]) -> None:
    """Stop with a message when the two checkpoints differ in what an average needs to be the same."""
    differ = [key for key in MUST_AGREE if first.get(key) != second.get(key)]
    differ += [f"config.{key}" for key in CONFIG_MUST_AGREE if first["config"].get(key) != second["config"].get(key)]
    if differ:
        raise SystemExit(f"cannot average checkpoints that differ in {', '.join(differ)}")


def average_weights(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The uniform average of every floating tensor of two state dicts; other tensors (counters) from ``second``."""
    if first.keys() != second.keys():
        raise SystemExit("the checkpoints' weights have different tensors; not one architecture")
    return {
        name: (first[name] + second[name]) / 2 if second[name].is_floating_point() else second[name].clone()
        for name in second
    }


def run_split(checkpoint_path: Path) -> Path:
    """The ``split.json`` of the run a kept checkpoint belongs to (its folder)."""
    split_file = checkpoint_path.parent / "split.json"
    if not split_file.is_file():
        raise SystemExit(f"no split.json beside {checkpoint_path}")
    return split_file


def validation_side(checkpoint: dict[str, Any], split_file: Path) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
    """The split's validation images and labels, and its held-aside tumours of unknown kind, fitted to the input
    side (the files as ``evaluate`` and ``fit-detector`` choose them)."""
    size = checkpoint["preprocess"]["size"]
    images, labels = validation_images(checkpoint, split_file)
    held_aside, _groups = unknown_kind_side(split_file, "val")
    unknown = [fit_to_square(read_gray(path), size) for path, _label in held_aside]
    return images, labels, torch.stack(unknown) if unknown else torch.empty(0, 1, size, size)


def averaged_checkpoint(first_path: Path, second_path: Path) -> dict[str, Any]:
    """The averaged ``best.pt`` of two checkpoints with its validation metrics recomputed."""
    first, second = read_model_checkpoint(first_path), read_model_checkpoint(second_path)
    check_same_lineage(first, second)
    weights = average_weights(first["weights"], second["weights"])
    config = second["config"]
    model = build_model(config["architecture"], len(second["classes"]), config["width"], config["dropout"])
    model.load_state_dict(weights)
    split_file = run_split(second_path)
    if run_split(first_path).read_text() != split_file.read_text():
        raise SystemExit("the two runs were fitted on different splits")
    images, labels, unknown = validation_side(second, split_file)
    spec, device = checkpoint_spec(second), torch.device("cpu")
    metrics = evaluate(model, images, labels, second["classes"], spec=spec, device=device)
    if len(unknown):
        classes = second["classes"]
        metrics["unknown_kind_answered_tumour"] = answered_tumour(model, unknown, classes, spec=spec, device=device)
    log.info("averaged: validation accuracy %.4f, macro-F1 %.4f", metrics["accuracy"], metrics["macro_f1"])
    return {
        **second,
        "weights": weights,
        "metrics": metrics,
        "averaged_from": [str(first_path), str(second_path)],
    }


def main(argv: list[str] | None = None) -> int:
    """Write the averaged ``best.pt`` (and the split beside it, as a run folder holds it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the averaged best.pt to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    checkpoint = averaged_checkpoint(args.first, args.second)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, lambda tmp: torch.save(checkpoint, tmp))
    shutil.copyfile(run_split(args.second), args.out.parent / "split.json")
    log.info("wrote %s (%s)", args.out, json.dumps({"val_accuracy": round(checkpoint["metrics"]["accuracy"], 5)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
