"""What holds the service's memory: the resident set after each component is loaded, in the service's order.

Run in a fresh process (``make bench`` runs it as a child): the interpreter and torch, the service's imports, the
artifact, each ONNX Runtime session with its start-up check, the input gate, then one run of each explanation method
at its defaults on the shipped model (libraries imported on first use, the runtimes' arenas, autograd buffers).
Prints JSON: a list of [component, MiB added, resident MiB after it, peak MiB after it].
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def resident_mib() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MiB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def main() -> int:
    """Load the service's parts one by one; print the table as JSON."""
    rows: list[list[object]] = []
    before = [0.0]

    def mark(component: str) -> None:
        rss, peak = resident_mib()
        rows.append([component, round(rss - before[0]), round(rss), round(peak)])
        before[0] = rss

    mark("the Python interpreter")
    import numpy  # noqa: F401
    import torch

    mark(f"torch {torch.__version__} and NumPy")
    sys.path.insert(0, str(REPO))
    from mlcore import artifact
    from mlcore.explainers import explainer_class, get_explainer, method_names
    from mlcore.onnx_forward import int8_forward_for, onnx_forward, onnx_gate_features
    from service.http.app import create_app  # noqa: F401  (FastAPI, pydicom, highdicom, ONNX Runtime, the routes)
    from service.settings import Settings

    mark("the service's imports (FastAPI, ONNX Runtime, pydicom, highdicom, captum)")
    model = artifact.load(Settings().model_path)
    size = int(model.manifest["input"]["size"])
    mark("the artifact (TorchScript module, input gate, calibration images)")
    fp32 = onnx_forward(model.module, size)
    mark("float32 ONNX Runtime session (export, check)")
    int8 = int8_forward_for(model, reference=fp32)
    mark("int8 ONNX Runtime session (quantized in a child, check)")
    if model.gate is not None:
        onnx_gate_features(model.gate.features, size)
        mark("input gate's ONNX Runtime session")
    assert fp32 is not None
    x = torch.randn(1, 1, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, _, maps = fp32.outputs(x)
    mark("a prediction")
    for method in method_names():
        declared = explainer_class(method)
        forward = int8 or fp32 if declared.runtime == "forward" else model.module
        get_explainer(method).explain(forward, x, 0, {}, features=maps if declared.runtime == "feature_maps" else None)
        mark(f"{declared.title} at its defaults")
    sys.stdout.write(json.dumps(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
