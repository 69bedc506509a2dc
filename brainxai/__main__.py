"""``brainxai <command>``: one installed command for what ``python -m service``, ``python -m service.dimse`` and
``python -m training`` do, and for analysing folders (``brainxai analyze``). This module only parses arguments."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from mlcore.artifact import DEFAULT_MODEL
from mlcore.errors import BrainxaiError

log = logging.getLogger("brainxai")


def _analyze_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "analyze",
        help="every slice of files, folders and DICOM trees through the analysis pipeline, into one table",
        description="Writes OUT/results.csv (and results.parquet with pyarrow) with one row per slice, and the maps "
        "asked for as PNG under OUT/maps/. DICOM files are grouped into series by their tags.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="image and DICOM files, or folders (read recursively)")
    parser.add_argument("--out", type=Path, required=True, help="the folder of the table and the maps")
    parser.add_argument("--explain", default="", help="methods whose maps to make, comma-separated (e.g. gradcam,lime)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="default: the shipped model")
    parser.add_argument("--resume", action="store_true", help="skip the files already in OUT/results.csv")
    parser.add_argument(
        "--dicom-out", action="store_true", help="also write each DICOM series' report (SR) and maps under OUT/dicom/"
    )
    parser.add_argument("--shard", default="0/1", help="I/N: analyse the I-th (0-based) of N shards (default: 0/1)")


def _run_analyze(args: argparse.Namespace) -> int:
    from brainxai.analyze import analyze
    from mlcore.explainers import REGISTRY
    from service.loading import load_analyser
    from service.settings import Settings

    index, _, count = args.shard.partition("/")
    if not (index.isdigit() and count.isdigit() and int(count) > 0):
        log.error("--shard must be I/N with 0 <= I < N, got %r", args.shard)
        return 2
    methods = [method.strip() for method in args.explain.split(",") if method.strip()]
    # The int8 forward serves only forward-only methods (LIME, Occlusion); without them, quantizing at start
    # would cost seconds and ~400 MB of peak memory for nothing.
    forward_only = any(getattr(REGISTRY.get(method), "runtime", None) == "forward" for method in methods)
    settings = Settings(model_path=args.model, ood_policy="reject", explain_cache_size=0,
                        explain_precision="int8" if forward_only else "fp32")  # fmt: skip
    analyser = load_analyser(settings)
    analyze(analyser, args.paths, args.out, methods=methods, resume=args.resume, shard_index=int(index),
            shard_count=int(count), show_progress=sys.stderr.isatty(), dicom_out=args.dicom_out)  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; ``serve``, ``node`` and ``train`` hand their arguments on."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="brainxai", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="the HTTP service (BRAINXAI_* settings; as python -m service)")
    commands.add_parser("node", help="the DICOM node (BRAINXAI_DIMSE_* settings; as python -m service.dimse)")
    commands.add_parser("train", help="fit, evaluate, export, ... (as python -m training; brainxai train --help)")
    _analyze_parser(commands)
    bundle = commands.add_parser("export-bundle", help="the model as a MONAI Bundle (configs/, models/model.ts, docs/)")
    bundle.add_argument("--out", type=Path, required=True, help="the bundle's folder (created)")
    bundle.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="default: the shipped model")
    if argv and argv[0] == "train":  # everything after "train" is training's own command line
        from training.__main__ import main as train

        return train(argv[1:])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "serve":
            from service.__main__ import main as serve

            return serve([])
        if args.command == "node":
            from service.dimse.__main__ import main as node

            return node([])
        if args.command == "export-bundle":
            from brainxai.bundle import export_bundle

            log.info("MONAI Bundle written to %s", export_bundle(args.model, args.out))
            return 0
        return _run_analyze(args)
    except (BrainxaiError, FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2


def console() -> None:
    """The installed ``brainxai`` command: :func:`main`, then exit without the interpreter's teardown. With torch's
    CUDA wheel (what PyPI serves), unloading its libraries at exit raised a finished command's peak memory by ~120 MB
    (``brainxai analyze``: 917 → 1,039 MiB); the table, the maps and the logs are written and flushed before."""
    code = main()  # --help and usage errors leave through SystemExit, as usual
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console()
