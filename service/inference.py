"""Model work, kept apart from HTTP: the request path as one straight line of pure steps.

``bytes`` → :func:`service.decoding.decode` → :func:`mlcore.preprocessing.preprocess` →
:meth:`Predictor.predict` / :meth:`Predictor.explain` → a map at the original size. Routes call
these from worker threads; nothing here knows about requests or responses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mlcore.artifact import LoadedModel
from mlcore.explainers import get_explainer
from mlcore.explainers.base import Forward, normalise_map
from mlcore.explainers.gradcam import GradCAM
from mlcore.preprocessing import PreprocessSpec, map_to_original, preprocess
from service.errors import InvalidParameter
from service.image import DecodedImage


@dataclass(frozen=True)
class Prediction:
    """Class probabilities for one image, in the model's class order, and the time spent."""

    probabilities: dict[str, float]
    label: str
    inference_ms: float


@dataclass(frozen=True)
class Explanation:
    """A relevance map at the image's original size (H×W in [0, 1]) and what produced it."""

    heatmap: np.ndarray
    method: str
    target: str
    parameters: dict[str, Any]
    prediction: Prediction
    explain_ms: float
    cached: bool = False


class Predictor:
    """The loaded artifact with its preprocessing: predictions and explanations of decoded images."""

    def __init__(
        self,
        model: LoadedModel,
        forward: Forward | None = None,
        cache_size: int = 0,
        explain_forward: Forward | None = None,
    ) -> None:
        """``forward``: a faster forward-only runtime of the same model (ONNX Runtime); default TorchScript.

        ``explain_forward``: the forward that LIME and Occlusion evaluate their perturbations with (the
        int8 one); default ``forward``. ``cache_size``: how many explanations to keep, keyed by the
        image's pixels, the method, the target and the resolved parameters (methods are deterministic,
        so a hit is the same answer).
        """
        self.model = model
        self._cache: OrderedDict[tuple[str, ...], Explanation] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self.forward: Forward = forward if forward is not None else model.module
        self.explain_forward: Forward = explain_forward if explain_forward is not None else self.forward
        self.spec = PreprocessSpec.from_manifest(model.manifest)
        self.classes = model.classes

    def runtimes(self) -> dict[str, str]:
        """Which runtime does what: predictions, the forward-only explanations, the gradient ones."""

        def describe(forward: Forward) -> str:
            precision = getattr(forward, "precision", None)
            return f"onnxruntime-{precision}" if precision else "torchscript-fp32"

        return {
            "predict": describe(self.forward),
            "lime_occlusion": describe(self.explain_forward),
            "gradcam_integrated_gradients": "torchscript-fp32",
        }

    def tensor(self, image: DecodedImage) -> torch.Tensor:
        """The model input of a decoded image (the one eval preprocessing)."""
        return preprocess(image.pixels, self.spec)

    def predict_tensor(self, x: torch.Tensor) -> Prediction:
        """Softmax probabilities of one preprocessed image."""
        started = time.perf_counter()
        with torch.inference_mode():
            logits = self.forward(x)
        return self._prediction(logits, (time.perf_counter() - started) * 1000)

    def _prediction(self, logits: torch.Tensor, elapsed_ms: float) -> Prediction:
        probs = torch.softmax(logits.detach(), dim=1)[0].tolist()
        probabilities = {name: float(p) for name, p in zip(self.classes, probs, strict=True)}
        return Prediction(probabilities, max(probabilities, key=probabilities.__getitem__), elapsed_ms)

    def predict(self, image: DecodedImage) -> Prediction:
        """Decode-to-scores for one image."""
        return self.predict_tensor(self.tensor(image))

    def target_index(self, target: str | None, prediction: Prediction) -> int:
        """The class to explain: a class name, its index as text, or None for the predicted class."""
        if target is None:
            return self.classes.index(prediction.label)
        if target in self.classes:
            return self.classes.index(target)
        if target.isdigit() and int(target) < len(self.classes):
            return int(target)
        raise InvalidParameter(f"unknown target {target!r}; choose one of {self.classes}")

    def explain(
        self, image: DecodedImage, method: str, target: str | None, params: dict[str, Any], deadline: float | None
    ) -> Explanation:
        """Predict, then explain the target class with ``method``; the map comes at the original size."""
        explainer = get_explainer(method)
        resolved = explainer.resolve(params)
        key = (
            hashlib.sha256(np.ascontiguousarray(image.pixels).tobytes()).hexdigest(),
            str(image.pixels.shape),
            method,
            str(target),
            json.dumps(resolved, sort_keys=True),
        )
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return dataclasses.replace(cached, explain_ms=0.0, cached=True)
        x = self.tensor(image)
        if isinstance(explainer, GradCAM):
            # One backbone pass serves both the prediction and the map (Grad-CAM differentiates the head only).
            started = time.perf_counter()
            features, logits = explainer.features_and_logits(self.model.module, x)
            prediction = self._prediction(logits, (time.perf_counter() - started) * 1000)
            index = self.target_index(target, prediction)
            started = time.perf_counter()
            size = (x.shape[-2], x.shape[-1])
            square = normalise_map(explainer.map_from_features(self.model.module, features, index, size))
        else:
            prediction = self.predict_tensor(x)
            index = self.target_index(target, prediction)
            started = time.perf_counter()
            model = self.model.module if explainer.needs_gradients else self.explain_forward
            square = explainer.explain(model, x, index, resolved, deadline=deadline)
        # Resampling can lower a sharp peak: rescale so that the most relevant pixel is 1 again.
        heatmap = normalise_map(map_to_original(square, image.height, image.width))
        elapsed = (time.perf_counter() - started) * 1000
        explanation = Explanation(heatmap, method, self.classes[index], resolved, prediction, elapsed)
        if self._cache_size > 0:
            with self._cache_lock:
                self._cache[key] = explanation
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return explanation

    def warm_up(self) -> None:
        """One inference on a blank image, so that the first request does not pay for lazy set-up."""
        size = self.spec.size
        blank = DecodedImage(pixels=np.zeros((size, size), np.float32), content_type="image/png")
        self.predict(blank)
