"""Faster forwards for the work that needs no gradients: the TorchScript artifact run by ONNX Runtime.

Prediction, LIME and Occlusion only evaluate the model; ONNX Runtime runs this CNN about 1.5× as
fast as TorchScript on a CPU, and its int8 form about 3× (docs/BENCHMARKS.md). The artifact stays
the one TorchScript file: the conversions happen in memory when the service starts, and each is
checked on probe inputs before it is used, else ``None`` is returned and the caller keeps TorchScript.

- :func:`onnx_forward`: float32, logits (and the penultimate features the input check scores, and the last feature
  maps Grad-CAM weighs) equal to TorchScript's within ``1e-4`` — for predictions and Grad-CAM's maps.
- :func:`int8_forward`: weights and activations in int8 (static quantization, activation ranges set
  on the artifact's calibration images and LIME-like perturbations of them); probabilities within
  :data:`INT8_TOLERANCE` of TorchScript's on average — for LIME and Occlusion, whose maps it leaves
  unchanged within the tolerance that ``tests/test_onnx_forward.py`` states.

Integrated Gradients runs on TorchScript (it differentiates the whole network); Grad-CAM differentiates only the
head, at the feature maps this forward gives.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mlcore.artifact import LoadedModel
from mlcore.cpu import Int8Scheme, cpu_info, int8_scheme
from mlcore.input_check.detector import pooled_features
from mlcore.preprocessing import PreprocessSpec, normalise
from mlcore.quantize import quantize_in_child, weight_bits

log = logging.getLogger(__name__)

TOLERANCE = 1e-4
Exposed = tuple[str | None, str | None]  # the graph's names of the pooled features and of the last feature maps
# Mean |probability difference| from TorchScript that the int8 forward may show on its probe.
INT8_TOLERANCE = 0.02


class OnnxForward:
    """``forward(x) -> logits`` for a float32 (N, 1, S, S) tensor, through an ONNX Runtime session.

    A session exported with :func:`_expose_features` has up to two more outputs, found by name: the penultimate
    (pooled) features the input check scores, and the last feature maps Grad-CAM weighs. Each is used only while its
    start-up check against TorchScript holds (``gives_features``, ``gives_maps``)."""

    def __init__(
        self, session: object, input_name: str, precision: str = "fp32", exposed: Exposed = (None, None)
    ) -> None:
        self._session = session
        self._input_name = input_name
        self.precision = precision
        self.check: dict[str, object] = {}  # how it was checked against TorchScript at start (int8: the scheme too)
        names = [output.name for output in session.get_outputs()]  # type: ignore[attr-defined]
        self._pooled = names.index(exposed[0]) if exposed[0] in names else None
        self._maps = names.index(exposed[1]) if exposed[1] in names else None
        self.gives_features = self._pooled is not None  # False once its pooled output did not match TorchScript's
        self.gives_maps = self._maps is not None  # False once its feature maps did not match TorchScript's
        self._logits = names[:1]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._run(x, self._logits)[0])  # the logits alone: no copy of the other outputs

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Logits, the penultimate features and the last feature maps of one run (each None when not given)."""
        outputs = self._run(x, None)
        pooled = torch.from_numpy(outputs[self._pooled]) if self._pooled is not None and self.gives_features else None
        maps = torch.from_numpy(outputs[self._maps]) if self._maps is not None and self.gives_maps else None
        return torch.from_numpy(outputs[0]), pooled, maps

    def _run(self, x: torch.Tensor, names: list[str] | None) -> list[np.ndarray]:
        batch = np.ascontiguousarray(x.detach().numpy(), dtype=np.float32)
        return list(self._session.run(names, {self._input_name: batch}))  # type: ignore[attr-defined]


