"""Does the int8 forward compute the same on an AVX2-only CPU as on this one? Run under an emulated CPU.

Quantizes the shipped model with both schemes (``u8s8``: 8-bit weights; ``u8s8-reduce-range``: the AVX2 scheme) and
runs each on the artifact's calibration inputs and the committed samples twice: natively, and in a child under
``qemu-x86_64 -cpu Haswell`` (user-mode emulation of an AVX2 CPU without AVX-512 or VNNI: ONNX Runtime reads the
emulated CPUID and picks its AVX2 kernels, whose u8×s8 products are added in pairs in 16 bits). Reports the largest
logit and probability differences between the two, and each against float32 ONNX Runtime on this CPU.

    apt-get install qemu-user
    python research/int8_precision/avx2_emulation.py --out docs/research/int8-avx2-emulation.json
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
SCHEMES = {"u8s8": False, "u8s8-reduce-range": True}


def run_child(model: Path, inputs: Path, out: Path) -> None:
    """The child's side: logits of ``model`` on ``inputs`` (ONNX Runtime, whatever CPU it believes it runs on)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    x = np.load(inputs)
    np.save(out, np.concatenate([session.run(None, {"x": x[i : i + 8]})[0] for i in range(0, len(x), 8)]))


def logits_in(model: Path, inputs: Path, folder: Path, emulate: str | None) -> np.ndarray:
    """Logits from a child process, natively or under ``qemu-x86_64 -cpu EMULATE``."""
    out = folder / f"{model.stem}-{emulate or 'native'}.npy"
    command = [sys.executable, __file__, "--child", str(model), str(inputs), str(out)]
    subprocess.run((["qemu-x86_64", "-cpu", emulate] if emulate else []) + command, check=True, capture_output=True)
    return np.load(out)


def measure(emulate: str) -> dict[str, object]:
    """Both schemes, native and emulated, on the calibration inputs and one committed sample per class."""
    import torch

    from mlcore import artifact
    from mlcore.cpu import cpu_info
    from mlcore.explainers.base import softmax
    from mlcore.onnx_forward import _to_onnx, calibration_inputs
    from mlcore.preprocessing import PreprocessSpec, preprocess
    from mlcore.quantize import quantize, weight_bits
    from service.settings import DEFAULT_MODEL
    from training.data.dataset import read_gray

    model = artifact.load(DEFAULT_MODEL)
    spec = PreprocessSpec.from_manifest(model.manifest)
    assert model.calibration is not None
    samples = sorted(Path("tests/data/samples").glob("*/*.jpg"))
    inputs = torch.cat(
        [calibration_inputs(model.calibration, spec)] + [preprocess(read_gray(p), spec) for p in samples]
    )
    results: dict[str, object] = {
        "model": model.manifest["version"],
        "host_cpu": cpu_info(),
        "emulated_cpu": emulate,
        "inputs": f"{len(inputs) - len(samples)} calibration inputs and {len(samples)} committed samples",
    }
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        fp32 = _to_onnx(model.module, spec.size, folder)
        np.save(folder / "inputs.npy", inputs.numpy())
        reference = softmax(logits_in(fp32, folder / "inputs.npy", folder, None))
        for scheme, reduce_range in SCHEMES.items():
            quantized = folder / f"{scheme}.onnx"
            quantized.write_bytes(
                quantize(fp32.read_bytes(), inputs[: -len(samples)].numpy(), reduce_range=reduce_range)
            )
            native = logits_in(quantized, folder / "inputs.npy", folder, None)
            emulated = logits_in(quantized, folder / "inputs.npy", folder, emulate)
            gap_native, gap_emulated = np.abs(softmax(native) - reference), np.abs(softmax(emulated) - reference)
            results[scheme] = {
                "weight_bits": weight_bits(quantized.read_bytes()),
                "max_abs_logit_difference_emulated_vs_native": float(np.abs(emulated - native).max()),
                "mean_abs_dp_vs_fp32_native": round(float(gap_native.mean()), 5),
                "mean_abs_dp_vs_fp32_emulated": round(float(gap_emulated.mean()), 5),
                "max_abs_dp_vs_fp32_emulated": round(float(gap_emulated.max()), 4),
            }
            log.info("%s: %s", scheme, results[scheme])
    return results


def main() -> int:
    """Measure, or be the child."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, type=Path, metavar=("MODEL", "INPUTS", "OUT"))
    parser.add_argument("--emulate", default="Haswell", help="qemu CPU model: AVX2, no AVX-512, no VNNI")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        run_child(*args.child)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = measure(args.emulate)
    text = json.dumps(results, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
