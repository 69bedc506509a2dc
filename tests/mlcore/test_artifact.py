"""The artifact: a round trip keeps outputs and manifest; the loader refuses what it cannot trust."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mlcore import artifact
from mlcore.errors import ArtifactError
from mlcore.input_check.detector import FeatureDetector
from training.fit.models import build_model


def _manifest(classes: list[str], size: int = 32) -> dict[str, Any]:
    return {
        "name": "test",
        "version": "0",
        "classes": classes,
        "input": {"size": size, "channels": 1},
        "preprocessing": {"mean": 0.2, "std": 0.3},
        "architecture": {"name": "brainxai_cnn"},
        "parameters": 1,
        "flops": 1,
        "data": {},
        "metrics": {},
        "provenance": {},
    }


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = build_model("brainxai_cnn", 4, width=8, dropout=0.0).eval()
    path = tmp_path / "model.pt"
    artifact.save(artifact.script(model.backbone, model.head), _manifest(["a", "b", "c", "d"]), path)
    return path, model


def test_round_trip_keeps_outputs_manifest_and_parts(saved: tuple[Path, torch.nn.Module]) -> None:
    path, model = saved
    loaded = artifact.load(path)
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        expected = model(x)
        assert torch.allclose(loaded.module(x), expected, atol=1e-5)
        assert torch.allclose(loaded.module.classify(loaded.module.features(x)), expected, atol=1e-5)
    assert loaded.classes == ["a", "b", "c", "d"]
    assert loaded.manifest["format_version"] == artifact.FORMAT_VERSION
    assert loaded.sha256 == artifact.file_sha256(path) and len(loaded.sha256) == 64
    identity = loaded.identity  # what a report names as the artifact it measured
    assert identity == {"name": loaded.manifest["name"], "version": loaded.manifest["version"], "sha256": loaded.sha256}


def test_gradcam_style_gradient_through_the_loaded_parts(saved: tuple[Path, torch.nn.Module]) -> None:
    loaded = artifact.load(saved[0])
    for _ in range(3):  # the profiling executor must keep working after the first calls
        features = loaded.module.features(torch.randn(1, 1, 32, 32))
        score = loaded.module.classify(features)[0, 1]
        (grad,) = torch.autograd.grad(score, features)
        assert grad.shape == features.shape and grad.abs().sum() > 0


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not found"):
        artifact.load(tmp_path / "nope.pt")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ArtifactError, match="empty"):
        artifact.load(tmp_path / "empty.pt")


def test_truncated_file_is_refused(saved: tuple[Path, torch.nn.Module], tmp_path: Path) -> None:
    data = saved[0].read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="truncated"):
        artifact.load(truncated)


def test_foreign_file_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"GIF89a not a model at all" * 10)
    with pytest.raises(ArtifactError, match="not a brainxai model"):
        artifact.load(foreign)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ArtifactError, match="cannot be loaded"):
        artifact.load(other_zip)


JIT_DEPRECATED = "ignore:`torch.jit:FutureWarning"  # these tests craft foreign files with TorchScript directly


@pytest.mark.filterwarnings(JIT_DEPRECATED)
def test_torchscript_without_manifest_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(plain))
    with pytest.raises(ArtifactError, match="no manifest"):
        artifact.load(plain)


@pytest.mark.filterwarnings(JIT_DEPRECATED)
def test_other_format_version_and_missing_keys_are_refused(tmp_path: Path) -> None:
    model = build_model("brainxai_cnn", 2, width=8, dropout=0.0)
    scripted = artifact.script(model.backbone, model.head)
    future = tmp_path / "future.pt"
    manifest = {**_manifest(["x", "y"]), "format_version": 99}
    torch.jit.save(scripted, str(future), _extra_files={artifact.MANIFEST_FILE: json.dumps(manifest)})
    with pytest.raises(ArtifactError, match="format version 99"):
        artifact.load(future)
    lacking = tmp_path / "lacking.pt"
    manifest = _manifest(["x", "y"])
    del manifest["classes"]
    torch.jit.save(scripted, str(lacking), _extra_files={artifact.MANIFEST_FILE: json.dumps(manifest)})
    with pytest.raises(ArtifactError, match=r"lacks.*classes"):
        artifact.load(lacking)


def test_classes_that_do_not_match_the_output_are_refused(tmp_path: Path) -> None:
    model = build_model("brainxai_cnn", 4, width=8, dropout=0.0)
    path = tmp_path / "mismatch.pt"
    artifact.save(artifact.script(model.backbone, model.head), _manifest(["only", "two"]), path)
    with pytest.raises(ArtifactError, match="names 2 classes"):
        artifact.load(path)


def test_calibration_images_round_trip_and_bad_ones_are_refused(
    saved: tuple[Path, torch.nn.Module], tmp_path: Path
) -> None:
    path, _ = saved
    assert artifact.load(path).calibration is None
    loaded = artifact.load(path)
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32), dtype=np.uint8)
    calibrated = tmp_path / "calibrated.pt"
    artifact.save(loaded.module, loaded.manifest, calibrated, calibration=images)
    again = artifact.load(calibrated)
    np.testing.assert_array_equal(again.calibration, images)
    x = torch.randn(2, 1, 32, 32)
    with torch.inference_mode():
        assert torch.equal(again.module(x), loaded.module(x))
    for bad in (images.astype(np.float32), images[:, :16], images[0], images[:0]):
        with pytest.raises(ArtifactError, match="calibration images must be uint8"):
            artifact.save(loaded.module, loaded.manifest, tmp_path / "bad.pt", calibration=bad)


def _detector_for(module: torch.jit.ScriptModule, dims: int = 48) -> FeatureDetector:
    """A detector over ``dims`` features (the test model's width 8 × 6), fitted "for" ``module``'s weights."""
    rng = np.random.default_rng(0)
    return FeatureDetector(rng.normal(size=(4, dims)), np.eye(dims), 12.5, 0.7, artifact.weights_sha256(module))


def test_the_input_check_round_trips_and_keeps_module_and_calibration(
    saved: tuple[Path, torch.nn.Module], tmp_path: Path
) -> None:
    path, _ = saved
    loaded = artifact.load(path)
    assert loaded.feature_detector is None
    detector = _detector_for(loaded.module)
    images = np.zeros((2, 32, 32), np.uint8)
    manifest = {**loaded.manifest, "feature_detector": detector.manifest_section()}
    fitted = tmp_path / "fitted.pt"
    artifact.save(loaded.module, manifest, fitted, calibration=images, feature_detector=detector)
    again = artifact.load(fitted)
    assert again.feature_detector is not None and again.feature_detector.threshold == 12.5
    assert again.feature_detector.temperature == 0.7
    np.testing.assert_array_equal(again.feature_detector.means, detector.means)
    np.testing.assert_array_equal(again.calibration, images)
    assert artifact.weights_sha256(again.module) == artifact.weights_sha256(loaded.module)


def test_an_input_check_fitted_for_other_weights_is_refused(
    saved: tuple[Path, torch.nn.Module], tmp_path: Path
) -> None:
    path, _ = saved
    loaded = artifact.load(path)
    torch.manual_seed(1)
    other = build_model("brainxai_cnn", 4, width=8, dropout=0.0).eval()
    other_module = artifact.script(other.backbone, other.head)
    detector = _detector_for(loaded.module)
    manifest = {**loaded.manifest, "feature_detector": detector.manifest_section()}
    with pytest.raises(ArtifactError, match="fitted for other weights"):
        artifact.save(other_module, manifest, tmp_path / "refused.pt", feature_detector=detector)
    with pytest.raises(ArtifactError, match="no detector was given"):
        artifact.save(loaded.module, manifest, tmp_path / "refused.pt")
    # A file put together by other means (another model's weights under this detector) fails to load.
    extra = {
        artifact.MANIFEST_FILE: json.dumps({**manifest, "format_version": artifact.FORMAT_VERSION}),
        artifact.DETECTOR_FILE: detector.to_bytes(),
    }
    forged = tmp_path / "forged.pt"
    torch.jit.save(other_module, str(forged), _extra_files=extra)
    with pytest.raises(ArtifactError, match="fitted for other weights"):
        artifact.load(forged)


def test_weights_sha256_changes_with_any_weight() -> None:
    torch.manual_seed(0)
    model = build_model("brainxai_cnn", 4, width=8, dropout=0.0).eval()
    before = artifact.weights_sha256(model)
    with torch.no_grad():
        model.head[-1].bias[0] += 1e-6
    assert artifact.weights_sha256(model) != before


@pytest.mark.filterwarnings(JIT_DEPRECATED)
def test_an_artifact_asking_for_a_preprocessing_step_this_version_lacks_is_refused(tmp_path: Path) -> None:
    """An experiment's artifact that equalised its inputs would be answered wrongly without that step: refused."""
    model = build_model("brainxai_cnn", 2, width=8, dropout=0.0)
    path = tmp_path / "equalising.pt"
    manifest = {**_manifest(["x", "y"]), "format_version": artifact.FORMAT_VERSION}
    manifest["preprocessing"] = {**manifest["preprocessing"], "equalise": True}
    torch.jit.save(
        artifact.script(model.backbone, model.head),
        str(path),
        _extra_files={artifact.MANIFEST_FILE: json.dumps(manifest)},
    )
    with pytest.raises(ArtifactError, match="histogram equalisation"):
        artifact.load(path)
