"""Grad-CAM, hook-free on the artifact: ``torch.autograd.grad`` of the class score w.r.t. ``features(x)``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from mlcore.explainers.base import Explainer, Forward


class GradCAM(Explainer):
    """Feature maps weighted by their mean gradient, rectified and upsampled to the input size.

    The gradient is taken at the feature maps, so the backbone runs once without an autograd graph
    and only the head is differentiated. A caller that also needs the prediction can run
    :meth:`features_and_logits` once and pass the feature maps to :meth:`map_from_features`.
    """

    name: ClassVar[str] = "gradcam"

    def attribute(
        self,
        model: Forward,
        x: torch.Tensor,
        target: int,
        params: dict[str, Any],
        deadline: float | None,
    ) -> np.ndarray:
        features, _ = self.features_and_logits(model, x)
        return self.map_from_features(model, features, target, (x.shape[-2], x.shape[-1]))

    @staticmethod
    def features_and_logits(model: Forward, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The backbone's feature maps of ``x`` and the head's logits, without an autograd graph."""
        assert isinstance(model, torch.jit.ScriptModule), "Grad-CAM needs the artifact's features/classify"
        with torch.no_grad():
            features = model.features(x)
            return features, model.classify(features)

    @staticmethod
    def map_from_features(model: Forward, features: torch.Tensor, target: int, size: tuple[int, int]) -> np.ndarray:
        """The raw Grad-CAM map of class ``target`` from feature maps, upsampled to ``size``."""
        assert isinstance(model, torch.jit.ScriptModule), "Grad-CAM needs the artifact's features/classify"
        leaf = features.detach().requires_grad_(True)
        with torch.enable_grad():
            score = model.classify(leaf)[0, target]
            (gradients,) = torch.autograd.grad(score, leaf)
        weights = gradients.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * features).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)
        return cam[0, 0].numpy()
