"""Static int8 quantization (in a child process): a QDQ model ONNX Runtime loads, close to float32."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from mlcore import artifact
from mlcore.onnx_forward import _to_onnx
from mlcore.quantize import quantize_in_child, weight_bits
from training.fit.models import build_model


@pytest.mark.parametrize("architecture", ["brainxai_cnn", "brainxai_lite0"])
def test_quantize_gives_a_qdq_int8_model_that_runs_close_to_float32(architecture: str) -> None:
    """Both shipped architectures: plain 3×3 convolutions, and Lite0's depthwise ones with ReLU6."""
    torch.manual_seed(0)
    model = build_model(architecture, 4, width=8, dropout=0.0).eval()
    scripted = artifact.script(model.backbone, model.head)
    with tempfile.TemporaryDirectory() as scratch:
        fp32 = _to_onnx(scripted, 48, Path(scratch)).read_bytes()
    calibration = np.random.default_rng(0).normal(size=(16, 1, 48, 48)).astype(np.float32)
    int8 = quantize_in_child(fp32, calibration)
    ops = {node.op_type for node in onnx.load_from_string(int8).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    session = ort.InferenceSession(int8, providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"x": calibration[:4]})
    with torch.no_grad():
        expected = torch.softmax(scripted(torch.from_numpy(calibration[:4])), 1).numpy()
    got = torch.softmax(torch.from_numpy(logits), 1).numpy()
    assert np.abs(got - expected).mean() < 0.05


class _ScaledSum(torch.nn.Module):
    """A map plus its pooled copy upsampled by a factor of 2: ONNX Runtime's shape inference cannot tell that the two
    shapes agree (the fine presence grid's upsampling did this before it took the map's size)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv(x)
        return a + torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(a, 2), scale_factor=2.0)


def test_a_model_the_tools_cannot_quantize_raises_and_leaves_no_files_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ONNX Runtime's temporary files (written into the working directory) must not be left in the service's."""
    torch.manual_seed(0)
    head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 4))
    scripted = artifact.script(_ScaledSum().eval(), head.eval())
    with tempfile.TemporaryDirectory() as scratch:
        fp32 = _to_onnx(scripted, 48, Path(scratch)).read_bytes()
    calibration = np.random.default_rng(0).normal(size=(8, 1, 48, 48)).astype(np.float32)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception, match="shape inference"):
        quantize_in_child(fp32, calibration)
    assert list(tmp_path.iterdir()) == []


def test_the_reduce_range_scheme_is_seen_in_the_graphs_weights() -> None:
    """``reduce_range``: 7-bit weights (every int8 weight within [-64, 63]) where AVX2 adds u8×s8 products in pairs,
    full 8-bit ones in the depthwise convolutions, whose kernels cannot saturate; 8-bit everywhere otherwise. The
    scheme is proven by the numbers in the graph, not by its name."""
    torch.manual_seed(0)
    model = build_model("brainxai_lite0", 4, width=32, dropout=0.0).eval()
    scripted = artifact.script(model.backbone, model.head)
    with tempfile.TemporaryDirectory() as scratch:
        fp32 = _to_onnx(scripted, 48, Path(scratch)).read_bytes()
    calibration = np.random.default_rng(0).normal(size=(16, 1, 48, 48)).astype(np.float32)
    assert weight_bits(quantize_in_child(fp32, calibration, reduce_range=True)) == {"depthwise": 8, "paired": 7}
    assert weight_bits(quantize_in_child(fp32, calibration, reduce_range=False)) == {"depthwise": 8, "paired": 8}
    with pytest.raises(ValueError, match="no int8 weights"):
        weight_bits(fp32)
