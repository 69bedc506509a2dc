"""Each explanation method: a map of the input's size in [0, 1] that points where the class's evidence is.

A hand-built model whose class 0 sees only a region near the top right and class 1 only a region near
the bottom left catches flipped, transposed or mis-scaled maps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlcore.errors import ParameterError
from mlcore.explainers import REGISTRY, get_explainer
from tests.mlcore.explainers.conftest import REGIONS, SIZE, region_image

FAST = {
    "lime": {"num_samples": 200, "n_segments": 36},
    "integrated_gradients": {"n_steps": 16},
    "occlusion": {"window": 8, "stride": 4},
    "gradcam": {},
}


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_map_has_the_input_size_and_points_at_the_class_region(
    region_model: torch.jit.ScriptModule, method: str
) -> None:
    explainer = get_explainer(method)
    for target, (rows, cols) in REGIONS.items():
        heatmap = explainer.explain(region_model, region_image(), target, FAST[method])
        assert heatmap.shape == (SIZE, SIZE) and heatmap.dtype == np.float32
        assert heatmap.min() >= 0.0 and heatmap.max() == pytest.approx(1.0)
        inside = np.zeros_like(heatmap, dtype=bool)
        inside[rows, cols] = True
        # The maximum is reached inside the region (LIME's superpixels may straddle its edge).
        assert heatmap[inside].max() == heatmap.max(), (method, target)
        assert heatmap[inside].mean() > 3 * heatmap[~inside].mean(), (method, target)


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_maps_are_deterministic(region_model: torch.jit.ScriptModule, method: str) -> None:
    explainer = get_explainer(method)
    first = explainer.explain(region_model, region_image(), 0, FAST[method])
    second = explainer.explain(region_model, region_image(), 0, FAST[method])
    assert np.array_equal(first, second)


def test_parameters_are_checked() -> None:
    lime = get_explainer("lime")
    with pytest.raises(ParameterError, match="num_samples must be between"):
        lime.resolve({"num_samples": 10})
    with pytest.raises(ParameterError, match="takes no parameter"):
        get_explainer("gradcam").resolve({"num_samples": 100})
    with pytest.raises(ParameterError, match="must be a int"):
        lime.resolve({"seed": "abc"})
    with pytest.raises(ParameterError, match="unknown explanation method"):
        get_explainer("shap")
    assert lime.resolve({}) == {"num_samples": 1000, "seed": 0, "n_segments": 64, "compactness": 0.1, "stability": 0.0}
