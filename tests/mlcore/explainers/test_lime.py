"""LIME: split-half reliability separates signal from noise; early stopping keeps the map."""

from __future__ import annotations

import numpy as np
import torch

from mlcore.explainers import get_explainer
from mlcore.explainers.lime import MIN_SAMPLES, split_half_reliability
from tests.mlcore.explainers.conftest import region_image


def test_split_half_reliability_separates_signal_from_noise() -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 2, (400, 20))
    data[0] = 1
    signal = data @ rng.normal(size=20) + 0.05 * rng.normal(size=400)
    kernel = lambda d: np.sqrt(np.exp(-(d**2) / 0.25**2))  # noqa: E731 (lime's default kernel)
    assert split_half_reliability(data, signal, kernel) > 0.95
    assert split_half_reliability(data, rng.normal(size=400), kernel) < 0.6
    assert split_half_reliability(data, np.ones(400), kernel) == 0.0


def test_lime_stops_early_once_stable_and_the_map_stays(region_model: torch.jit.ScriptModule) -> None:
    params = {"num_samples": 1500, "n_segments": 36}
    full, early = get_explainer("lime"), get_explainer("lime")
    full_map = full.explain(region_model, region_image(), 0, params)
    early_map = early.explain(region_model, region_image(), 0, {**params, "stability": 0.9})
    assert full.samples_used == 1500
    assert MIN_SAMPLES <= early.samples_used < 1500
    assert np.corrcoef(full_map.ravel(), early_map.ravel())[0, 1] > 0.95
    again = get_explainer("lime")
    assert np.array_equal(again.explain(region_model, region_image(), 0, {**params, "stability": 0.9}), early_map)
