"""LIME: early stopping keeps the map."""

from __future__ import annotations

import numpy as np
import torch

from mlcore.explainers import get_explainer
from mlcore.lime_sampling import MIN_SAMPLES
from tests.mlcore.explainers.conftest import region_image


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
