"""Measure the input check as the service applies it, kind by kind, beside the scores it could have used.

Each image goes through the service's one analysis pipeline (:class:`service.analysis.pipeline.Analyser`, flag policy,
so that every image gets its check and its class): what it refuses is what the service refuses. Beside that decision,
each image's scores are read for the comparison: the input gate's (combined, margin, distance), the older detector on
the classifier's features, the maximum softmax probability and the energy. The images:

- **brains**: the model's validation side; the other collection's held-aside groups, group by group; brain slices in
  sequences the dataset has few or none of (:mod:`training.input_check.brain_sequences`) — none of them read by any fit;
- **not brains**: the ``measure`` part of the assembled set (``python -m training ood-set``), by kind — never fitted.

::

    python bench/gate_eval.py --ood runs/ood-set --out docs/evaluation

writes ``input-gate.json`` (every number, with its n and a bootstrap 95 % interval) and ``input-gate.md`` (the
tables ``docs/INPUT_CHECK.md`` includes).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from mlcore import artifact
from mlcore.cpu import cpu_info
from mlcore.input_check.detector import pooled_features
from mlcore.preprocessing import PreprocessSpec, preprocess
from mlcore.runtimes import build_runtimes, runtime_name
from service.analysis.pipeline import Analyser, AnalysisRequest
from service.image import DecodeOptions, Upload
from training.metrics import bootstrap_interval

log = logging.getLogger(__name__)

SCORES = ("gate", "gate_margin", "gate_distance", "classifier_distance", "max_softmax", "energy")


@dataclass(frozen=True)
class Checked:
    """Per image: refused by the service (new check), refused by the older check, and every score (higher = less
    like a brain)."""

    refused: np.ndarray
    refused_before: np.ndarray
    scores: dict[str, np.ndarray]


def encode_png(pixels: np.ndarray) -> bytes:
    """uint8 pixels as PNG bytes (what a user would upload)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def check_uploads(model: artifact.LoadedModel, uploads: Sequence[bytes], desc: str) -> Checked:
    """Each upload through the service's analysis (flag policy, default settings otherwise), and its scores."""
    analyser = Analyser(model, build_runtimes(model, "torchscript"), decode_limits=DecodeOptions(40_000_000))
    analyser.ood_policy = "flag"
    plan = analyser.plan(AnalysisRequest())
    spec = PreprocessSpec.from_manifest(model.manifest)
    refused, before = [], []
    scores: dict[str, list[float]] = {name: [] for name in SCORES}
    detector, gate = model.feature_detector, model.gate
    for data in tqdm(uploads, desc=desc, unit="image", disable=not sys.stderr.isatty()):
        analysis = analyser.analyse(Upload(data, None), plan)
        check = analysis.prediction.input_check
        refused.append(not check.in_distribution)
        x = preprocess(analysis.image.pixels, spec)
        with torch.inference_mode():
            feature_maps = model.module.features(x)
            logits = model.module.classify(feature_maps)[0].double()
        pooled = pooled_features(feature_maps)[0].numpy()
        old = float(detector.scores(pooled[None])[0]) if detector else np.nan
        cheap = check.kind in ("colour", "uniform")
        before.append(cheap or (detector is not None and old > detector.threshold))
        temperature = detector.temperature if detector else 1.0
        scores["classifier_distance"].append(old)
        scores["max_softmax"].append(-float(torch.softmax(logits / temperature, 0).max()))
        scores["energy"].append(-float(torch.logsumexp(logits, 0)))
        if gate is not None:
            gated = gate.score(x)
            scores["gate"].append(float(gated.score[0]))
            scores["gate_margin"].append(-float(gated.margin[0]))
            scores["gate_distance"].append(float(gated.distance[0]))
    return Checked(
        np.array(refused), np.array(before), {name: np.array(values) for name, values in scores.items() if values}
    )


def share(values: np.ndarray) -> dict[str, Any]:
    """A share with its n and interval."""
    return {"n": len(values), "share": round(float(np.mean(values)), 4), "ci95": bootstrap_interval(values)}


def separation(inside: np.ndarray, outside: np.ndarray) -> dict[str, float]:
    """AUROC (brains against the others) and the false-positive rate at 95 % true-positive rate: the share of the
    others accepted when the threshold accepts 95 % of the brains."""
    truth = np.r_[np.zeros(len(inside)), np.ones(len(outside))]
    at_95 = np.percentile(inside, 95)
    return {
        "auroc": round(float(roc_auc_score(truth, np.r_[inside, outside])), 4),
        "fpr_at_95_tpr": round(float(np.mean(outside <= at_95)), 4),
    }


