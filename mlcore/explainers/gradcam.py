"""Grad-CAM, hook-free on the artifact: ``torch.autograd.grad`` of the class score w.r.t. ``features(x)``.

Only the head is differentiated, at the feature maps, so the maps can come from any runtime that gives them (the
service's ONNX Runtime prediction does: one forward serves the answer, the input check and this map). For the
shipped head — global average pooling, then a linear layer — the gradient is the linear weights over the maps' area,
and the map equals captum's ``LayerGradCam`` at the backbone's output (a test).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from mlcore.errors import ArtifactError
from mlcore.explainers.base import Backbone, Cost, Explainer, Forward, Runtime


class GradCAM(Explainer):
    """Feature maps weighted by their mean gradient, rectified and upsampled to the input size.

    The gradient is taken at the feature maps, so the backbone runs once without an autograd graph
    and only the head is differentiated; a caller that already has the feature maps (from the prediction's
    forward) passes them as ``features`` and the backbone does not run again.
    """

    name: ClassVar[str] = "gradcam"
    title: ClassVar[str] = "Grad-CAM"
    summary: ClassVar[str] = "the last feature maps weighted by the gradient of the class score"
    runtime: ClassVar[Runtime] = "feature_maps"
    cost: ClassVar[Cost] = "light"

    def attribute(
        self,
        model: Forward,
        x: torch.Tensor,
        target: int,
        params: dict[str, Any],
        *,
        deadline: float | None,
        features: torch.Tensor | None,
    ) -> np.ndarray:
        if not isinstance(model, Backbone):
            raise ArtifactError("Grad-CAM needs the artifact's features() and classify(), not a forward-only runtime")
        if features is None:
            with torch.no_grad():
                features = model.features(x)
        leaf = features.detach().clone().requires_grad_(True)  # a copy: the maps may come from inference mode
        with torch.enable_grad():
            score = model.classify(leaf)[0, target]
            (gradients,) = torch.autograd.grad(score, leaf)
        weights = gradients.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * leaf.detach()).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=(x.shape[-2], x.shape[-1]), mode="bilinear", align_corners=False)
        return cam[0, 0].numpy()
