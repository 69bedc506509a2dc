"""A fine-tune of the shipped model with the two levers of :mod:`research.faithful_fit.levers`.

    python -m research.faithful_fit.fit --recipe docs/research/recipes/brainxai-lite0-3.1.0-stage1.toml \\
        --out runs/faithful-a [--resume]

The recipe's ``start_from`` checkpoint is written from the shipped artifact when it is missing
(:func:`research.faithful_fit.start.checkpoint_from_artifact`). The levers' settings (``--half``, ``--mass-weight``)
are not recipe fields: they are written to ``<out>/levers.json`` and a resumed run must give the same.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from mlcore.artifact import DEFAULT_MODEL
from mlcore.errors import TrainingError
from research.faithful_fit.levers import HalfDonorRemoval, positive_mass_loss
from research.faithful_fit.start import checkpoint_from_artifact
from training.data.dataset import SHARED_TRAINING
from training.fit.counterfactual import NO_TUMOUR
from training.fit.loop import LocalisationTerm, fit, prepare_split, setup_distributed
from training.fit.models import get_architecture
from training.fit.recipe import FitConfig, read_recipe

log = logging.getLogger("faithful_fit")


def levers_for(
    config: FitConfig, *, half: float, mass_weight: float
) -> tuple[list[HalfDonorRemoval], list[LocalisationTerm]]:
    """The batch transform and loss term of this run, with the no-tumour donors of the fit's training side (the split
    is made as the loop makes it: the data is read once more, ~1 min)."""
    data, train, _val, _summary, _extra = prepare_split(config, setup_distributed(config.device))
    notumor = data.classes.index(NO_TUMOUR)
    donors = data.images[train][torch.from_numpy(data.labels[train] == notumor)]
    transforms = [HalfDonorRemoval(half, notumor, donors)] if half > 0 else []
    evidence = get_architecture(config.architecture).evidence
    mass = LocalisationTerm(mass_weight, evidence, notumor, name="mass", loss=positive_mass_loss)
    terms = [mass] if mass_weight > 0 else []
    return transforms, terms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", default=str(SHARED_TRAINING))
    parser.add_argument("--half", type=float, default=0.25, help="chance of a half replacement (and of a control)")
    parser.add_argument("--mass-weight", type=float, default=0.5, help="weight of the mass-in-the-box term")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = read_recipe(args.recipe)
    boxes = Path(args.data).parent / "tumor-boxes.csv"
    config = FitConfig(data=args.data, out=str(args.out), boxes=str(boxes), **settings)
    levers = {"half": args.half, "mass_weight": args.mass_weight}
    recorded = args.out / "levers.json"
    if args.resume and recorded.is_file() and json.loads(recorded.read_text()) != levers:
        raise TrainingError(f"{recorded} holds other levers: {recorded.read_text()}")
    args.out.mkdir(parents=True, exist_ok=True)
    recorded.write_text(json.dumps(levers))
    start = Path(config.start_from)
    if config.start_from and not start.is_file():
        checkpoint_from_artifact(DEFAULT_MODEL, start, data=args.data)
        log.info("wrote %s from %s", start, DEFAULT_MODEL)
    transforms, terms = levers_for(config, half=args.half, mass_weight=args.mass_weight)
    metrics = fit(config, resume=args.resume, transforms=transforms, terms=terms)
    log.info("kept epoch: %s", json.dumps({k: metrics[k] for k in ("accuracy", "macro_f1", "ece")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
