"""Evaluation of an artifact reproduces the validation metrics of its fit and writes its report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

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
    for name in ("confusion_matrix.png", "calibration.png", "report.md"):
        assert (tmp_path / name).stat().st_size > 0
    assert "macro-F1" in (tmp_path / "report.md").read_text()
    # the phantoms' tumor-boxes.csv lies beside their Training folder: every validation tumour it boxes is binned
    with open(synth_root.parent / "tumor-boxes.csv", newline="") as handle:
        boxed = {row["path"] for row in csv.DictReader(handle) if row["label"] != "notumor"}
    validation = set(json.loads((tiny_run / "split.json").read_text())["val"])
    assert sum(row["n"] for row in metrics["by_tumour_size"]) == len(boxed & validation) > 0
    assert "## By tumour size" in (tmp_path / "report.md").read_text()


def test_evaluate_reports_calibration_refusals_the_same_collection_and_the_counterfactuals(
    tiny_run: Path, ood_model_path: Path, synth_root: Path, unknown_kind_root: Path, tmp_path: Path
) -> None:
    args = [
        "evaluate",
        "--model",
        str(ood_model_path),
        "--data",
        str(synth_root),
        "--split",
        str(tiny_run / "split.json"),
    ]
    assert main([*args, "--out", str(tmp_path / "e"), "--unknown-kind", str(unknown_kind_root)]) == 0
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    model = artifact.load(ood_model_path)
    assert model.feature_detector is not None
    calibration = metrics["calibration"]
    assert calibration["temperature"] == model.feature_detector.temperature
    assert calibration["ece_after"] == pytest.approx(metrics["ece"])
    stored = model.manifest["feature_detector"]["calibration"]  # fitted on the same validation side
    assert calibration["ece_before"] == pytest.approx(stored["ece_before"], abs=1e-4)
    check = metrics["input_check"]
    assert check["n"] == 16 and check["refused"] <= 0.25  # the threshold was set for 10 % on these
    same = metrics["same_collection"]  # this run trained on none: every image counts, the first of each group
    assert same["groups"]["n"] == 4 and same["copies"]["n"] == 12
    for counted in same.values():
        shares = counted["answered_tumour"] + counted["refused"] + counted["answered_notumor"]
        assert shares == pytest.approx(1.0)
    assert set(metrics["counterfactual"]) >= {"inpaint", "donor", "biharmonic"}
    report = (tmp_path / "e" / "report.md").read_text()
    for section in ("## Calibration", "## Input check on these images", "## Tumours from the collection", "removal"):
        assert section in report
    assert (tmp_path / "e" / "calibration_before.png").stat().st_size > 0


def test_the_same_collection_section_counts_only_the_held_aside_groups_of_a_model_that_trained_on_some(
    unknown_kind_root: Path, tmp_path: Path
) -> None:
    from training.evaluation.evaluate import unknown_kind_files

    split = tmp_path / "split.json"
    split.write_text(
        json.dumps(
            {"unknown_kind": {"val": ["images/" + p.name for p in (unknown_kind_root / "images").glob("g01-*")]}}
        )
    )
    paths, groups = unknown_kind_files(unknown_kind_root, split)
    assert len(paths) == 3 and set(groups) == {"g01"}
    assert len(unknown_kind_files(unknown_kind_root, None)[0]) == 12
