"""Is the accuracy a candidate gives up a matter of its operating point, or of what it learned?

Most of a counterfactually trained candidate's errors are tumours answered "notumor". Moving its operating point —
a constant ``offset`` subtracted from the "notumor" logit, so that a tumour class wins more often — buys accuracy
back, and costs removal → "notumor" (a removed tumour is answered "notumor" less often). If a single offset reached
the accuracy goal while removal stayed at least 70 % on every fill, the gap would be one of calibration; if not, the
model itself has to improve.

``python -m research.same_collection.operating_point runs/<name>/model.pt --offsets 0 0.5 1 2`` writes, per offset, a
copy of the artifact with the head's "notumor" bias moved (the input check refitted for those weights' digest only:
the detector reads the backbone's features, which do not change) under ``runs/operating-point/`` and prints the
trade-off row of each (:func:`research.same_collection.tradeoff.model_row`: answered accuracy, same collection,
removal and controls) — every number from the product's evaluation, on the validation side. This sweeps an
operating point *on* the validation side: it describes the model's trade-off curve; it is not a way to choose one.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import sys
from pathlib import Path

import torch

from mlcore import artifact
from research.same_collection.tradeoff import markdown, model_row, split_of
from training.data.dataset import SHARED_TRAINING, SHARED_UNKNOWN_KIND
from training.fit.counterfactual import NO_TUMOUR

log = logging.getLogger(__name__)


def classifier_bias(model: artifact.LoadedModel) -> torch.Tensor:
    """The bias of the layer that gives the class logits: the module's last bias with one entry per class."""
    found = [
        p for name, p in model.module.named_parameters() if name.endswith("bias") and p.shape == (len(model.classes),)
    ]
    if not found:
        raise SystemExit("no classifier bias (one entry per class) in the module")
    return found[-1]


def with_offset(model_path: Path, offset: float, out_dir: Path) -> Path:
    """A copy of the artifact whose "notumor" logit is lowered by ``offset``, with its split beside it."""
    model = artifact.load(model_path)
    if model.feature_detector is None:
        raise SystemExit(f"{model_path} has no input check (python -m training fit-detector)")
    biases = classifier_bias(model)
    with torch.no_grad():
        biases[model.classes.index(NO_TUMOUR)] -= offset
    digest = artifact.weights_sha256(model.module)
    detector = dataclasses.replace(model.feature_detector, weights_sha256=digest)
    section = {**model.manifest["feature_detector"], "weights_sha256": digest}
    manifest = {
        **model.manifest,
        "feature_detector": section,
        "version": f"{model.manifest['version']}-offset{offset:g}",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{model_path.parent.name}-offset{offset:g}.pt"
    artifact.save(
        model.module, manifest, path, calibration=model.calibration, feature_detector=detector, gate=model.gate
    )
    shutil.copyfile(split_of(model_path), path.with_suffix(".split.json"))
    return path


def main(argv: list[str] | None = None) -> int:
    """Write one artifact per offset and print the trade-off table of all of them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--offsets", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--out-dir", type=Path, default=Path("runs/operating-point"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rows = []
    for offset in args.offsets:
        path = with_offset(args.model, offset, args.out_dir)
        rows.append(model_row(path, SHARED_TRAINING, SHARED_UNKNOWN_KIND))
        log.info("offset %g: %s", offset, rows[-1])
    sys.stdout.write(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
