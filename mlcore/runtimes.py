"""Which runtime runs what: the one place that builds the model's runtimes and picks one per piece of work.

Three runtimes of the same artifact:

- ``torchscript``: the artifact itself — the only one with ``features``/``classify`` and gradients;
- ``onnx-fp32``: ONNX Runtime, logits within 1e-4 of TorchScript's, ~1.5× as fast (predictions);
- ``onnx-int8``: ONNX Runtime quantized to int8 on the artifact's calibration images, checked at start
  (perturbation-heavy, forward-only explanation methods).

The input gate's feature module (:mod:`mlcore.input_check.gate`) runs on ONNX Runtime too when its conversion checks
out.

:func:`build_runtimes` makes them (each conversion is checked; a failed one falls back, logged);
:meth:`Runtimes.for_method` gives an explanation method the runtime its declared ``runtime`` allows.
The service, ``explain-eval`` and the benchmark all go through here.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Literal

import torch

from mlcore.artifact import LoadedModel
from mlcore.explainers import Explainer, Forward, explainer_class, method_names
from mlcore.input_check.detector import pooled_features
from mlcore.input_check.gate import InputGate
from mlcore.onnx_forward import int8_forward_for, onnx_forward, onnx_gate_features

log = logging.getLogger(__name__)

Engine = Literal["onnx", "torchscript"]
Precision = Literal["int8", "fp32"]


@dataclass(frozen=True)
class Runtimes:
    """The artifact's module and its faster forward-only forms (which may be the module itself)."""

    module: torch.jit.ScriptModule
    predict: Forward
    perturb: Forward
    gate: InputGate | None = None  # the artifact's input gate, its features on the fastest checked runtime

    def forward_outputs(
        self, x: torch.Tensor, *, maps: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One prediction's logits, penultimate features (for the input check) and, with ``maps``, the last feature
        maps (for Grad-CAM): from one run of the predict runtime where it gives them, else from the artifact."""
        outputs = getattr(self.predict, "outputs", None)  # ONNX Runtime gives all three from one run
        if outputs is not None:
            logits, pooled, feature_maps = outputs(x)
            if pooled is not None and (feature_maps is not None or not maps):
                return logits, pooled, feature_maps if maps else None
        feature_maps = self.module.features(x)
        return self.module.classify(feature_maps), pooled_features(feature_maps), feature_maps if maps else None

    def for_method(self, method: type[Explainer] | Explainer) -> Forward:
        """The runtime an explanation method is run on: the artifact for gradients (of the model or of its head at
        the feature maps), else the perturbation one."""
        return self.perturb if method.runtime == "forward" else self.module

    def describe(self) -> dict[str, str]:
        """Which runtime does what: ``predict`` and each registered explanation method, for the card and logs."""
        described = {"predict": runtime_name(self.predict)}
        if self.gate is not None:
            described["input_gate"] = runtime_name(self.gate.features)
        for name in method_names():
            method = explainer_class(name)
            described[name] = runtime_name(self.for_method(method))
            if method.runtime == "feature_maps" and getattr(self.predict, "gives_maps", False):
                described[name] = f"{runtime_name(self.predict)} maps, {described[name]} head"
        return described

    def int8_check(self) -> dict[str, object] | None:
        """The int8 forward's start-up check (scheme, mean |Δp|, top-class agreement), or None without one."""
        check = getattr(self.perturb, "check", None)
        return dict(check) if check and getattr(self.perturb, "precision", None) == "int8" else None


def runtime_name(forward: Forward) -> str:
    """``onnxruntime-fp32``, ``onnxruntime-int8`` or ``torchscript-fp32``."""
    precision = getattr(forward, "precision", None)
    return f"onnxruntime-{precision}" if precision else "torchscript-fp32"


def build_runtimes(
    model: LoadedModel, engine: Engine = "onnx", precision: Precision = "int8", threads: int = 0
) -> Runtimes:
    """The runtimes of ``model``: ONNX Runtime (fp32, and int8 for forward-only methods) unless ``engine`` says
    TorchScript; every conversion is checked and falls back to the next best (logged) when it fails."""
    module = model.module
    if engine == "torchscript":
        return Runtimes(module=module, predict=module, perturb=module, gate=model.gate)
    size = int(model.manifest["input"]["size"])
    fp32 = onnx_forward(module, size, threads) or module
    int8 = int8_forward_for(model, threads, reference=fp32) if precision == "int8" else None
    gate = model.gate
    if gate is not None:
        features = onnx_gate_features(gate.features, size, threads)
        gate = dataclasses.replace(gate, features=features) if features is not None else gate
    return Runtimes(module=module, predict=fp32, perturb=int8 or fp32, gate=gate)
