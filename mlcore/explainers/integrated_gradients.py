"""Integrated Gradients (captum) from a black image, with the path integral evaluated in batches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from captum.attr import IntegratedGradients as CaptumIntegratedGradients
from skimage.filters import gaussian

from mlcore.explainers.base import Cost, Explainer, Forward, Parameter, Runtime, check_deadline


class IntegratedGradients(Explainer):
    """Path-integrated gradients from the background (a black image) to the input, smoothed a little.

    Pixel-level attributions are noisy; a small Gaussian (``smoothing`` pixels of the model grid)
    turns them into regions comparable with the other methods.
    """

    name: ClassVar[str] = "integrated_gradients"
    title: ClassVar[str] = "Integrated Gradients"
    summary: ClassVar[str] = "gradients integrated along the path from a black image to the input"
    runtime: ClassVar[Runtime] = "gradients"
    cost: ClassVar[Cost] = "heavy"
    parameters: ClassVar[dict[str, Parameter]] = {
        "n_steps": Parameter(int, 32, 4, 256, "points on the path from the baseline to the input"),
        "smoothing": Parameter(float, 2.0, 0.0, 16.0, "Gaussian sigma (model-grid pixels) applied to the map"),
    }
    # Path points per forward/backward. On Lite0 at 224 px each point keeps ~90 MB of activations for the backward: 8
    # at once raised the service's peak by 685 MB and took 0.93 s; one at a time, 99 MB and 0.76 s (2: 188 MB,
    # 0.64 s; 4: 357 MB, 0.56 s; in-process, AMD EPYC 2 cores, 2026-12-07). Memory is what the pod is sized by.
    internal_batch_size: ClassVar[int] = 1
    cost_probes: ClassVar[tuple[dict[str, Any], ...]] = ({"n_steps": 4}, {"n_steps": 8})

    @classmethod
    def work(cls, params: Mapping[str, Any], size: int) -> float:
        """One forward and backward per path point."""
        return float(params["n_steps"])

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
        baseline = torch.full_like(x, float(x.min()))  # the background: zero intensity after normalisation

        def logits(batch: torch.Tensor) -> torch.Tensor:
            check_deadline(deadline, "Integrated Gradients")  # between batches of path points
            return model(batch)

        method = CaptumIntegratedGradients(logits)
        with torch.enable_grad():
            attributions = method.attribute(
                x,
                baselines=baseline,
                target=target,
                n_steps=params["n_steps"],
                internal_batch_size=self.internal_batch_size,
            )
        relevance = np.maximum(attributions[0, 0].detach().numpy(), 0.0)
        if params["smoothing"] > 0:
            relevance = gaussian(relevance, sigma=params["smoothing"], preserve_range=True)
        return np.asarray(relevance, dtype=np.float32)
