"""Static int8 quantization of an ONNX model with ONNX Runtime's tools, run in a short-lived child process.

Calibration keeps every calibration input's activations in memory (~300 MB for this model) and the
tools import heavy modules (onnx, sympy); in a child process none of that stays in, or peaks in, the
service. The child is ``python -m mlcore.quantize FOLDER`` (the model and the calibration inputs in files): it
imports this module alone — neither torch, the rest of mlcore nor the parent's main module, as a multiprocessing
child would (the service's: 2 s of imports) — so it starts quickly.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx


def depthwise_weights(graph: onnx.GraphProto) -> list[str]:
    """The weight initializers of the graph's depthwise convolutions (a Conv whose ``group`` is above 1)."""
    return [
        node.input[1]
        for node in graph.node
        if node.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in node.attribute)
    ]


def weight_bits(quantized_model: bytes) -> dict[str, int]:
    """How many bits the quantized graph's int8 weights use, for depthwise convolutions and for the rest (``paired``:
    ordinary and pointwise convolutions, the linear head, whose u8×s8 products AVX2 adds in pairs): 7 when every such
    weight lies in [-64, 63] (the ``reduce_range`` scheme), else 8; a kind the graph lacks is absent. Read from the
    initializers that DequantizeLinear nodes turn back into weights, so it proves which scheme the graph was made with,
    not which one was asked for."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(quantized_model).graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    consumers = {name: node for node in graph.node for name in node.input}
    largest: dict[str, int] = {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in initializers:
            values = numpy_helper.to_array(initializers[node.input[0]])
            if values.dtype != np.int8:
                continue
            consumer = consumers.get(node.output[0])
            grouped = consumer is not None and any(a.name == "group" and a.i > 1 for a in consumer.attribute)
            kind = "depthwise" if grouped else "paired"
            largest[kind] = max(largest.get(kind, 0), int(np.abs(values.astype(np.int16)).max(initial=0)))
    if not largest:
        raise ValueError("the graph holds no int8 weights")
    return {kind: 7 if value <= 64 else 8 for kind, value in sorted(largest.items())}


def quantize_in_child(
    onnx_model: bytes, calibration: np.ndarray, *, reduce_range: bool = False, timeout_s: float = 300.0
) -> bytes:
    """:func:`quantize` run in a child process (``python -m mlcore.quantize``); its failure is raised here as a
    RuntimeError with the child's message."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "fp32.onnx").write_bytes(onnx_model)
        np.save(folder / "calibration.npy", np.ascontiguousarray(calibration, dtype=np.float32))
        command = [sys.executable, "-m", "mlcore.quantize", str(folder), *(["--reduce-range"] if reduce_range else [])]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=folder, check=False)
        if done.returncode != 0:
            told = [line for line in done.stderr.splitlines() if line.strip()][-3:]
            raise RuntimeError(f"the quantization child failed: {' / '.join(told) or done.returncode}")
        return (folder / "int8.onnx").read_bytes()


def quantize(onnx_model: bytes, calibration: np.ndarray, *, reduce_range: bool = False) -> bytes:
    """The float32 ONNX model (input "x") as QDQ int8: per-channel s8 weights, u8 activations whose ranges
    are the min and max over ``calibration`` (float32 model inputs, N×C×S×S).

    The layer that reads the image itself stays float32: with one input channel it has nine products per output, as
    fast in float32 (measured), and a quantized raw image cost most of int8's error. ``reduce_range``: 7-bit
    weights, for CPUs without VNNI (see :func:`mlcore.cpu.int8_scheme`), except the depthwise convolutions': ONNX
    Runtime's depthwise kernels widen both operands to 16 bits and accumulate in 32, so their 8-bit weights cannot
    saturate on AVX2 (outputs bit-identical on an emulated AVX2-only CPU and on VNNI; docs/EXPLANATIONS.md,
    Precision), and 7-bit depthwise weights cost most of the rest of the scheme's error."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter([{"x": calibration[i : i + 8]} for i in range(0, len(calibration), 8)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    # ONNX Runtime's symbolic shape inference writes temporary files into the working directory and leaves them
    # there when it fails (a model whose shapes it cannot infer): work inside the scratch folder.
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = Path(scratch)
        source, prepared, quantized = folder / "fp32.onnx", folder / "prepared.onnx", folder / "int8.onnx"
        source.write_bytes(onnx_model)
        quant_pre_process(str(source), str(prepared))
        graph = onnx.load(str(prepared)).graph
        eight_bits = {name: [{"axis": 0, "reduce_range": False}] for name in depthwise_weights(graph)}
        quantize_static(
            str(prepared),
            str(quantized),
            _Batches(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,  # u8 activations × s8 weights: the VNNI-friendly pairing
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=reduce_range,
            extra_options={"TensorQuantOverrides": eight_bits} if reduce_range and eight_bits else {},
            nodes_to_exclude=[node.name for node in graph.node if "x" in node.input],
        )
        return quantized.read_bytes()


def main() -> int:
    """The child's side: FOLDER/fp32.onnx and FOLDER/calibration.npy in, FOLDER/int8.onnx out."""
    parser = argparse.ArgumentParser(description="quantize FOLDER/fp32.onnx into FOLDER/int8.onnx (QDQ int8)")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--reduce-range", action="store_true", help="7-bit weights (CPUs without VNNI)")
    args = parser.parse_args()
    calibration = np.load(args.folder / "calibration.npy")
    quantized = quantize((args.folder / "fp32.onnx").read_bytes(), calibration, reduce_range=args.reduce_range)
    (args.folder / "int8.onnx").write_bytes(quantized)
    return 0


if __name__ == "__main__":
    sys.exit(main())
