"""A faster forward for the work that needs no gradients: the TorchScript artifact run by ONNX Runtime.

Prediction, LIME and Occlusion only evaluate the model; ONNX Runtime runs this CNN about twice as
fast as TorchScript on a CPU (docs/BENCHMARKS.md). The artifact stays the one TorchScript file:
:func:`onnx_forward` converts it in memory when the service starts, and checks on a probe batch that
ONNX Runtime's logits equal TorchScript's within ``tolerance``; if the conversion fails or
disagrees it returns ``None`` and TorchScript is used. Grad-CAM and Integrated Gradients always run
on TorchScript (they need gradients).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

TOLERANCE = 1e-4


class OnnxForward:
    """``forward(x) -> logits`` for a float32 (N, 1, S, S) tensor, through an ONNX Runtime session."""

    def __init__(self, session: object, input_name: str) -> None:
        self._session = session
        self._input_name = input_name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        batch = np.ascontiguousarray(x.detach().numpy(), dtype=np.float32)
        (logits,) = self._session.run(None, {self._input_name: batch})  # type: ignore[attr-defined]
        return torch.from_numpy(logits)


def onnx_forward(
    module: torch.jit.ScriptModule, size: int, threads: int = 0, tolerance: float = TOLERANCE
) -> OnnxForward | None:
    """The artifact converted to ONNX Runtime, or None (logged) when that is unavailable or not exact enough."""
    try:
        import onnxruntime as ort
    except ImportError:
        log.info("onnxruntime is not installed: the forward pass stays on TorchScript")
        return None
    probe = torch.randn(4, 1, size, size, generator=torch.Generator().manual_seed(0))
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as scratch:
            warnings.simplefilter("ignore")
            path = Path(scratch) / "model.onnx"
            torch.onnx.export(
                module,
                (probe[:1],),
                path,
                input_names=["x"],
                output_names=["logits"],
                dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
            onnx_bytes = path.read_bytes()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # the exporter and the runtime raise many types; any of them means "not this way"
        log.warning("ONNX conversion failed (%s: %s): the forward pass stays on TorchScript", type(exc).__name__, exc)
        return None
    forward = OnnxForward(session, "x")
    with torch.inference_mode():
        gap = float((forward(probe) - module(probe)).abs().max())
    if not gap <= tolerance:
        log.warning("ONNX Runtime differs from TorchScript by %.2e (> %.0e): staying on TorchScript", gap, tolerance)
        return None
    log.info("forward pass on ONNX Runtime (max |logit difference| from TorchScript %.1e)", gap)
    return forward
