"""``python -m training <command>``: fit, evaluate, export, synth."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from mlcore.errors import BrainxaiError

log = logging.getLogger("training")

SHARED_TRAINING = Path(__file__).resolve().parents[2] / "shared" / "data" / "brain-tumor-mri" / "Training"


def _add_fit(commands: argparse._SubParsersAction) -> None:
    from training.fit import FitConfig

    parser = commands.add_parser("fit", help="train a model; checkpoints every epoch under --out")
    for field in dataclasses.fields(FitConfig):
        flag = "--" + field.name.replace("_", "-")
        if field.name == "data":
            default = str(SHARED_TRAINING) if SHARED_TRAINING.is_dir() else None
            parser.add_argument(flag, default=default, required=default is None,
                                help="dataset root <root>/<class>/*.jpg (default: the shared Training split)")
        elif field.name == "out":
            parser.add_argument(flag, default="runs/brainxai-cnn", help="run folder (default: %(default)s)")
        elif isinstance(field.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default)
        else:
            parser.add_argument(flag, type=type(field.default), default=field.default, help="default: %(default)s")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/last.pt of the same configuration")


def _run_fit(args: argparse.Namespace) -> None:
    import json

    from training.fit import FitConfig, fit

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(FitConfig)}
    metrics = fit(FitConfig(**values), resume=args.resume)
    log.info("best validation: %s", json.dumps({k: metrics[k] for k in ("accuracy", "macro_f1", "ece")}))


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run one command, and turn brainxai errors into a message and exit 2."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_fit(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        {"fit": _run_fit}[args.command](args)
    except BrainxaiError as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
