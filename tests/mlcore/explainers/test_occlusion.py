"""Occlusion: patches over the class region lower its probability; a stride above the window is clamped."""

from __future__ import annotations

import numpy as np
import torch

from mlcore.explainers import get_explainer
from tests.mlcore.explainers.conftest import REGIONS, region_image


def test_the_drop_is_largest_over_the_class_region(region_model: torch.jit.ScriptModule) -> None:
    occlusion = get_explainer("occlusion")
    for target, (rows, cols) in REGIONS.items():
        heatmap = occlusion.explain(region_model, region_image(), target, {"window": 8, "stride": 4})
        inside = heatmap[rows, cols].mean()
        outside = heatmap.copy()
        outside[rows, cols] = np.nan
        assert inside > 3 * np.nanmean(outside)


def test_a_stride_larger_than_the_window_is_clamped_to_it(region_model: torch.jit.ScriptModule) -> None:
    occlusion = get_explainer("occlusion")
    clamped = occlusion.explain(region_model, region_image(), 0, {"window": 8, "stride": 40})
    same = occlusion.explain(region_model, region_image(), 0, {"window": 8, "stride": 8})
    np.testing.assert_array_equal(clamped, same)
