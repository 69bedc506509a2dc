"""The predictor: Grad-CAM's one shared backbone pass, and which forward each kind of work runs on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mlcore import artifact
from mlcore.explainers import get_explainer
from mlcore.explainers.base import normalise_map
from mlcore.onnx_forward import onnx_forward
from mlcore.preprocessing import map_to_original
from service.image import DecodedImage
from service.inference import Predictor


class _Counting:
    """A forward that counts the images it evaluates."""

    def __init__(self, forward: torch.jit.ScriptModule) -> None:
        self.forward = forward
        self.images = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.images += len(x)
        return self.forward(x)


def _image(seed: int = 0) -> DecodedImage:
    pixels = np.random.default_rng(seed).random((60, 40), dtype=np.float32)
    return DecodedImage(pixels=pixels, content_type="image/png")


def test_gradcam_from_the_shared_pass_equals_the_explainer_and_the_prediction(tiny_model_path: Path) -> None:
    model = artifact.load(tiny_model_path)
    predictor = Predictor(model, onnx_forward(model.module, 48))
    image = _image()
    predicted = predictor.predict(image)
    x = predictor.tensor(image)
    for target in (None, "notumor"):
        explanation = predictor.explain(image, "gradcam", target, {}, None)
        assert explanation.prediction.label == predicted.label
        for name, p in predicted.probabilities.items():
            assert abs(explanation.prediction.probabilities[name] - p) <= 1e-4
        index = model.classes.index(target or predicted.label)
        square = get_explainer("gradcam").explain(model.module, x, index)
        expected = normalise_map(map_to_original(square, 60, 40))
        np.testing.assert_allclose(explanation.heatmap, expected, atol=1e-5)
        assert explanation.target == model.classes[index]


def test_forward_only_explanations_run_on_the_explain_forward_and_predictions_do_not(tiny_model_path: Path) -> None:
    model = artifact.load(tiny_model_path)
    predict_forward, explain_forward = _Counting(model.module), _Counting(model.module)
    predictor = Predictor(model, predict_forward, explain_forward=explain_forward)
    predictor.predict(_image())
    assert (predict_forward.images, explain_forward.images) == (1, 0)
    predictor.explain(_image(), "lime", None, {"num_samples": 64, "n_segments": 8}, None)
    assert explain_forward.images == 64 and predict_forward.images == 2
    predictor.explain(_image(), "gradcam", None, {}, None)
    assert explain_forward.images == 64 and predict_forward.images == 2  # Grad-CAM predicts on TorchScript
    assert predictor.runtimes()["gradcam_integrated_gradients"] == "torchscript-fp32"
