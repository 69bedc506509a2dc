"""explain-eval writes its report, JSON and figure."""

from __future__ import annotations

import json
from pathlib import Path

from mlcore import artifact
from training.__main__ import main


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
            "--param",
            "lime.num_samples=60",
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
    written = json.loads((out / "summary.json").read_text())  # what the committed report documents read
    assert written["model"]["sha256"] == artifact.load(exported).sha256 and written["command"].startswith(
        "python -m training"
    )
    entry = written["summary"]["gradcam"]["all"]
    low, high = entry["ci95"]["pointing_game"]
    assert low <= entry["pointing_game"] <= high and "seconds" not in entry["ci95"]
    assert "deletion AUC, blur fill" in report and "answered notumor" in report
    counterfactual = json.loads((out / "explanations.json").read_text())["counterfactual"]
    assert set(counterfactual["summary"]) >= {"insert"}  # removals only where a box lies off the midline
    assert all(row["path"] in val for row in counterfactual["rows"])
    assert "## The evidence check of each map" in report
    for row in rows:  # every map is checked as the service checks it, against the same rule on the true box
        if "evidence_depends" in row:
            agrees = row["evidence_depends"] == row["box_removal_depends"]
            assert row["evidence_agrees_with_box"] == agrees and isinstance(row["evidence_control_depends"], bool)
    assert sum("evidence_depends" in row for row in rows) >= len(rows) // 2


def test_a_bad_method_parameter_is_a_one_line_error(exported: Path, synth_root: Path, tmp_path: Path) -> None:
    for bad in ("lime.num_samples=10", "lime.window=3", "nonsense"):
        argv = ["explain-eval", "--model", str(exported), "--data", str(synth_root), "--split", "none"]
        assert main([*argv, "--methods", "lime", "--param", bad, "--out", str(tmp_path)]) == 2, bad
