"""Grad-CAM, hook-free on the artifact: ``torch.autograd.grad`` of the class score w.r.t. ``features(x)``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from mlcore.explainers.base import Explainer, Forward


class GradCAM(Explainer):
    """Feature maps weighted by their mean gradient, rectified and upsampled to the input size."""

    name: ClassVar[str] = "gradcam"

    def attribute(
        self,
        model: Forward,
        x: torch.Tensor,
        target: int,
        params: dict[str, Any],
        deadline: float | None,
    ) -> np.ndarray:
        assert isinstance(model, torch.jit.ScriptModule), "Grad-CAM needs the artifact's features/classify"
        with torch.enable_grad():
            features = model.features(x).detach().requires_grad_(True)
            score = model.classify(features)[0, target]
            (gradients,) = torch.autograd.grad(score, features)
        weights = gradients.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * features.detach()).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
        return cam[0, 0].numpy()
