"""ONNX Runtime as the forward-only runtime: the same logits as TorchScript within 1e-4, or not used at all."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mlcore import artifact
from mlcore.explainers import get_explainer
from mlcore.onnx_forward import TOLERANCE, onnx_forward
from training.models import build_model


def _scripted(size: int = 48) -> torch.jit.ScriptModule:
    torch.manual_seed(1)
    model = build_model("brainxai_cnn", 4, width=8, dropout=0.0).eval()
    return artifact.script(model.backbone, model.head)


def test_onnx_forward_equals_torchscript_on_new_inputs() -> None:
    module = _scripted()
    forward = onnx_forward(module, 48)
    assert forward is not None
    x = torch.randn(7, 1, 48, 48, generator=torch.Generator().manual_seed(9))
    with torch.inference_mode():
        assert float((forward(x) - module(x)).abs().max()) <= TOLERANCE
    assert forward(x[:1]).shape == (1, 4)


def test_forward_only_explanations_agree_across_runtimes() -> None:
    module = _scripted()
    forward = onnx_forward(module, 48)
    assert forward is not None
    x = torch.rand(1, 1, 48, 48, generator=torch.Generator().manual_seed(2))
    for method, params in (("lime", {"num_samples": 200, "n_segments": 16}), ("occlusion", {"window": 8, "stride": 4})):
        explainer = get_explainer(method)
        assert not explainer.needs_gradients
        on_onnx = explainer.explain(forward, x, 1, params)
        on_torchscript = explainer.explain(module, x, 1, params)
        assert np.abs(on_onnx - on_torchscript).max() < 1e-2, method
    assert get_explainer("gradcam").needs_gradients and get_explainer("integrated_gradients").needs_gradients


class _Untraceable(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("cannot be exported")


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_a_model_that_cannot_be_converted_stays_on_torchscript() -> None:
    assert onnx_forward(torch.jit.script(_Untraceable()), 48) is None
