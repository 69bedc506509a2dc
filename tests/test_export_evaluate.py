"""Export writes a loadable artifact that agrees with training; evaluate reports what fit measured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mlcore import artifact
from training.__main__ import main
from training.export import export
from training.fit import load_trained


@pytest.fixture(scope="module")
def exported(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "tiny.pt"
    export(tiny_run / "best.pt", path, name="tiny", version="0.0.1")
    return path


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
    assert "--image-size 48" in manifest["provenance"]["fit_command"]
    assert len(manifest["provenance"]["git_commit"]) >= 7


def test_evaluate_reproduces_the_validation_metrics_of_fit(
    tiny_run: Path, exported: Path, synth_root: Path, tmp_path: Path
) -> None:
    code = main(
        [
            "evaluate",
            "--model",
            str(exported),
            "--data",
            str(synth_root),
            "--split",
            str(tiny_run / "split.json"),
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    expected = artifact.load(exported).manifest["metrics"]["validation"]
    assert metrics["n"] == expected["n"]
    assert metrics["confusion_matrix"] == expected["confusion_matrix"]
    assert metrics["nll"] == pytest.approx(expected["nll"], abs=1e-4)
    for name in ("confusion_matrix.png", "reliability.png", "report.md"):
        assert (tmp_path / name).stat().st_size > 0
    assert "macro-F1" in (tmp_path / "report.md").read_text()


def test_export_refuses_to_overwrite_with_a_broken_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        export(tmp_path / "missing.pt", tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_cli_reports_a_bad_model_file_and_exits_2(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    assert main(["evaluate", "--model", str(bad), "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a brainxai model" in caplog.text


def test_explain_eval_writes_the_report_json_and_figure(
    tiny_run: Path, exported: Path, synth_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "explanations"
    code = main(
        [
            "explain-eval",
            "--model",
            str(exported),
            "--data",
            str(synth_root),
            "--split",
            str(tiny_run / "split.json"),
            "--methods",
            "gradcam,lime",
            "--lime-samples",
            "60",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    report = (out / "EXPLANATIONS.md").read_text()
    for name in ("gradcam", "lime", "centre_prior", "random", "pointing game"):
        assert name in report
    rows = json.loads((out / "explanations.json").read_text())["rows"]
    val = set(json.loads((tiny_run / "split.json").read_text())["val"])
    assert rows and all(row["path"] in val for row in rows)
    assert (out / "explanations.png").stat().st_size > 0


def test_the_model_card_carries_the_artifacts_own_numbers(exported: Path, tmp_path: Path) -> None:
    card_path = tmp_path / "MODEL_CARD.md"
    assert main(["card", "--model", str(exported), "--out", str(card_path)]) == 0
    card = card_path.read_text()
    manifest = artifact.load(exported).manifest
    validation = manifest["metrics"]["validation"]
    assert f"| {validation['accuracy']:.4f} | {validation['macro_f1']:.4f} |" in card
    assert manifest["provenance"]["fit_command"] in card and manifest["data"]["fingerprint"] in card
    assert "not a medical device" in card.lower()


def test_calibrate_stores_train_side_images_and_keeps_the_weights(
    tiny_run: Path, exported: Path, synth_root: Path, tmp_path: Path
) -> None:
    calibrated = tmp_path / "calibrated.pt"
    calibrated.write_bytes(exported.read_bytes())
    split = tiny_run / "split.json"
    args = ["calibrate", "--model", str(calibrated), "--data", str(synth_root), "--split", str(split)]
    assert main([*args, "--per-class", "3"]) == 0
    before, after = artifact.load(exported), artifact.load(calibrated)
    assert before.calibration is None
    assert after.calibration is not None and after.calibration.shape == (12, 48, 48)
    assert after.calibration.dtype == np.uint8 and after.calibration.max() > 0
    names = after.manifest["calibration"]["images"]
    train = {path.split("/", 1)[1] for path in json.loads(split.read_text())["train"]}
    assert len(names) == 12 and set(names) <= train
    assert {name.split("/")[0] for name in names} == set(after.classes)
    x = torch.randn(3, 1, 48, 48)
    with torch.inference_mode():
        assert torch.equal(before.module(x), after.module(x))
    card = tmp_path / "CARD.md"
    assert main(["card", "--model", str(calibrated), "--out", str(card)]) == 0
    assert "int8 calibration: 12 images of the **training** side" in card.read_text()
