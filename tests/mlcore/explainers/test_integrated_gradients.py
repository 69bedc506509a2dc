"""Integrated Gradients: the raw attributions stay inside the class region; smoothing only spreads them."""

from __future__ import annotations

import numpy as np
import torch

from mlcore.explainers import get_explainer
from tests.mlcore.explainers.conftest import REGIONS, region_image


def test_unsmoothed_attribution_lies_only_in_the_class_region(region_model: torch.jit.ScriptModule) -> None:
    ig = get_explainer("integrated_gradients")
    for target, (rows, cols) in REGIONS.items():
        heatmap = ig.explain(region_model, region_image(), target, {"smoothing": 0.0, "n_steps": 8})
        outside = heatmap.copy()
        outside[rows, cols] = 0.0
        assert outside.max() == 0.0 and heatmap[rows, cols].min() > 0.0


def test_smoothing_spreads_the_map_beyond_the_region(region_model: torch.jit.ScriptModule) -> None:
    ig = get_explainer("integrated_gradients")
    sharp = ig.explain(region_model, region_image(), 0, {"smoothing": 0.0, "n_steps": 8})
    smooth = ig.explain(region_model, region_image(), 0, {"smoothing": 3.0, "n_steps": 8})
    assert np.count_nonzero(smooth > 0.01) > np.count_nonzero(sharp > 0.01)
