"""Grad-CAM, hook-free on the artifact: ``torch.autograd.grad`` of the class score w.r.t. ``features(x)``.

Only the head is differentiated, at the feature maps, so the maps can come from any runtime that gives them (the
service's ONNX Runtime prediction does: one forward serves the answer, the input check and this map). For the
shipped head — global average pooling, then a linear layer — the gradient is the linear weights over the maps' area,
the same at every position and for every input: :func:`linear_head_gradients` finds that out once per model and
feature shape (on three random probes) and keeps the gradients, so a map is one weighted sum of the maps with no
backward pass; a head where it does not hold is differentiated for every map. Either way the map equals captum's
``LayerGradCam`` at the backbone's output (tests).
"""

from __future__ import annotations

import weakref
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from mlcore.errors import ArtifactError
from mlcore.explainers.base import Backbone, Cost, Explainer, Forward, Runtime

# Per model, per feature shape: the head's class-score gradients at the maps (classes × channels), or None when they
# depend on the maps (a head that is not linear after the pooling).
_HEADS: weakref.WeakKeyDictionary[Any, dict[tuple[int, ...], torch.Tensor | None]] = weakref.WeakKeyDictionary()
TOLERANCE = 1e-6  # relative: how far two probes' gradients may differ and still be the same linear head's


def _gradients(model: Backbone, maps: torch.Tensor, target: int) -> torch.Tensor:
    """The gradient of class ``target``'s score w.r.t. ``maps`` (the head differentiated once)."""
    leaf = maps.detach().clone().requires_grad_(True)  # a copy: the maps may come from inference mode
    with torch.enable_grad():
        score = model.classify(leaf)[0, target]
        (gradients,) = torch.autograd.grad(score, leaf)
    return gradients


def linear_head_gradients(model: Backbone, shape: tuple[int, ...]) -> torch.Tensor | None:
    """The head's gradients (classes × channels, at one position) when they are the same at every position of three
    random probes of feature ``shape`` (1 × K × h × w), unlike in scale, sparsity and sign — a linear head after
    global pooling — else None. Kept per model and shape."""
    try:
        known = _HEADS.setdefault(model, {})
    except TypeError:  # a model that cannot be weakly referenced: not kept, found out each time
        known = {}
    if shape in known:
        return known[shape]
    generator = torch.Generator().manual_seed(0)
    # Unlike in scale and sparsity, so that a head linear only piecewise (a ReLU after the pooling) shows it.
    dense = torch.randn(shape, generator=generator).abs()
    sparse = torch.randn(shape, generator=generator).clamp(min=1.5) * 50.0
    probes = [dense, sparse, -dense]
    with torch.no_grad():
        classes = int(model.classify(probes[0]).shape[1])
    found: torch.Tensor | None = torch.stack([_gradients(model, probes[0], c)[0, :, 0, 0] for c in range(classes)])
    for probe in probes:
        for c in range(classes):
            gradients = _gradients(model, probe, c)[0]
            expected = found[c][:, None, None].expand_as(gradients)  # type: ignore[index]
            scale = float(expected.abs().max()) or 1.0
            if float((gradients - expected).abs().max()) > TOLERANCE * scale:
                found = None
                break
        if found is None:
            break
    known[shape] = found
    return found


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
        maps = features.detach()
        linear = linear_head_gradients(model, tuple(maps.shape))
        if linear is not None:
            # The same gradient everywhere: the map is a weighted sum, no backward pass. In NumPy: right after the
            # prediction's ONNX Runtime run, a torch operation waited ms for its threads (docs/BENCHMARKS.md, Grad-CAM).
            summed = np.einsum("k,khw->hw", linear[target].numpy(), maps[0].numpy())
            cam = torch.from_numpy(np.maximum(summed, 0.0).astype(np.float32))[None, None]
        else:
            weights = _gradients(model, maps, target).mean(dim=(2, 3), keepdim=True)
            with torch.no_grad():
                cam = F.relu((weights * maps).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=(x.shape[-2], x.shape[-1]), mode="bilinear", align_corners=False)
        return cam[0, 0].numpy()
