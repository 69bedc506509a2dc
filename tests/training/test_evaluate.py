"""Evaluation of an artifact reproduces the validation metrics of its fit and writes its report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as samples

from mlcore import artifact
from training.__main__ import main


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
    # the phantoms' tumor-boxes.csv lies beside their Training folder: every validation tumour it boxes is binned
    with open(synth_root.parent / "tumor-boxes.csv", newline="") as handle:
        boxed = {row["path"] for row in csv.DictReader(handle) if row["label"] != "notumor"}
    validation = set(json.loads((tiny_run / "split.json").read_text())["val"])
    assert sum(row["n"] for row in metrics["by_tumour_size"]) == len(boxed & validation) > 0
    assert "## By tumour size" in (tmp_path / "report.md").read_text()


def _ood_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    images = {
        "synthetic/noise.png": (rng.random((80, 80)) * 255).astype(np.uint8),
        "synthetic/blank.png": np.zeros((80, 80), np.uint8),
        "photographs/camera.png": samples.camera(),
        "photographs/astronaut.png": samples.astronaut(),
    }
    for name, pixels in images.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / name)
    return root


def test_evaluate_reports_calibration_and_the_input_check_against_an_ood_folder(
    tiny_run: Path, ood_model_path: Path, synth_root: Path, tmp_path: Path
) -> None:
    ood = _ood_folder(tmp_path / "ood")
    args = ["evaluate", "--model", str(ood_model_path), "--data", str(synth_root)]
    assert main([*args, "--split", str(tiny_run / "split.json"), "--out", str(tmp_path / "e"), "--ood", str(ood)]) == 0
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    model = artifact.load(ood_model_path)
    assert model.reliability is not None
    calibration = metrics["calibration"]
    assert calibration["temperature"] == model.reliability.temperature
    assert calibration["ece_after"] == pytest.approx(metrics["ece"])
    stored = model.manifest["reliability"]["calibration"]  # fitted on the same validation side
    assert calibration["ece_before"] == pytest.approx(stored["ece_before"], abs=1e-4)
    check = metrics["input_check"]
    assert check["ood"] == {"n": 4, "caught": 1.0} and check["missed"] == []
    assert set(check["groups"]) == {"synthetic", "photographs"} and check["auroc"] > 0.9
    assert check["in_distribution"]["n"] == 16 and check["in_distribution"]["false_refusal_rate"] <= 0.25
    report = (tmp_path / "e" / "report.md").read_text()
    assert "## Calibration" in report and "## Input check" in report
    assert (tmp_path / "e" / "reliability_before.png").stat().st_size > 0
