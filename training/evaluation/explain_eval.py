"""``explain-eval``: score every explanation method against tumour boxes, with two baselines.

For each validation image that has a box: the map of the true class by each method, and two
baselines (uniform noise; a centred Gaussian, "tumours are near the middle"). Localisation (pointing
game with a small tolerance, energy in the box) is judged on the map at the original image size;
faithfulness (deletion/insertion AUC) and the randomisation check (rank correlation with the map of
the same model with re-initialised weights) on the model's grid. Writes a Markdown report, a JSON
file and a figure grid.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlcore import artifact
from mlcore.cpu import cpu_info
from mlcore.errors import DatasetError, ParameterError
from mlcore.evidence import DEPENDS_DROP, evidence_check
from mlcore.explainers import get_explainer
from mlcore.explainers.base import Forward
from mlcore.fills import grown, inpaint_fill
from mlcore.input_check.detector import FeatureDetector, probabilities
from mlcore.preprocessing import PreprocessSpec, fit_to_square, map_to_original, normalise
from mlcore.runtimes import Precision, Runtimes, build_runtimes
from training.data.boxes import box_on_grid, read_boxes
from training.data.dataset import read_gray
from training.evaluation.explanation_metrics import (
    blurred,
    box_from_fractions,
    centre_prior,
    deletion_insertion,
    energy_in_box,
    pointing_game,
    random_map,
    rank_correlation,
)
from training.metrics import bootstrap_interval

log = logging.getLogger(__name__)

BASELINES = ("centre_prior", "random")


@dataclass(frozen=True)
class Case:
    """One image with a tumour box: file, path as in the boxes CSV, true class, box fractions."""

    path: Path
    relative: str
    label: str
    box: tuple[float, float, float, float]


def load_cases(
    data_root: Path, boxes_csv: Path, split_file: Path | None, *, per_class: int | None, seed: int
) -> list[Case]:
    """The images to score: those with a box, on the validation side of ``split_file`` if given.

    Paths in the CSV are relative to the dataset root's parent (``Training/<class>/<file>``). With a
    split, an image of its training side is never used. ``per_class`` keeps a seeded sample per class.
    """
    allowed: set[str] | None = None
    if split_file is not None:
        allowed = set(json.loads(split_file.read_text())["val"])
    cases: dict[str, list[Case]] = defaultdict(list)
    for relative, box in read_boxes(boxes_csv).items():
        if allowed is not None and relative not in allowed:
            continue
        path = data_root.parent / relative
        if not path.is_file():
            raise DatasetError(f"{boxes_csv} names {relative}, which is not under {data_root.parent}")
        label = Path(relative).parent.name  # Training/<class>/<file>
        cases[label].append(Case(path, relative, label, box))
    rng = np.random.default_rng(seed)
    chosen: list[Case] = []
    for label in sorted(cases):
        group = cases[label]
        if per_class is not None and len(group) > per_class:
            group = [group[i] for i in sorted(rng.choice(len(group), per_class, replace=False))]
        chosen.extend(group)
    if not chosen:
        raise DatasetError(f"no image with a box to evaluate (boxes {boxes_csv}, split {split_file})")
    return chosen


def randomised(model_path: Path, seed: int) -> torch.jit.ScriptModule:
    """A second copy of the artifact with every convolution and linear weight re-initialised."""
    module = artifact.load(model_path).module
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if name.endswith("weight") and parameter.ndim > 1:
                fan_in = parameter[0].numel()
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
    return module


def _probability_fn(module: Forward, spec: PreprocessSpec, target: int) -> Callable[[np.ndarray], np.ndarray]:
    def probability(images: np.ndarray) -> np.ndarray:
        batch = normalise(torch.from_numpy(images.astype(np.float32))[:, None], spec)
        with torch.inference_mode():
            return torch.softmax(module(batch), dim=1)[:, target].numpy()

    return probability


@dataclass(frozen=True)
class EvalModels:
    """The model and its weight-randomised copy, each with its runtimes (as the service builds them)."""

    runtimes: Runtimes
    random_runtimes: Runtimes
    spec: PreprocessSpec
    classes: list[str]
    feature_detector: FeatureDetector | None = None


def load_eval_models(model_path: Path, *, seed: int, precision: Precision) -> EvalModels:
    """The artifact's runtimes (forward-only methods on ONNX Runtime, at ``precision``) and its randomised copy's."""
    model = artifact.load(model_path)
    random_model = dataclasses.replace(model, module=randomised(model_path, seed), calibration=None)
    return EvalModels(
        runtimes=build_runtimes(model, "onnx", precision),
        random_runtimes=build_runtimes(random_model, "onnx", "fp32"),
        spec=PreprocessSpec.from_manifest(model.manifest),
        classes=model.classes,
        feature_detector=model.feature_detector,
    )


def method_maps(
    models: EvalModels, x: torch.Tensor, target: int, *, params: dict[str, dict[str, Any]], methods: list[str]
) -> dict[str, tuple[np.ndarray, float, float | None, int | None]]:
    """Each method's square map of ``target``, its seconds, its randomisation rank correlation and its samples."""
    maps: dict[str, tuple[np.ndarray, float, float | None, int | None]] = {}
    for name in methods:
        explainer = get_explainer(name)
        started = time.perf_counter()
        square = explainer.explain(models.runtimes.for_method(explainer), x, target, params.get(name, {}))
        seconds = time.perf_counter() - started
        samples = getattr(explainer, "samples_used", None)  # evaluations of the model (LIME)
        sanity = explainer.explain(models.random_runtimes.for_method(explainer), x, target, params.get(name, {}))
        maps[name] = (square, seconds, rank_correlation(square, sanity), samples)
    return maps


