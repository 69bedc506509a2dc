"""What the input check adds to one prediction, measured in one process, the two variants interleaved.

``before``: the predict runtime's logits and a softmax (what a prediction cost before the check);
``after``: the same runtime's logits *and* penultimate features, the calibrated softmax and
:func:`mlcore.input_check.check.check_input` (cheap checks and the detector's score). Both on the shipped model and
runtimes at default settings, on a committed sample decoded once. Alternating blocks keep a noisy machine fair.

    .venv/bin/python bench/input_check_cost.py
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable

import torch

from mlcore import artifact
from mlcore.artifact import DEFAULT_MODEL
from mlcore.cpu import cpu_info
from mlcore.input_check.check import check_input
from mlcore.input_check.detector import probabilities
from mlcore.preprocessing import PreprocessSpec, preprocess
from mlcore.runtimes import build_runtimes
from training.data.dataset import read_gray

log = logging.getLogger("input_check_cost")
SAMPLE = DEFAULT_MODEL.parents[1] / "tests" / "data" / "samples" / "glioma" / "Tr-gl_0716.jpg"


def timed_ms(work: Callable[[], object], count: int) -> list[float]:
    """Each of ``count`` calls' wall-clock milliseconds."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model = artifact.load(DEFAULT_MODEL)
    runtimes = build_runtimes(model, "onnx", "fp32")
    gray = read_gray(SAMPLE)
    x = preprocess(gray, PreprocessSpec.from_manifest(model.manifest))

    def before() -> object:
        with torch.inference_mode():
            return torch.softmax(runtimes.predict(x), dim=1)

    def after() -> object:
        with torch.inference_mode():
            logits, pooled, _ = runtimes.forward_outputs(x)
            probs = probabilities(logits, model.feature_detector)
        return probs, check_input(gray, 0.0, pooled[0].numpy(), model.feature_detector)

    times: dict[str, list[float]] = {"before": [], "after": []}
    for variant in (before, after):
        timed_ms(variant, 50)  # warm-up
    for block in range(20):
        for name, variant in (("before", before), ("after", after))[:: 1 if block % 2 == 0 else -1]:
            times[name] += timed_ms(variant, 100)
    result = {name: round(statistics.median(values), 3) for name, values in times.items()}
    result["added_ms"] = round(result["after"] - result["before"], 3)
    flags = cpu_info()["flags"]
    log.info("%s", json.dumps({"p50_ms": result, "calls_each": len(times["after"]), "cpu_flags": flags}))


if __name__ == "__main__":
    main()
