"""Grad-CAM: given the backbone's features it skips the backbone and gives the same map; it needs the artifact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlcore.errors import ArtifactError
from mlcore.explainers import get_explainer
from tests.mlcore.explainers.conftest import region_image


def test_precomputed_features_give_the_same_map(region_model: torch.jit.ScriptModule) -> None:
    gradcam, x = get_explainer("gradcam"), region_image()
    with torch.no_grad():
        features = region_model.features(x)
    for target in (0, 1):
        np.testing.assert_array_equal(
            gradcam.explain(region_model, x, target), gradcam.explain(region_model, x, target, features=features)
        )


def test_a_forward_only_runtime_is_refused(region_model: torch.jit.ScriptModule) -> None:
    with pytest.raises(ArtifactError, match="features"):
        get_explainer("gradcam").explain(lambda batch: region_model(batch), region_image(), 0)


class _Heads(torch.nn.Module):
    """A backbone of two convolutions and a head after global average pooling: linear, or with a ReLU layer."""

    def __init__(self, linear: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = torch.nn.Sequential(
            torch.nn.Conv2d(1, 6, 3, stride=2), torch.nn.ReLU(), torch.nn.Conv2d(6, 5, 3)
        )
        self.head = (
            torch.nn.Linear(5, 3)
            if linear
            else torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.backbone(x))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))


def _autograd_cam(model: _Heads, x: torch.Tensor, target: int) -> np.ndarray:
    """Grad-CAM by the book: the class score's gradient at the maps, averaged per channel, every time."""
    maps = model.features(x).detach().requires_grad_(True)
    (gradients,) = torch.autograd.grad(model.classify(maps)[0, target], maps)
    cam = torch.relu((gradients.mean(dim=(2, 3), keepdim=True) * maps).sum(dim=1, keepdim=True)).detach()
    return torch.nn.functional.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0].numpy()


@pytest.mark.parametrize("linear", [True, False])
def test_a_linear_head_is_found_once_and_gives_the_maps_of_its_gradient(linear: bool) -> None:
    from mlcore.explainers.gradcam import linear_head_gradients

    model, gradcam = _Heads(linear).eval(), get_explainer("gradcam")
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        shape = tuple(model.features(x).shape)
    found = linear_head_gradients(model, shape)
    assert (found is not None) == linear  # a ReLU between the pooling and the scores: gradients depend on the maps
    if found is not None:  # the weights over the maps' area
        np.testing.assert_allclose(found.numpy(), model.head.weight.detach().numpy() / (shape[2] * shape[3]), rtol=1e-5)
    for target in range(3):
        got, expected = gradcam.explain(model, x, target), _autograd_cam(model, x, target)
        np.testing.assert_allclose(got * expected.max(), expected * got.max(), atol=1e-6)  # equal up to the scale
