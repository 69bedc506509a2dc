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
