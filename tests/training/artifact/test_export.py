"""Export writes a loadable artifact that agrees with training; evaluate reports what fit measured."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mlcore import artifact
from mlcore.errors import TrainingError
from training.artifact.export import export
from training.fit.checkpoint import load_trained


def test_export_round_trip_matches_the_eager_model(tiny_run: Path, exported: Path) -> None:
    model, checkpoint = load_trained(tiny_run / "best.pt")
    loaded = artifact.load(exported)
    x = torch.randn(5, 1, 48, 48)
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), model(x), atol=1e-5)
    manifest = loaded.manifest
    assert manifest["name"] == "tiny" and manifest["version"] == "0.0.1"
    assert manifest["classes"] == checkpoint["classes"] == ["glioma", "meningioma", "notumor", "pituitary"]
    assert manifest["input"]["size"] == 48
    assert manifest["preprocessing"]["mean"] == checkpoint["preprocess"]["mean"]
    assert manifest["parameters"] == sum(p.numel() for p in model.parameters())
    assert manifest["flops"] == 2 * manifest["macs"] > 0
    assert manifest["metrics"]["validation"]["accuracy"] == checkpoint["metrics"]["accuracy"]
    assert manifest["data"]["fingerprint"] == checkpoint["fingerprint"]
    assert "python -m training fit" in manifest["provenance"]["fit_command"]
    assert "--set image_size=48" in manifest["provenance"]["fit_command"]
    assert manifest["training"]["recipe"]["image_size"] == 48 and "data" not in manifest["training"]["recipe"]
    assert len(manifest["provenance"]["git_commit"]) >= 7


def test_export_refuses_to_overwrite_with_a_broken_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="no checkpoint"):
        export(tmp_path / "missing.pt", tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_export_of_a_resume_state_says_which_file_to_give(tiny_run: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"resume state \(last.pt\); give .*best.pt"):
        export(tiny_run / "last.pt", tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_a_notumor_offset_lowers_that_logit_alone_and_the_manifest_says_so(
    tiny_run: Path, exported: Path, tmp_path: Path
) -> None:
    moved = tmp_path / "moved.pt"
    export(tiny_run / "best.pt", moved, name="tiny", version="0.0.1", notumor_offset=0.5)
    plain, shifted = artifact.load(exported), artifact.load(moved)
    x = torch.randn(6, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        difference = shifted.module(x) - plain.module(x)
    notumor = plain.classes.index("notumor")
    others = [index for index in range(len(plain.classes)) if index != notumor]
    assert torch.allclose(difference[:, notumor], torch.full((6,), -0.5), atol=1e-5)
    assert float(difference[:, others].abs().max()) <= 1e-5
    assert shifted.manifest["training"]["notumor_logit_offset"] == 0.5
    assert plain.manifest["training"]["notumor_logit_offset"] == 0.0
    # the manifest's validation metrics are the moved model's: as many images, no more answered "notumor"
    before, after = plain.manifest["metrics"]["validation"], shifted.manifest["metrics"]["validation"]
    assert after["n"] == before["n"]
    assert sum(row[notumor] for row in after["confusion_matrix"]) <= sum(
        row[notumor] for row in before["confusion_matrix"]
    )
    assert after["nll"] != before["nll"]
