"""The model artifact: one TorchScript file with its JSON manifest inside.

This is the only module that knows the file format and the only one that calls TorchScript,
so that moving to ``torch.export`` later touches one file. The scripted module exposes
``features(x)`` and ``classify(f)`` with ``forward(x) = classify(features(x))``, which is what
hook-free Grad-CAM needs. :func:`load` checks the file and its manifest and fails fast with a
clear :class:`~mlcore.errors.ArtifactError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mlcore.errors import ArtifactError
from mlcore.files import atomic_write
from mlcore.input_check.detector import FeatureDetector
from mlcore.input_check.gate import InputGate

# The shipped model: what the service serves and the CLI reads unless told otherwise.
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "brainxai-cnn.pt"
FORMAT_VERSION = 1
MANIFEST_FILE = "brainxai_manifest.json"
# Optional: a few training images at the model's size (uint8, N×S×S, before normalisation) that set the
# activation ranges of the int8 forward used by LIME and Occlusion (mlcore/onnx_forward.py).
CALIBRATION_FILE = "brainxai_calibration.npy"
# Optional: the feature detector's arrays (mlcore/input_check/detector.py); its scalars are the manifest's
# "feature_detector". Artifacts written before the input check had one name call both "reliability": read them too.
DETECTOR_FILE = "brainxai_feature_detector.npz"
LEGACY_DETECTOR_FILE = "brainxai_reliability.npz"
LEGACY_DETECTOR_KEY = "reliability"
# Optional: the input gate (mlcore/input_check/gate.py): its scripted feature module and its arrays; its scalars are the
# manifest's "input_gate".
GATE_MODULE_FILE = "brainxai_gate_features.pt"
GATE_ARRAYS_FILE = "brainxai_gate.npz"
REQUIRED_KEYS = (
    "format_version",
    "name",
    "version",
    "classes",
    "input",
    "preprocessing",
    "architecture",
    "parameters",
    "flops",
    "data",
    "metrics",
    "provenance",
)


@contextlib.contextmanager
def _torchscript_quiet() -> Iterator[None]:
    """Silence torch's FutureWarning that TorchScript (``torch.jit.*``) is deprecated, and nothing else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)
        yield


class _Exported(nn.Module):
    """The shape every artifact has: a backbone giving feature maps and a head giving logits."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    @torch.jit.export
    def classify(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))


@dataclass(frozen=True)
class LoadedModel:
    """A loaded artifact: the scripted module, its manifest, the file's sha256, its calibration images and its
    input check.

    ``calibration``: uint8 N×S×S images in [0, 255] (intensity × 255 after padding and resizing, before
    normalisation), or None for an artifact without them. ``feature_detector``: the feature detector and the
    temperature fitted for these weights (:mod:`mlcore.input_check.detector`), or None for an artifact without them.
    ``gate``: the input gate (:mod:`mlcore.input_check.gate`), or None for an artifact without one.
    """

    module: torch.jit.ScriptModule
    manifest: dict[str, Any]
    sha256: str
    path: Path
    calibration: np.ndarray | None = None
    feature_detector: FeatureDetector | None = None
    gate: InputGate | None = None

    @property
    def classes(self) -> list[str]:
        """Class names in the model's output order."""
        return list(self.manifest["classes"])

    @property
    def identity(self) -> dict[str, str]:
        """Which artifact this is, as a report names what it measured: name, version and the file's sha256."""
        return {"name": self.manifest["name"], "version": self.manifest["version"], "sha256": self.sha256}


def script(backbone: nn.Module, head: nn.Module) -> torch.jit.ScriptModule:
    """Script a backbone/head pair into the artifact's module (eval mode, on the CPU)."""
    module = _Exported(backbone, head).cpu().eval()
    with _torchscript_quiet():
        scripted = torch.jit.script(module)
    return scripted


def script_gate_features(module: nn.Module) -> torch.jit.ScriptModule:
    """Script the input gate's feature module (eval mode, on the CPU)."""
    with _torchscript_quiet():
        return torch.jit.script(module.cpu().eval())


