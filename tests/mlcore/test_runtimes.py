"""The one runtime choice: each method gets the runtime its declaration allows; conversions fall back."""

from __future__ import annotations

from pathlib import Path

import torch

from mlcore import artifact
from mlcore.explainers import explainer_class, method_names
from mlcore.input_check.detector import pooled_features
from mlcore.runtimes import build_runtimes, runtime_name


def test_gradient_methods_get_the_artifact_and_forward_only_ones_the_perturbation_runtime(
    tiny_model_path: Path,
) -> None:
    model = artifact.load(tiny_model_path)
    runtimes = build_runtimes(model, "onnx", "int8")
    assert runtime_name(runtimes.predict) == "onnxruntime-fp32"
    # The tiny artifact has no calibration images: forward-only methods stay on ONNX float32.
    assert runtimes.perturb is runtimes.predict
    for name in method_names():
        cls = explainer_class(name)
        expected = runtimes.perturb if cls.runtime == "forward" else runtimes.module
        assert runtimes.for_method(cls) is expected, name
    described = runtimes.describe()
    assert described["integrated_gradients"] == "torchscript-fp32"
    assert described["gradcam"] == "onnxruntime-fp32 maps, torchscript-fp32 head"  # no second backbone pass
    assert described["lime"] == described["occlusion"] == "onnxruntime-fp32"


def test_torchscript_everywhere_when_asked(tiny_model_path: Path) -> None:
    model = artifact.load(tiny_model_path)
    runtimes = build_runtimes(model, "torchscript", "int8")
    assert runtimes.predict is runtimes.perturb is runtimes.module is model.module
    assert set(runtimes.describe().values()) == {"torchscript-fp32"}


def test_evidence_gives_logits_and_penultimate_features_on_either_engine(tiny_model_path: Path) -> None:
    model = artifact.load(tiny_model_path)
    x = torch.randn(3, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        maps = model.module.features(x)
        expected = (model.module.classify(maps), pooled_features(maps))
        for engine in ("onnx", "torchscript"):
            logits, features, _ = build_runtimes(model, engine, "fp32").forward_outputs(x)  # type: ignore[arg-type]
            assert torch.allclose(logits, expected[0], atol=1e-4), engine
            assert torch.allclose(features, expected[1], atol=1e-4), engine
