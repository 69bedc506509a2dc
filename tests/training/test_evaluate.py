"""Evaluation of an artifact reproduces the validation metrics of its fit and writes its report."""

from __future__ import annotations

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
    for name in ("confusion_matrix.png", "reliability.png", "report.md"):
        assert (tmp_path / name).stat().st_size > 0
    assert "macro-F1" in (tmp_path / "report.md").read_text()
