"""Occlusion (captum): how much the target's score drops when a square patch is blacked out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from captum.attr import Occlusion as CaptumOcclusion

from mlcore.explainers.base import Cost, Explainer, Forward, Parameter, Runtime, check_deadline, softmax


class Occlusion(Explainer):
    """A sliding black patch; relevance is the drop of the target's probability it causes."""

    name: ClassVar[str] = "occlusion"
    title: ClassVar[str] = "Occlusion"
    summary: ClassVar[str] = "how much the class probability drops when a sliding patch is blacked out"
    runtime: ClassVar[Runtime] = "forward"
    cost: ClassVar[Cost] = "heavy"
    parameters: ClassVar[dict[str, Parameter]] = {
        "window": Parameter(int, 24, 4, 96, "side of the occluding patch (model-grid pixels)"),
        "stride": Parameter(int, 8, 2, 48, "step between patches (model-grid pixels)"),
    }
    # As fast as 32 (measured: 0.93-1.1 s both) and the int8 runtime's arena stays ~120 MB smaller; LIME's batch too.
    perturbations_per_eval: ClassVar[int] = 8
    cost_probes: ClassVar[tuple[dict[str, Any], ...]] = ({"window": 48, "stride": 48}, {"window": 48, "stride": 24})

    @classmethod
    def work(cls, params: Mapping[str, Any], size: int) -> float:
        """One model evaluation per patch position (captum's count: the window's positions along each side)."""
        window, stride = params["window"], min(params["stride"], params["window"])
        return float(((size - window) // stride + 1) ** 2)

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
        def probabilities(batch: torch.Tensor) -> torch.Tensor:
            check_deadline(deadline, "Occlusion")
            return torch.from_numpy(softmax(model(batch).numpy()))

        window, stride = params["window"], min(params["stride"], params["window"])
        method = CaptumOcclusion(probabilities)
        with torch.inference_mode():
            attributions = method.attribute(
                x,
                sliding_window_shapes=(1, window, window),
                strides=(1, stride, stride),
                baselines=float(x.min()),
                target=target,
                perturbations_per_eval=self.perturbations_per_eval,
            )
        return attributions[0, 0].numpy().astype(np.float32)