def _gate_module_bytes(features: torch.jit.ScriptModule) -> bytes:
    buffer = io.BytesIO()
    with _torchscript_quiet():
        torch.jit.save(features, buffer)
    return buffer.getvalue()


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_sha256(module: torch.jit.ScriptModule | nn.Module) -> str:
    """The hex sha256 of a module's parameters and buffers (names, shapes, values): what "the same weights" means."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save(
    scripted: torch.jit.ScriptModule,
    manifest: dict[str, Any],
    path: Path,
    *,
    calibration: np.ndarray | None = None,
    feature_detector: FeatureDetector | None = None,
    gate: InputGate | None = None,
) -> str:
    """Write the artifact atomically (temp file + rename) and return its sha256.

    The manifest must carry every key of :data:`REQUIRED_KEYS`; ``format_version`` is set here.
    ``calibration`` (optional): uint8 N×S×S images stored beside the manifest (see :class:`LoadedModel`).
    ``feature_detector`` (optional): its arrays are stored beside the manifest, whose ``feature_detector`` section must
    describe it (:meth:`FeatureDetector.manifest_section`); it must have been fitted for ``scripted``'s weights.
    ``gate`` (optional): the input gate, its module and arrays stored beside the manifest, whose ``input_gate``
    section must describe it (:meth:`InputGate.manifest_section`).
    """
    manifest = {**manifest, "format_version": FORMAT_VERSION}
    _check_manifest(manifest, path)
    extra: dict[str, str | bytes] = {MANIFEST_FILE: json.dumps(manifest, indent=2)}
    if feature_detector is not None:
        if manifest.get("feature_detector", {}).get("weights_sha256") != feature_detector.weights_sha256:
            raise ArtifactError(f"{path}: the manifest's feature_detector section does not describe the detector given")
        _check_weights(feature_detector, scripted, path)
        extra[DETECTOR_FILE] = feature_detector.to_bytes()
    elif "feature_detector" in manifest:
        raise ArtifactError(f"{path}: the manifest has a feature_detector section but no detector was given")
    if gate is not None:
        if manifest.get("input_gate", {}).get("margin_threshold") != gate.margin_threshold:
            raise ArtifactError(f"{path}: the manifest's input_gate section does not describe the gate given")
        extra[GATE_MODULE_FILE] = _gate_module_bytes(gate.features)
        extra[GATE_ARRAYS_FILE] = gate.to_bytes()
    elif "input_gate" in manifest:
        raise ArtifactError(f"{path}: the manifest has an input_gate section but no gate was given")
    if calibration is not None:
        _check_calibration(calibration, int(manifest["input"]["size"]), path)
        buffer = io.BytesIO()
        np.save(buffer, calibration, allow_pickle=False)
        extra[CALIBRATION_FILE] = buffer.getvalue()

    def write(tmp: Path) -> None:
        with _torchscript_quiet():
            torch.jit.save(scripted, str(tmp), _extra_files=extra)

    atomic_write(path, write)
    return file_sha256(path)


def load(path: str | Path) -> LoadedModel:
    """Load and check an artifact; raise :class:`ArtifactError` saying what is wrong.

    Refuses a missing or empty file, one that is not a TorchScript archive (foreign or
    truncated), one without a brainxai manifest, a manifest of another format version or
    with missing keys, and a module whose output does not match the manifest's classes.
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"model file not found: {path}")
    if path.stat().st_size == 0:
        raise ArtifactError(f"model file is empty: {path}")
    if not zipfile.is_zipfile(path):
        raise ArtifactError(f"{path} is not a brainxai model: not a TorchScript archive (foreign or truncated file)")
    extra: dict[str, Any] = {
        MANIFEST_FILE: "",
        CALIBRATION_FILE: "",
        DETECTOR_FILE: "",
        LEGACY_DETECTOR_FILE: "",
        GATE_MODULE_FILE: "",
        GATE_ARRAYS_FILE: "",
    }
    try:
        with _torchscript_quiet():
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as exc:  # torch raises RuntimeError and friends for damaged archives
        raise ArtifactError(f"{path} cannot be loaded as TorchScript (truncated or damaged?): {exc}") from exc
    if not extra[MANIFEST_FILE]:
        raise ArtifactError(f"{path} is a TorchScript file but not a brainxai model: it has no manifest")
    try:
        manifest = json.loads(extra[MANIFEST_FILE])
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: the manifest is not valid JSON: {exc}") from exc
    manifest = _current_names(manifest)
    _check_manifest(manifest, path)
    if manifest["format_version"] != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: artifact format version {manifest['format_version']} is not supported "
            f"(this code reads version {FORMAT_VERSION}); re-export the model"
        )
    for method in ("features", "classify"):
        if not hasattr(module, method):
            raise ArtifactError(f"{path}: the scripted module has no exported {method}() method")
    module.eval()
    _check_output_shape(module, manifest, path)
    calibration = _read_calibration(extra[CALIBRATION_FILE], int(manifest["input"]["size"]), path)
    detector = _read_feature_detector(manifest, extra[DETECTOR_FILE] or extra[LEGACY_DETECTOR_FILE], module, path)
    gate = _read_gate(manifest, extra[GATE_MODULE_FILE], extra[GATE_ARRAYS_FILE], path)
    return LoadedModel(
        module=module,
        manifest=manifest,
        sha256=file_sha256(path),
        path=path,
        calibration=calibration,
        feature_detector=detector,
        gate=gate,
    )


