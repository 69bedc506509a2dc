"""``python -m training <command>``: fit, evaluate, export, calibrate, fit-detector, ood-set, fit-gate, synth,
explain-eval, shortcut, card."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from mlcore.artifact import DEFAULT_MODEL
from mlcore.errors import BrainxaiError, ParameterError
from mlcore.explainers import method_names
from training.data.dataset import SHARED_TRAINING, SHARED_UNKNOWN_KIND
from training.fit.recipe import RECIPE_OF_RECORD, FitConfig

log = logging.getLogger("training")


def _add_fit(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "fit",
        help="train a model from a recipe; checkpoints every epoch under --out",
        description="Train a model. Every setting comes from --recipe (default: the recipe of record, "
        f"{RECIPE_OF_RECORD.relative_to(RECIPE_OF_RECORD.parents[1])}); the flags below override a few, --set any.",
    )
    parser.add_argument("--recipe", type=Path, default=None, help="a recipe TOML (default: the recipe of record)")
    where = parser.add_argument_group("data and output")
    default = str(SHARED_TRAINING) if SHARED_TRAINING.is_dir() else None
    where.add_argument(
        "--data",
        default=default,
        required=default is None,
        help="dataset root <root>/<class>/*.jpg (default: the shared Training split)",
    )
    where.add_argument("--out", default="runs/brainxai-cnn", help="run folder (default: %(default)s)")
    where.add_argument(
        "--boxes",
        default=None,
        help="tumour boxes CSV for the localisation loss (default: tumor-boxes.csv beside --data; '' for none)",
    )
    where.add_argument(
        "--unknown-kind", default=None, help="folder of tumours of unknown kind with boxes.csv (default: the recipe's)"
    )
    where.add_argument("--skip-bad", action="store_true", help="leave out unreadable images instead of stopping")
    run = parser.add_argument_group("run")
    run.add_argument("--epochs", type=int, default=None, help="number of epochs (default: the recipe's)")
    run.add_argument("--batch-size", type=int, default=None, help="images per step (default: the recipe's)")
    run.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the recipe's)")
    run.add_argument("--seed", type=int, default=None, help="the split's and the run's seed (default: the recipe's)")
    run.add_argument("--device", default=None, help="auto, cpu or cuda (default: auto)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other recipe setting, e.g. --set patience=5 (repeatable; the names: recipes/*.toml)",
    )
    run.add_argument("--resume", action="store_true", help="continue from <out>/last.pt of the same configuration")
    run.add_argument(
        "--stop-after",
        type=int,
        default=None,
        metavar="N",
        help="stop after N epochs of the recipe's schedule (a short reproduction check; --resume goes on)",
    )


def fit_config(args: argparse.Namespace) -> FitConfig:
    """The run's :class:`FitConfig`: the recipe (or the recipe of record's defaults), then ``--set``, then the flags."""
    from training.fit.recipe import read_recipe, setting_overrides

    settings: dict[str, Any] = read_recipe(args.recipe) if args.recipe else {}
    settings.update(setting_overrides(args.set))
    for name in ("epochs", "batch_size", "lr", "seed", "device", "unknown_kind"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    boxes = args.boxes
    if boxes is None:
        beside = Path(args.data).parent / "tumor-boxes.csv"
        boxes = str(beside) if beside.is_file() else ""
    return FitConfig(data=args.data, out=args.out, boxes=boxes, skip_bad=args.skip_bad, **settings)


def _run_fit(args: argparse.Namespace) -> None:
    import json

    from training.fit.loop import fit

    metrics = fit(fit_config(args), resume=args.resume, stop_after=args.stop_after)
    log.info("kept epoch's validation: %s", json.dumps({k: metrics[k] for k in ("accuracy", "macro_f1", "ece")}))


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("evaluate", help="metrics, figures and a Markdown report of an artifact")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="default: the shipped model")
    parser.add_argument("--data", type=Path, default=SHARED_TRAINING, help="dataset root <root>/<class>/*")
    parser.add_argument(
        "--split",
        type=Path,
        default=None,
        help="a run's split.json: evaluate only its --subset side (default: every image under --data)",
    )
    parser.add_argument("--subset", choices=["val", "train"], default="val")
    parser.add_argument("--out", type=Path, default=Path("runs/evaluation"), help="default: %(default)s")
    parser.add_argument(
        "--unknown-kind",
        type=Path,
        default=SHARED_UNKNOWN_KIND if SHARED_UNKNOWN_KIND.is_dir() else None,
        help="tumours of unknown kind from the collection of most no-tumour images (boxes.csv): the same-collection "
        "section, on the split's held-aside groups when it has some (default: the shared br35h-tumours, if there)",
    )
    parser.add_argument(
        "--counterfactual",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also remove each boxed tumour off the midline four ways, with controls (needs the boxes; default: on)",
    )
    parser.add_argument(
        "--boxes",
        type=Path,
        default=None,
        help="tumour boxes CSV: report accuracy by tumour size (default: tumor-boxes.csv beside the --data folder, "
        "if there is one)",
    )


def _run_evaluate(args: argparse.Namespace) -> None:
    import json

    from training.evaluation.evaluate import evaluate_artifact

    boxes = _boxes_csv(args)
    boxes_csv = boxes if args.boxes or boxes.is_file() else None
    metrics = evaluate_artifact(
        args.model,
        args.data,
        args.split,
        subset=args.subset,
        out_dir=args.out,
        boxes_csv=boxes_csv,
        unknown_kind=args.unknown_kind,
        show_progress=sys.stderr.isatty(),
    )
    if args.counterfactual and boxes_csv is not None:
        from training.evaluation.counterfactual_eval import counterfactual_evaluation, counterfactual_markdown
        from training.evaluation.explain_eval import load_cases

        cases = load_cases(args.data, boxes_csv, args.split, per_class=None, seed=0)
        progress = sys.stderr.isatty()
        counterfactual = counterfactual_evaluation(
            args.model, args.data, cases, args.split, seed=0, show_progress=progress
        )
        metrics["counterfactual"] = counterfactual["summary"]
        (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        with open(args.out / "report.md", "a") as report:
            report.write("\n" + counterfactual_markdown(counterfactual["summary"], counterfactual["trained_fills"]))


def _add_export(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("export", help="write the TorchScript artifact with its manifest")
    parser.add_argument(
        "--checkpoint", type=Path, default=Path("runs/brainxai-cnn/best.pt"), help="default: %(default)s"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL, help="default: the shipped model")
    parser.add_argument("--name", default="brainxai-cnn")
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument(
        "--fit-commit",
        default=None,
        help="git commit the checkpoint was trained at (default: as recorded in the checkpoint)",
    )
    parser.add_argument(
        "--notumor-offset",
        type=float,
        default=0.0,
        help="lower the notumor logit by this much (the operating point; recorded in the manifest). default: 0",
    )


def _run_export(args: argparse.Namespace) -> None:
    from training.artifact.export import export

    export(
        args.checkpoint,
        args.out,
        name=args.name,
        version=args.version,
        fit_commit=args.fit_commit,
        notumor_offset=args.notumor_offset,
    )


def _add_calibrate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "calibrate", help="store int8 calibration images (train side) in an artifact, weights unchanged"
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="default: the shipped model")
    parser.add_argument("--data", type=Path, default=SHARED_TRAINING, help="dataset root <root>/<class>/*")
    parser.add_argument(
        "--split", type=Path, default=None, help="the model's split.json (default: <model>.split.json beside it)"
    )
    parser.add_argument("--per-class", type=int, default=8, help="images of each class (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)


def _run_calibrate(args: argparse.Namespace) -> None:
    from training.artifact.calibrate import add_calibration

    split = args.split or args.model.with_suffix(".split.json")
    add_calibration(args.model, args.data, split, per_class=args.per_class, seed=args.seed)


def _add_fit_detector(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "fit-detector",
        aliases=["fit-ood"],  # its name before the input check had one: older cards' commands still run
        help="fit the input check's feature detector and the temperature of an artifact, weights unchanged",
    )
    _add_refit_arguments(parser, "share of brain MRI slices like the validation ones the check may refuse")


def _add_refit_arguments(parser: argparse.ArgumentParser, false_refusal_help: str) -> None:
    """The arguments of the commands that fit a part of an existing artifact (fit-detector, fit-gate)."""
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="default: the shipped model")
    parser.add_argument("--data", type=Path, default=SHARED_TRAINING, help="dataset root <root>/<class>/*")
    parser.add_argument(
        "--split", type=Path, default=None, help="the model's split.json (default: <model>.split.json beside it)"
    )
    parser.add_argument(
        "--false-refusal", type=float, default=0.01, help=f"{false_refusal_help} (default: %(default)s)"
    )
    parser.add_argument("--version", default=None, help="the model's new version (default: unchanged)")


def _refit_split(args: argparse.Namespace) -> Path:
    """The split of a refit command (``--split``, else the one beside ``--model``), its false-refusal target checked."""
    if not 0 < args.false_refusal < 0.5:
        raise ParameterError(f"--false-refusal must be between 0 and 0.5, got {args.false_refusal}")
    return Path(args.split or args.model.with_suffix(".split.json"))


def _run_fit_detector(args: argparse.Namespace) -> None:
    from training.input_check.detector import fit_detector

    split = _refit_split(args)
    fit_detector(
        args.model,
        args.data,
        split,
        false_refusal=args.false_refusal,
        version=args.version,
        show_progress=sys.stderr.isatty(),
    )


def _add_ood_set(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ood-set", help="assemble an out-of-distribution image set from installed sample data and generators"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/ood-set"), help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED_TRAINING if SHARED_TRAINING.is_dir() else None,
        help="dataset root whose brain slices mosaics and patches are made of (default: the shared Training split, "
        "when present; without it the fit part has none)",
    )
    parser.add_argument(
        "--split",
        type=Path,
        default=DEFAULT_MODEL.with_suffix(".split.json"),
        help="the model's split (fit part: its train side; measure part: its validation side; default: %(default)s)",
    )
    parser.add_argument(
        "--test-samples", type=Path, default=None, help="write only the tests' small samples to this folder"
    )


def _run_ood_set(args: argparse.Namespace) -> None:
    from training.input_check.ood_set import dataset_slices, write_ood_set, write_test_samples

    if args.test_samples:
        write_test_samples(args.test_samples)
        return
    slices = dataset_slices(args.data, args.split, seed=args.seed) if args.data else None
    write_ood_set(args.out, seed=args.seed, dataset_slices=slices)


def _add_fit_gate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "fit-gate",
        help="fit the input gate (is this a brain MRI slice at all?) of an artifact, weights unchanged",
        description="Fit the input gate on the model's train-side brains and the fit part of an assembled set of "
        "other kinds (python -m training ood-set); thresholds conformal on brains only.",
    )
    _add_refit_arguments(parser, "share of brain slices of each collection the gate may refuse")
    parser.add_argument("--out", type=Path, default=None, help="write here instead of over --model")
    parser.add_argument(
        "--ood", type=Path, default=Path("runs/ood-set"), help="the assembled set (default: %(default)s)"
    )


def _run_fit_gate(args: argparse.Namespace) -> None:
    from training.input_check.gate import fit_gate

    split = _refit_split(args)
    fit_gate(
        args.model,
        args.data,
        split,
        args.ood,
        out_path=args.out,
        false_refusal=args.false_refusal,
        version=args.version,
    )


def _add_synth(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("synth", help="synthetic MRI-like phantoms with lesion masks and boxes")
    parser.add_argument(
        "--out", type=Path, required=True, help="writes <out>/Training/<class>/, <out>/masks/ and <out>/tumor-boxes.csv"
    )
    parser.add_argument("--n", type=int, default=100, help="phantoms per class (default: %(default)s)")
    parser.add_argument("--size", type=int, default=128, help="image height in pixels (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)


def _run_synth(args: argparse.Namespace) -> None:
    from training.data.synth import write_phantoms

    write_phantoms(args.out, args.n, seed=args.seed, size=args.size, show_progress=sys.stderr.isatty())


def _add_boxed_data(parser: argparse.ArgumentParser, split_help: str) -> None:
    """--data, --boxes and --split of the commands that read the tumour boxes (see :func:`_boxes_csv`)."""
    parser.add_argument("--data", type=Path, default=SHARED_TRAINING, help="dataset root <root>/<class>/*")
    parser.add_argument(
        "--boxes", type=Path, default=None, help="boxes CSV (default: tumor-boxes.csv beside the dataset root)"
    )
    parser.add_argument("--split", type=Path, default=DEFAULT_MODEL.with_suffix(".split.json"), help=split_help)


def _boxes_csv(args: argparse.Namespace) -> Path:
    """The boxes CSV: --boxes, else tumor-boxes.csv beside the dataset root (--data)."""
    return Path(args.boxes or Path(args.data).parent / "tumor-boxes.csv")


def _add_explain_eval(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("explain-eval", help="score the explanation methods against tumour boxes")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="default: the shipped model")
    _add_boxed_data(parser, "only this split's validation side is used (default: the shipped model's); 'none' for all")
    parser.add_argument(
        "--methods", default=",".join(method_names()), help="comma-separated (default: every method, %(default)s)"
    )
    parser.add_argument("--per-class", type=int, default=None, help="a seeded sample of at most N images per class")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="METHOD.NAME=VALUE",
        help="a method parameter, e.g. lime.n_segments=150 (repeatable; default: each method's declared default, "
        "and the seed of methods that take one is --seed); the parameters: GET /v1/methods",
    )
    parser.add_argument(
        "--precision",
        choices=["int8", "fp32"],
        default="int8",
        help="the forward that forward-only methods use, as the service's BRAINXAI_EXPLAIN_PRECISION "
        "(default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--counterfactual",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also remove each tumour off the midline four ways (and insert tumours into no-tumour brains), with "
        "controls, and report the answers (default: on)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/explanations"),
        help="writes EXPLANATIONS.md, explanations.json and explanations.png here",
    )


def _run_explain_eval(args: argparse.Namespace) -> None:
    import json

    from training.evaluation.counterfactual_eval import counterfactual_evaluation, counterfactual_markdown
    from training.evaluation.explain_eval import (
        evaluate_explanations,
        load_cases,
        method_parameters,
        summarise,
        summary_report,
    )
    from training.evaluation.explain_report import evidence_markdown, figure, markdown, pick_figure_cases
    from training.provenance import this_command

    boxes = _boxes_csv(args)
    split = None if str(args.split) == "none" else args.split
    methods = [m for m in args.methods.split(",") if m]
    params = method_parameters(methods, args.param, seed=args.seed)
    cases = load_cases(args.data, boxes, split, per_class=args.per_class, seed=args.seed)
    rows = evaluate_explanations(
        args.model,
        cases,
        methods,
        params,
        seed=args.seed,
        show_progress=sys.stderr.isatty(),
        precision=args.precision,
    )
    summary = summarise(rows)
    counterfactual = (
        counterfactual_evaluation(
            args.model, args.data, cases, split, seed=args.seed, show_progress=sys.stderr.isatty()
        )
        if args.counterfactual
        else None
    )
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"summary": summary, "rows": rows, "counterfactual": counterfactual}
    (args.out / "explanations.json").write_text(json.dumps(result, indent=1))
    command = this_command()
    (args.out / "summary.json").write_text(json.dumps(summary_report(summary, args.model, command), indent=1))
    header = (
        f"Command: `{command}`\n\n{len(cases)} images with a tumour box"
        + (f" from the validation side of `{split}`" if split else "")
        + f"; model `{args.model}`."
    )
    extra = (
        counterfactual_markdown(counterfactual["summary"], counterfactual["trained_fills"]) if counterfactual else ""
    )
    report = markdown(summary, header, methods) + "\n" + evidence_markdown(summary, methods) + "\n" + extra
    (args.out / "EXPLANATIONS.md").write_text(report)
    figure(args.model, pick_figure_cases(rows, cases), methods, params, out=args.out / "explanations.png")
    log.info("wrote %s", args.out)


def _add_shortcut(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "shortcut", help="how well the image outside the tumour tells tumour from no tumour (the dataset's shortcut)"
    )
    _add_boxed_data(parser, "train side to fit, validation side to score (default: the shipped model's split)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/shortcut"), help="default: %(default)s")


def _run_shortcut(args: argparse.Namespace) -> None:
    from training.evaluation.shortcut import shortcut_report, write_shortcut_report

    boxes = _boxes_csv(args)
    report = shortcut_report(args.data, boxes, args.split, seed=args.seed, show_progress=sys.stderr.isatty())
    write_shortcut_report(report, args.out)


def _add_card(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("card", help="write the model card from the artifact's manifest")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="default: the shipped model")
    parser.add_argument("--out", type=Path, default=Path("models/MODEL_CARD.md"), help="default: %(default)s")
    parser.add_argument(
        "--notes",
        type=Path,
        default=Path("models/MODEL_CARD.notes.md"),
        help="hand-written Markdown appended to the card, if the file exists (default: %(default)s)",
    )


def _run_card(args: argparse.Namespace) -> None:
    from training.artifact.card import write_card

    write_card(args.model, args.out, args.notes)
    log.info("wrote %s", args.out)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run one command; every expected failure (a brainxai error, a path that cannot be
    read or written) becomes a one-line message and exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_fit(commands)
    _add_evaluate(commands)
    _add_export(commands)
    _add_calibrate(commands)
    _add_fit_detector(commands)
    _add_ood_set(commands)
    _add_fit_gate(commands)
    _add_synth(commands)
    _add_explain_eval(commands)
    _add_shortcut(commands)
    _add_card(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        {
            "fit": _run_fit,
            "evaluate": _run_evaluate,
            "export": _run_export,
            "calibrate": _run_calibrate,
            "fit-detector": _run_fit_detector,
            "fit-ood": _run_fit_detector,
            "ood-set": _run_ood_set,
            "fit-gate": _run_fit_gate,
            "synth": _run_synth,
            "explain-eval": _run_explain_eval,
            "shortcut": _run_shortcut,
            "card": _run_card,
        }[args.command](args)
    except BrainxaiError as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:  # a path that cannot be read or written: the user's to fix, not a bug
        log.error("%s: %s", exc.strerror or type(exc).__name__, exc.filename or exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