def gate_cost_ms(model: artifact.LoadedModel, repeats: int = 300) -> dict[str, float]:
    """Median milliseconds of the gate on one model input, and of the prediction's forward beside it, on the
    runtimes the service builds with its default settings (ONNX Runtime where the conversions check out)."""
    runtimes = build_runtimes(model)
    gate = runtimes.gate
    if gate is None:
        return {}
    size = int(model.manifest["input"]["size"])
    x = torch.randn(1, 1, size, size, generator=torch.Generator().manual_seed(0))
    timings: dict[str, list[float]] = {"gate": [], "classifier": []}
    for _ in range(repeats):
        for name, run in (("gate", lambda: gate.score(x)), ("classifier", lambda: runtimes.forward_outputs(x))):
            started = time.perf_counter()
            with torch.inference_mode():
                run()
            timings[name].append((time.perf_counter() - started) * 1000)
    return {
        **{f"{name}_ms_p50": round(float(np.median(values[20:])), 3) for name, values in timings.items()},
        "gate_runtime": runtime_name(gate.features),
        "classifier_runtime": runtime_name(runtimes.predict),
    }


def gate_report(
    model: artifact.LoadedModel,
    brains: dict[str, list[bytes]],
    others: dict[str, list[bytes]],
    *,
    groups: dict[str, list[str]],
) -> dict[str, Any]:
    """Refused shares by set and kind (served, and by the older check), and each score's separation of the
    validation side from each kind. ``groups``: the held-aside group of each image of a brain set that has them."""
    checked = {name: check_uploads(model, uploads, name) for name, uploads in {**brains, **others}.items()}
    reference = checked["validation"]
    report: dict[str, Any] = {
        "model": model.identity,
        "cpu": {"machine": platform.machine(), **cpu_info()},
        "cost": gate_cost_ms(model),
        "brains": {},
        "not_brains": {},
    }
    for name in brains:
        result = checked[name]
        row = {"refused": share(result.refused), "refused_before": share(result.refused_before)}
        if name in groups:
            labels = np.array(groups[name])
            by_group = {g: float(result.refused[labels == g].mean()) for g in sorted(set(labels))}
            row["groups"] = {"n": len(by_group), "worst": max(by_group.values()), "by_group": by_group}
        report["brains"][name] = row
    pooled_in = reference.scores
    all_out: dict[str, list[np.ndarray]] = {score: [] for score in pooled_in}
    for name in others:
        result = checked[name]
        row = {"refused": share(result.refused), "refused_before": share(result.refused_before), "scores": {}}
        for score, values in result.scores.items():
            row["scores"][score] = separation(pooled_in[score], values)
            all_out[score].append(values)
        report["not_brains"][name] = row
    every = np.concatenate([checked[name].refused for name in others])
    report["not_brains_all"] = {
        "refused": share(every),
        "refused_before": share(np.concatenate([checked[name].refused_before for name in others])),
        "scores": {score: separation(pooled_in[score], np.concatenate(values)) for score, values in all_out.items()},
    }
    return report