def _read_gate(manifest: dict[str, Any], module_bytes: bytes, arrays: bytes, path: Path) -> InputGate | None:
    """The input gate, checked: its module loads and gives as many features as its arrays score, on an input of
    the model's size."""
    section = manifest.get("input_gate")
    if section is None and not module_bytes and not arrays:
        return None
    if section is None or not module_bytes or not arrays:
        raise ArtifactError(f"{path}: the input gate is incomplete (manifest section, module or arrays missing)")
    try:
        with _torchscript_quiet():
            features = torch.jit.load(io.BytesIO(module_bytes), map_location="cpu")
    except Exception as exc:  # as for the main module: any load failure means a damaged file
        raise ArtifactError(f"{path}: the input gate's module cannot be loaded: {exc}") from exc
    features.eval()
    gate = InputGate.from_artifact(section, features, arrays, str(path))
    size = int(manifest["input"]["size"])
    with torch.inference_mode():
        probe = features(torch.zeros(1, int(manifest["input"].get("channels", 1)), size, size))
    if tuple(probe.shape) != (1, gate.dimensions):
        raise ArtifactError(
            f"{path}: the input gate's module gives {tuple(probe.shape)} features, not {gate.dimensions}"
        )
    return gate


def _current_names(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with today's key for the feature detector: the one backward-compatible reading of an older
    artifact's ``reliability`` section (the file's bytes, and so its sha256, stay as they are)."""
    if LEGACY_DETECTOR_KEY not in manifest:
        return manifest
    renamed = {key: value for key, value in manifest.items() if key != LEGACY_DETECTOR_KEY}
    return {**renamed, "feature_detector": manifest[LEGACY_DETECTOR_KEY]}


def _read_feature_detector(
    manifest: dict[str, Any], raw: bytes, module: torch.jit.ScriptModule, path: Path
) -> FeatureDetector | None:
    section = manifest.get("feature_detector")
    if section is None and not raw:
        return None
    if section is None or not raw:
        raise ArtifactError(f"{path}: the input check is incomplete (manifest section or arrays missing)")
    detector = FeatureDetector.from_artifact(section, raw, str(path))
    _check_weights(detector, module, path)
    return detector


def _check_weights(detector: FeatureDetector, module: torch.jit.ScriptModule, path: Path) -> None:
    if detector.weights_sha256 != weights_sha256(module):
        raise ArtifactError(
            f"{path}: the input check and temperature were fitted for other weights; "
            "run python -m training fit-detector on this model"
        )


def _read_calibration(raw: bytes, size: int, path: Path) -> np.ndarray | None:
    if not raw:
        return None
    try:
        images = np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError as exc:
        raise ArtifactError(f"{path}: the calibration images cannot be read: {exc}") from exc
    _check_calibration(images, size, path)
    return images


def _check_calibration(images: np.ndarray, size: int, path: Path) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (size, size) or len(images) == 0:
        raise ArtifactError(
            f"{path}: calibration images must be uint8 N×{size}×{size}, got {images.dtype} {tuple(images.shape)}"
        )


def _check_manifest(manifest: Any, path: Path) -> None:
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: the manifest must be a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise ArtifactError(f"{path}: the manifest lacks {', '.join(missing)}")
    classes = manifest["classes"]
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise ArtifactError(f"{path}: the manifest's classes must be a list of at least two names")
    if manifest.get("preprocessing", {}).get("equalise"):
        raise ArtifactError(
            f"{path}: the model asks for histogram equalisation before it, a preprocessing step this version does not "
            "have (an experiment's artifact; the shipped models do not use it)"
        )


def _check_output_shape(module: torch.jit.ScriptModule, manifest: dict[str, Any], path: Path) -> None:
    size = int(manifest["input"]["size"])
    channels = int(manifest["input"].get("channels", 1))
    with torch.inference_mode():
        logits = module(torch.zeros(1, channels, size, size))
    if tuple(logits.shape) != (1, len(manifest["classes"])):
        raise ArtifactError(
            f"{path}: the model outputs shape {tuple(logits.shape)} but the manifest names "
            f"{len(manifest['classes'])} classes"
        )
