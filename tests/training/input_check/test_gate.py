"""Fitting the input gate (training/input_check/gate.py): thresholds from brains only, per collection, stored with the
classifier's weights untouched."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mlcore import artifact
from mlcore.preprocessing import PreprocessSpec, preprocess
from training.data.dataset import read_gray
from training.input_check.detector import conformal_threshold
from training.input_check.gate import collection_thresholds, lower_conformal


def test_the_lower_conformal_bound_is_the_floor_rank_and_minus_infinity_when_too_few() -> None:
    scores = np.arange(1.0, 200.0)  # 1 … 199: n = 199
    assert lower_conformal(scores, 0.05) == 10.0  # floor(200 × 0.05) = 10th smallest
    assert lower_conformal(scores[:10], 0.05) == -math.inf  # floor(11 × 0.05) = 0: no bound can promise 5 %
    assert conformal_threshold(scores, 0.05) == 190.0  # ceil(200 × 0.95) = 190th smallest


def test_each_collection_gets_its_bounds_and_the_gate_keeps_the_most_permissive() -> None:
    rng = np.random.default_rng(0)
    margins = np.r_[rng.normal(5, 1, 400), rng.normal(3, 1, 400), rng.normal(-5, 1, 50)]
    distances = np.r_[rng.normal(10, 1, 400), rng.normal(14, 1, 400), rng.normal(0, 1, 50)]
    origins = np.array(["dataset"] * 400 + ["br35h"] * 400 + ["dataset-view"] * 50, dtype=object)
    limits = collection_thresholds(margins, distances, origins, 0.02)
    parts = limits.by_collection
    assert set(parts) == {"dataset", "br35h"} and parts["dataset"]["n"] == 400  # views never set a threshold
    assert limits.margin == parts["br35h"]["margin"] < parts["dataset"]["margin"]
    assert limits.distance == parts["br35h"]["distance"] > parts["dataset"]["distance"]
    for collection, mean_margin in (("dataset", 5), ("br35h", 3)):
        chosen = origins == collection
        refused = (margins[chosen] < limits.margin) | (distances[chosen] > limits.distance)
        assert refused.mean() <= 0.02 + 0.01, (collection, mean_margin)


def test_the_fitted_gate_is_stored_beside_unchanged_weights_and_refuses_what_is_not_a_brain(
    gated_model_path: Path, ood_model_path: Path, held_aside_phantoms: list[Path], ood_set_root: Path
) -> None:
    gated, before = artifact.load(gated_model_path), artifact.load(ood_model_path)
    assert artifact.weights_sha256(gated.module) == artifact.weights_sha256(before.module)
    assert gated.feature_detector is not None and gated.feature_detector.threshold == before.feature_detector.threshold  # type: ignore[union-attr]
    section = gated.manifest["input_gate"]
    assert section["strength"]["C"] in (0.003, 0.01, 0.03, 0.1) and "dataset" in section["thresholds_by_collection"]
    assert section["fitted_on"]["brains"]["dataset"] > 0 and section["fitted_on"]["not_brains"]["photographs"] > 0
    assert gated.gate is not None
    spec = PreprocessSpec.from_manifest(gated.manifest)
    # Not brains of the measure part (no fit saw them) against phantoms of another seed (no fit saw them either).
    measured = sorted((ood_set_root / "measure").glob("*/*.png"))[::5]
    others = gated.gate.score(torch.cat([preprocess(read_gray(path), spec) for path in measured])).score
    brains = gated.gate.score(torch.cat([preprocess(read_gray(path), spec) for path in held_aside_phantoms])).score
    assert np.mean(others > 0) >= 0.8, np.sort(others)
    assert np.mean(brains > 0) <= 0.25, np.sort(brains)


@pytest.mark.parametrize("false_refusal", ["0", "0.5"])
def test_fit_gate_refuses_a_false_refusal_target_out_of_range(false_refusal: str) -> None:
    from training.__main__ import main

    assert main(["fit-gate", "--false-refusal", false_refusal, "--ood", "nowhere"]) == 2