def evidence_probabilities(models: EvalModels) -> Callable[[torch.Tensor], torch.Tensor]:
    """The evidence check's probabilities of [0, 1] images, as the service computes them: the predict runtime (float32,
    the answer's own) and the artifact's temperature."""

    def calibrated(batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return probabilities(models.runtimes.predict(normalise(batch, models.spec)), models.feature_detector)

    return calibrated


def box_removal_probabilities(
    models: EvalModels, fitted: np.ndarray, box: tuple[float, float, float, float]
) -> np.ndarray:
    """The calibrated probabilities (2 × classes) of the image and of the image with the true tumour box (on the
    model's grid, grown by the fills' margin) removed as the evidence check removes a region."""
    x0, y0, x1, y1 = (round(value) for value in box)
    removed = inpaint_fill(fitted, grown((x0, y0, x1, y1), fitted.shape), np.random.default_rng(0))
    batch = torch.from_numpy(np.stack([fitted, removed]).astype(np.float32))[:, None]
    return evidence_probabilities(models)(batch).float().numpy()


def removal_depends(
    models: EvalModels, fitted: np.ndarray, box: tuple[float, float, float, float], target: int
) -> bool:
    """The evidence check's rule applied to the true tumour box instead of the map's region: does removing the
    tumour move the answer about ``target``?"""
    probs = box_removal_probabilities(models, fitted, box)
    return int(probs[1].argmax()) != target or float(probs[0, target] - probs[1, target]) > DEPENDS_DROP


def evidence_measures(
    models: EvalModels, fitted: np.ndarray, square: np.ndarray, target: int, *, box_depends: bool
) -> dict[str, Any]:
    """The evidence check of one map (as the service runs it), whether it agrees with removing the true box, and
    whether its control said "depends" (a false "depends": that area holds no tumour)."""
    peak = float(square.max(initial=0.0))
    relevance = square / peak if peak > 0 else square
    check = evidence_check(evidence_probabilities(models), fitted, relevance, answered=target, classes=models.classes)
    if check is None:
        return {"box_removal_depends": box_depends}
    return {
        "evidence_depends": check.depends_on_region,
        "evidence_agrees_with_box": check.depends_on_region == box_depends,
        "evidence_control_depends": check.control_depends,
        "box_removal_depends": box_depends,
    }


def evaluate_explanations(
    model_path: Path,
    cases: list[Case],
    methods: list[str],
    params: dict[str, dict[str, Any]],
    *,
    tolerance_fraction: float = 0.05,
    seed: int = 0,
    show_progress: bool = True,
    precision: Precision = "int8",
) -> list[dict[str, Any]]:
    """One row per (image, method or baseline) with every measure; see the module docstring.

    ``precision``: forward-only methods evaluate their perturbations with the int8 forward (as the service
    does by default) or in float32. The deletion/insertion curves use the float32 forward.
    """
    from tqdm import tqdm

    models = load_eval_models(model_path, seed=seed, precision=precision)
    size = (models.spec.size, models.spec.size)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for case in tqdm(cases, desc="explain-eval", unit="img", disable=not show_progress):
        gray = read_gray(case.path)
        fitted = fit_to_square(gray, models.spec.size)[0].numpy()
        x = normalise(torch.from_numpy(fitted)[None, None], models.spec)
        target = models.classes.index(case.label)
        with torch.inference_mode():
            predicted = models.classes[int(torch.argmax(models.runtimes.predict(x)))]
        maps = method_maps(models, x, target, params=params, methods=methods)
        maps["centre_prior"] = (centre_prior(size), 0.0, None, None)
        maps["random"] = (random_map(size, rng), 0.0, None, None)
        probability = _probability_fn(models.runtimes.predict, models.spec, target)
        box_depends = removal_depends(models, fitted, box_on_grid(case.box, gray.shape, models.spec.size), target)
        smooth = blurred(fitted)
        box = box_from_fractions(case.box, gray.shape)
        tolerance = round(tolerance_fraction * max(gray.shape))
        for name, (square, seconds, sanity_correlation, samples) in maps.items():
            original = map_to_original(square, *gray.shape)
            deletion, insertion = deletion_insertion(probability, fitted, square, background=0.0)
            deletion_blur, insertion_blur = deletion_insertion(probability, fitted, square, background=smooth)
            rows.append(
                {
                    "path": case.relative,
                    "label": case.label,
                    "predicted": predicted,
                    "method": name,
                    "pointing_game": pointing_game(original, box, tolerance),
                    "energy_in_box": energy_in_box(original, box),
                    "deletion_auc": deletion,
                    "insertion_auc": insertion,
                    "deletion_auc_blur": deletion_blur,
                    "insertion_auc_blur": insertion_blur,
                    "randomisation_rank_correlation": sanity_correlation,
                    **evidence_measures(models, fitted, square, target, box_depends=box_depends),
                    "seconds": seconds,
                    "samples": samples,
                }
            )
    return rows


def rows_by_method_and_class(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Rows grouped by their ``method``, then by their ``label`` and under "all"."""
    groups: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[row["method"]]["all"].append(row)
        groups[row["method"]][row["label"]].append(row)
    return groups


# The measures a reader compares with goals: each gets its bootstrap interval in the summary.
QUALITY_MEASURES = (
    "pointing_game",
    "energy_in_box",
    "evidence_depends",
    "evidence_agrees_with_box",
    "box_removal_depends",
)


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Means per method over all images (key "all") and per class, each group with its ``n`` and, for the quality
    measures, bootstrap 95 % intervals (``ci95``, images resampled)."""
    measures = (
        "pointing_game",
        "energy_in_box",
        "deletion_auc",
        "insertion_auc",
        "deletion_auc_blur",
        "insertion_auc_blur",
        "randomisation_rank_correlation",
        "evidence_depends",
        "evidence_agrees_with_box",
        "evidence_control_depends",
        "box_removal_depends",
        "seconds",
        "samples",
    )
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for method, by_group in rows_by_method_and_class(rows).items():
        summary[method] = {}
        for group, members in by_group.items():
            entry: dict[str, Any] = {"n": float(len(members)), "ci95": {}}
            for measure in measures:
                values = [float(m[measure]) for m in members if m.get(measure) is not None]
                if values:
                    entry[measure] = float(np.mean(values))
                    if measure in QUALITY_MEASURES:
                        entry["ci95"][measure] = bootstrap_interval(np.array(values))
            summary[method][group] = entry
    return summary


def summary_report(summary: dict[str, Any], model_path: Path, command: str) -> dict[str, Any]:
    """The summary as the committed report documents read (``summary.json``): which artifact it measured, on which
    CPU, by which command and when, beside the summary itself (the rows stay in ``explanations.json``)."""
    return {
        "command": command,
        "model": artifact.load(model_path).identity,
        "cpu": cpu_info(),
        "date": datetime.date.today().isoformat(),
        "summary": summary,
    }


def method_parameters(methods: list[str], given: list[str], *, seed: int) -> dict[str, dict[str, Any]]:
    """Per-method parameters from ``METHOD.NAME=VALUE`` strings, checked against the declarations; a method
    that takes a ``seed`` gets ``seed`` unless one is given. :class:`ParameterError` for anything else."""
    params: dict[str, dict[str, Any]] = {}
    for name in methods:
        explainer = get_explainer(name)
        params[name] = {"seed": seed} if "seed" in explainer.parameters else {}
    for item in given:
        key, _, value = item.partition("=")
        method, _, name = key.partition(".")
        if not (value and name) or method not in params:
            raise ParameterError(f"--param {item!r}: expected METHOD.NAME=VALUE with METHOD one of {methods}")
        params[method][name] = value
    for method, values in params.items():
        params[method] = get_explainer(method).resolve(values)
    return params