def _to_onnx(module: torch.jit.ScriptModule, size: int, folder: Path, *, output: str = "logits") -> Path:
    path = folder / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(1, 1, size, size),),
            path,
            input_names=["x"],
            output_names=[output],
            dynamic_axes={"x": {0: "batch"}, output: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return path


def _expose_features(path: Path) -> Exposed:
    """Add the pooled features (the input check's) and the last feature maps (Grad-CAM's) as outputs.

    The head's last Gemm (the linear layer) classifies the pooled features: its input is exposed. When that input is a
    global average pool of the backbone's output (through a Flatten), the pool's input — the feature maps — is exposed
    too. Nothing is computed twice, so the graph's cost stays as it is. The caller checks both outputs against
    TorchScript (a head of another shape loses only these outputs). Returns their names (None: not exposed)."""
    import onnx

    graph = onnx.load(str(path))
    producer = {output: node for node in graph.graph.node for output in node.output}
    linears = [node for node in graph.graph.node if node.op_type == "Gemm"]
    if not linears:
        return None, None
    pooled = linears[-1].input[0]
    node = producer.get(pooled)
    while node is not None and node.op_type == "Flatten":
        node = producer.get(node.input[0])
    maps = node.input[0] if node is not None and node.op_type == "GlobalAveragePool" else None
    graph.graph.output.append(onnx.helper.make_tensor_value_info(pooled, onnx.TensorProto.FLOAT, ["batch", None]))
    if maps is not None:
        shape = ["batch", None, None, None]
        graph.graph.output.append(onnx.helper.make_tensor_value_info(maps, onnx.TensorProto.FLOAT, shape))
    onnx.save(graph, str(path))
    return pooled, maps


# How long (µs) an idle worker of a prediction's session spins for the next operator before it sleeps. Without
# spinning each of the ~100 operators of a forward waits for a sleeping worker to wake (float32 forward 2.3 ms; 1.6 ms
# spinning); ONNX Runtime's default spin outlasts the run and took the cores from the TorchScript and NumPy work that
# follows (Grad-CAM's head gradient, 0.2 ms alone, took ~6 ms after it). 200 µs covers the gaps between operators and
# ends soon after the run.
PREDICT_SPIN_US = 200


def _session(model: bytes | str, threads: int, spin_us: int = 0) -> object:
    """An ONNX Runtime session on the CPU; its idle workers spin ``spin_us`` µs for more work (0: they sleep at once).

    The forward-only explanations (int8, hundreds of batches with NumPy work between them) measured no faster with
    spinning and Occlusion slower, so only the prediction's sessions spin."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if spin_us:
        options.add_session_config_entry("session.intra_op.spin_duration_us", str(spin_us))
    else:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def onnx_forward(
    module: torch.jit.ScriptModule, size: int, threads: int = 0, tolerance: float = TOLERANCE
) -> OnnxForward | None:
    """The artifact converted to ONNX Runtime, or None (logged) when that is unavailable or not exact enough.

    Its :meth:`OnnxForward.outputs` gives the penultimate features and the last feature maps too, each checked like
    the logits (an output that differs from TorchScript's is not used; the logits still are)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        log.info("onnxruntime is not installed: the forward pass stays on TorchScript")
        return None
    probe = torch.randn(2, 1, size, size, generator=torch.Generator().manual_seed(0))  # pairs: see int8_forward
    try:
        with tempfile.TemporaryDirectory() as scratch:
            exported = _to_onnx(module, size, Path(scratch))
            exposed = _expose_features(exported)
            forward = OnnxForward(_session(exported.read_bytes(), threads, PREDICT_SPIN_US), "x", exposed=exposed)
    except Exception as exc:  # the exporter and the runtime raise many types; any of them means "not this way"
        log.warning("ONNX conversion failed (%s: %s): the forward pass stays on TorchScript", type(exc).__name__, exc)
        return None
    with torch.inference_mode():
        logits, features, maps = forward.outputs(probe)
        expected = module.features(probe)
        gap = float((logits - module.classify(expected)).abs().max())
    if not _close(features, pooled_features(expected), tolerance):
        log.info("ONNX Runtime gives no usable penultimate features: the input check reads them from TorchScript")
        forward.gives_features = False
    if not _close(maps, expected, tolerance, relative=True):  # maps of an untrained model can be large
        log.info("ONNX Runtime gives no usable feature maps: Grad-CAM reads them from TorchScript")
        forward.gives_maps = False
    if not gap <= tolerance:
        log.warning("ONNX Runtime differs from TorchScript by %.2e (> %.0e): staying on TorchScript", gap, tolerance)
        return None
    log.info("forward pass on ONNX Runtime (max |logit or feature difference| from TorchScript %.1e)", gap)
    return forward


def _close(got: torch.Tensor | None, expected: torch.Tensor, tolerance: float, *, relative: bool = False) -> bool:
    """``got`` equals ``expected`` within ``tolerance``: absolute, or relative (``|Δ| / (|x| + 1)``)."""
    if got is None or got.shape != expected.shape:
        return False
    scale = expected.abs() + 1.0 if relative else 1.0
    return float(((got - expected).abs() / scale).max()) <= tolerance


def onnx_gate_features(
    module: torch.jit.ScriptModule, size: int, threads: int = 0, tolerance: float = TOLERANCE
) -> OnnxForward | None:
    """The input gate's feature module on ONNX Runtime (float32), or None (logged) when unavailable or when its
    features differ from TorchScript's by more than ``tolerance`` (relative to their scale) on probe inputs."""
    try:
        with tempfile.TemporaryDirectory() as scratch:
            exported = _to_onnx(module, size, Path(scratch), output="features")
            forward = OnnxForward(_session(exported.read_bytes(), threads, PREDICT_SPIN_US), "x")
    except Exception as exc:  # as for the model: any failure means "stay on TorchScript"
        log.warning(
            "ONNX conversion of the input gate failed (%s: %s): it stays on TorchScript", type(exc).__name__, exc
        )
        return None
    probe = torch.randn(4, 1, size, size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = module(probe)
        gap = float(((forward(probe) - expected).abs() / (expected.abs() + 1.0)).max())
    if not gap <= tolerance:
        log.warning("the input gate on ONNX Runtime differs by %.2e (> %.0e): it stays on TorchScript", gap, tolerance)
        return None
    return forward


def calibration_inputs(images: np.ndarray, spec: PreprocessSpec, seed: int = 0) -> torch.Tensor:
    """Model inputs that set the int8 activation ranges: each calibration image, and a LIME-like copy of it.

    The copy has a random half of an 8×8 grid of blocks set to the image's minimum, the way LIME hides
    superpixels, so that the ranges also cover the inputs the int8 forward will mostly see.
    """
    intensities = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
    generator = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, 2, (len(images), 1, 8, 8), generator=generator).float()
    keep = torch.nn.functional.interpolate(blocks, size=tuple(images.shape[1:]), mode="nearest")
    background = intensities.amin(dim=(2, 3), keepdim=True)
    hidden = intensities * keep + background * (1 - keep)
    return normalise(torch.cat([intensities, hidden]), spec)


def int8_forward(
    module: torch.jit.ScriptModule,
    calibration: torch.Tensor,
    *,
    threads: int = 0,
    tolerance: float = INT8_TOLERANCE,
    scheme: Int8Scheme | None = None,
    reference: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> OnnxForward | None:
    """The artifact quantized to int8 on ``calibration`` inputs, or None (logged) when unavailable or too far off.

    ``scheme``: the quantization (default: the one for this CPU, :func:`mlcore.cpu.int8_scheme`). The
    quantization runs in a child process (:mod:`mlcore.quantize`). Checked on ``calibration`` itself: the
    mean |probability difference| from float32 (``reference``, the checked ONNX Runtime float32 forward when given,
    else TorchScript) must be at most ``tolerance`` and the top class must agree on at least 95 % of the inputs; the
    numbers are kept in the forward's ``check``.
    """
    scheme = scheme or int8_scheme()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            fp32_model = _to_onnx(module, int(calibration.shape[-1]), Path(scratch)).read_bytes()
        inputs = np.ascontiguousarray(calibration.numpy(), dtype=np.float32)
        int8_model = quantize_in_child(fp32_model, inputs, reduce_range=scheme == "u8s8-reduce-range")
        forward = OnnxForward(_session(int8_model, threads), "x", precision="int8")
    except Exception as exc:  # as above: any failure (tools missing, child died, timeout) means "stay on float32"
        log.warning("int8 quantization failed (%s: %s): LIME and Occlusion stay on float32", type(exc).__name__, exc)
        return None
    # In pairs: a session's arena keeps the memory of its largest batch, and the float32 reference otherwise runs two
    # images at most (the evidence check); batches of 8 kept 37 MB more, all 64 at once ~150 MB.
    with torch.inference_mode():
        batches = calibration.split(2)
        expected = torch.softmax(torch.cat([(reference or module)(batch) for batch in batches]), dim=1)
        got = torch.softmax(torch.cat([forward(batch) for batch in batches]), dim=1)
    mean_gap = float((got - expected).abs().mean())
    agreement = float((got.argmax(1) == expected.argmax(1)).float().mean())
    cpu = ", ".join(str(flag) for flag in cpu_info()["flags"]) or "no flags read"  # type: ignore[attr-defined]
    if not (mean_gap <= tolerance and agreement >= 0.95):
        log.warning(
            "int8 forward (%s on %s) is off (mean |Δp| %.3f, top class agrees on %.0f %%): forward-only methods "
            "stay on float32",
            scheme,
            cpu,
            mean_gap,
            100 * agreement,
        )
        return None
    forward.check = {
        "scheme": scheme,
        "weight_bits": weight_bits(int8_model),  # read back from the graph: the scheme applied, not only asked for
        "mean_abs_dp": round(mean_gap, 5),
        "top_class_agreement": agreement,
    }
    log.info(
        "int8 forward (%s on %s) for forward-only methods (mean |Δp| %.4f, top class agrees on %.0f %%)",
        scheme,
        cpu,
        mean_gap,
        100 * agreement,
    )
    return forward


def int8_forward_for(
    model: LoadedModel,
    threads: int = 0,
    scheme: Int8Scheme | None = None,
    reference: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> OnnxForward | None:
    """:func:`int8_forward` calibrated on the artifact's own images; None (logged) for an artifact without them."""
    if model.calibration is None:
        log.info("the artifact has no calibration images: LIME and Occlusion run in float32")
        return None
    spec = PreprocessSpec.from_manifest(model.manifest)
    inputs = calibration_inputs(model.calibration, spec)
    return int8_forward(model.module, inputs, threads=threads, scheme=scheme, reference=reference)