def markdown(report: dict[str, Any]) -> str:
    """The tables of ``docs/INPUT_CHECK.md``'s input-gate section."""

    def pct(row: dict[str, Any]) -> str:
        low, high = row["ci95"]
        return f"{100 * row['share']:.1f} % [{100 * low:.1f}, {100 * high:.1f}]"

    model, cost = report["model"], report["cost"]
    lines = [
        f"<!-- generated by bench/gate_eval.py from docs/evaluation/input-gate.json; {model['name']} "
        f"{model['version']} -->",
        "",
        f"**Not brain MRI slices** (the assembled set's measure part), refused by {model['version']} (the gate) and "
        "by the older check (distance on the classifier's features, threshold 1080.8), with bootstrap 95 % intervals; "
        "AUROC and FPR at 95 % TPR of each score against the validation side's brains:",
        "",
        "| kind | n | refused | refused before | gate AUROC / FPR95 | classifier distance | max softmax | energy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = {**report["not_brains"], "all kinds": report["not_brains_all"]}
    for name, row in rows.items():
        scores = row["scores"]

        def cell(score: str, scores: dict[str, Any] = scores) -> str:
            found = scores.get(score)
            return f"{found['auroc']:.3f} / {100 * found['fpr_at_95_tpr']:.0f} %" if found else "—"

        lines.append(
            f"| {name} | {row['refused']['n']} | {pct(row['refused'])} | {pct(row['refused_before'])} | "
            f"{cell('gate')} | {cell('classifier_distance')} | {cell('max_softmax')} | {cell('energy')} |"
        )
    lines += [
        "",
        "**Brain MRI slices** refused (false refusals), none of them read by any fit:",
        "",
        "| brains | n | refused | refused before | worst group |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in report["brains"].items():
        worst = f"{100 * row['groups']['worst']:.0f} % (of {row['groups']['n']} groups)" if "groups" in row else "—"
        lines.append(
            f"| {name} | {row['refused']['n']} | {pct(row['refused'])} | {pct(row['refused_before'])} | {worst} |"
        )
    if cost:
        lines += [
            "",
            f"Cost of the gate per image: {cost['gate_ms_p50']:.2f} ms (median of 280, {cost['gate_runtime']}, its "
            f"features and both scores) beside {cost['classifier_ms_p50']:.2f} ms for the prediction's forward "
            f"({cost['classifier_runtime']}), in one process on {report['cpu'].get('model', '?')} "
            f"({', '.join(report['cpu'].get('flags', [])) or 'no flags read'}); the service's /predict p50 with and "
            "without it: docs/BENCHMARKS.md.",
        ]
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- begin docs/evaluation/input-gate.md -->", "<!-- end docs/evaluation/input-gate.md -->"


def include_block(page: str, block: str) -> str:
    """``page`` with the text between its input-gate.md markers replaced by ``block``."""
    if BEGIN not in page or END not in page:
        raise ValueError(f"the page has no {BEGIN} … {END} block")
    head, rest = page.split(BEGIN, 1)
    return f"{head}{BEGIN}\n{block}{END}{rest.split(END, 1)[1]}"


def brain_sets(
    model: artifact.LoadedModel, data: Path, split: Path
) -> tuple[dict[str, list[bytes]], dict[str, list[str]]]:
    """The brain sets: the validation side, the held-aside groups (with their group names), each sequence kind."""
    from training.evaluation.evaluate import select_files
    from training.input_check.brain_sequences import sequence_slices
    from training.input_check.detector import unknown_kind_side

    _, val = select_files(data, split, "val")
    sets = {"validation": [path.read_bytes() for path, _ in val]}
    groups: dict[str, list[str]] = {}
    held, held_groups = unknown_kind_side(split, "val")
    if held:
        sets["other collection, held-aside groups"] = [path.read_bytes() for path, _ in held]
        groups["other collection, held-aside groups"] = held_groups
    for item in sequence_slices():
        sets.setdefault(f"sequence: {item.kind}", []).append(encode_png(item.pixels))
    return sets, groups


def other_sets(folder: Path) -> dict[str, list[bytes]]:
    """The assembled set's measure part, by kind."""
    from training.input_check.gate_data import ood_part

    paths, kinds, _ = ood_part(folder, "measure")
    sets: dict[str, list[bytes]] = {}
    for path, kind in zip(paths, kinds, strict=True):
        sets.setdefault(kind, []).append(path.read_bytes())
    return sets


def main(argv: list[str] | None = None) -> int:
    """Measure ``--model``'s input check; write ``input-gate.json`` and ``input-gate.md`` under ``--out``."""
    from mlcore.artifact import DEFAULT_MODEL
    from training.data.dataset import SHARED_TRAINING

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="default: the shipped model")
    parser.add_argument("--data", type=Path, default=SHARED_TRAINING, help="dataset root <root>/<class>/*")
    parser.add_argument("--split", type=Path, default=None, help="default: <model>.split.json beside the model")
    parser.add_argument(
        "--ood", type=Path, default=Path("runs/ood-set"), help="the assembled set (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/input-gate"), help="default: %(default)s")
    parser.add_argument(
        "--doc",
        type=Path,
        default=None,
        help="a Markdown page whose input-gate.md block to rewrite (docs/INPUT_CHECK.md)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(2)
    model = artifact.load(args.model)
    brains, groups = brain_sets(model, args.data, args.split or args.model.with_suffix(".split.json"))
    report = gate_report(model, brains, other_sets(args.ood), groups=groups)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "input-gate.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "input-gate.md").write_text(markdown(report))
    if args.doc is not None:
        args.doc.write_text(include_block(args.doc.read_text(), markdown(report)))
    log.info("refused %.1f %% of the other kinds", 100 * report["not_brains_all"]["refused"]["share"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
