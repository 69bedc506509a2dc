"""Each explanation method: a map of the input's size in [0, 1] that points where the class's evidence is.

A hand-built model whose class 0 sees only a region near the top right and class 1 only a region near
the bottom left catches flipped, transposed or mis-scaled maps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mlcore import artifact
from mlcore.explainers import EXPLAINERS, ExplainerError, get_explainer
from mlcore.explainers.lime import MIN_SAMPLES, split_half_reliability

SIZE = 48
REGIONS = {0: (slice(4, 14), slice(30, 44)), 1: (slice(32, 44), slice(4, 16))}  # (rows, cols), not symmetric


class RegionBackbone(nn.Module):
    """Channel k = the input inside region k, zero elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        masks = torch.zeros(2, SIZE, SIZE)
        for k, (rows, cols) in REGIONS.items():
            masks[k, rows, cols] = 1.0
        self.register_buffer("masks", masks[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.masks


@pytest.fixture(scope="module")
def region_model() -> torch.jit.ScriptModule:
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        head[2].weight.copy_(torch.eye(2) * 40.0)
        head[2].bias.zero_()
    return artifact.script(RegionBackbone(), head)


def _image() -> torch.Tensor:
    """Textured foreground on a zero frame: the frame is the background the methods hide to."""
    rng = np.random.default_rng(0)
    image = 1.0 + 0.2 * rng.random((1, 1, SIZE, SIZE), dtype=np.float32)
    image[..., :2, :] = image[..., -2:, :] = image[..., :, :2] = image[..., :, -2:] = 0.0
    return torch.from_numpy(image)


FAST = {
    "lime": {"num_samples": 200, "n_segments": 36},
    "integrated_gradients": {"n_steps": 16},
    "occlusion": {"window": 8, "stride": 4},
    "gradcam": {},
}


@pytest.mark.parametrize("method", sorted(EXPLAINERS))
def test_map_has_the_input_size_and_points_at_the_class_region(
    region_model: torch.jit.ScriptModule, method: str
) -> None:
    explainer = get_explainer(method)
    for target, (rows, cols) in REGIONS.items():
        heatmap = explainer.explain(region_model, _image(), target, FAST[method])
        assert heatmap.shape == (SIZE, SIZE) and heatmap.dtype == np.float32
        assert heatmap.min() >= 0.0 and heatmap.max() == pytest.approx(1.0)
        inside = np.zeros_like(heatmap, dtype=bool)
        inside[rows, cols] = True
        # The maximum is reached inside the region (LIME's superpixels may straddle its edge).
        assert heatmap[inside].max() == heatmap.max(), (method, target)
        assert heatmap[inside].mean() > 3 * heatmap[~inside].mean(), (method, target)


@pytest.mark.parametrize("method", sorted(EXPLAINERS))
def test_maps_are_deterministic(region_model: torch.jit.ScriptModule, method: str) -> None:
    explainer = get_explainer(method)
    first = explainer.explain(region_model, _image(), 0, FAST[method])
    second = explainer.explain(region_model, _image(), 0, FAST[method])
    assert np.array_equal(first, second)


def test_parameters_are_checked() -> None:
    lime = get_explainer("lime")
    with pytest.raises(ExplainerError, match="num_samples must be between"):
        lime.resolve({"num_samples": 10})
    with pytest.raises(ExplainerError, match="takes no parameter"):
        get_explainer("gradcam").resolve({"num_samples": 100})
    with pytest.raises(ExplainerError, match="must be a int"):
        lime.resolve({"seed": "abc"})
    with pytest.raises(ExplainerError, match="unknown explanation method"):
        get_explainer("shap")
    assert lime.resolve({}) == {"num_samples": 1000, "seed": 0, "n_segments": 64, "compactness": 0.1, "stability": 0.0}


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
    full_map = full.explain(region_model, _image(), 0, params)
    early_map = early.explain(region_model, _image(), 0, {**params, "stability": 0.9})
    assert full.samples_used == 1500
    assert MIN_SAMPLES <= early.samples_used < 1500
    assert np.corrcoef(full_map.ravel(), early_map.ravel())[0, 1] > 0.95
    again = get_explainer("lime")
    assert np.array_equal(again.explain(region_model, _image(), 0, {**params, "stability": 0.9}), early_map)
