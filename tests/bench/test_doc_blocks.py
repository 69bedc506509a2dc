"""The documents' measured figures follow the committed reports (bench/doc_blocks.py): each block equals its
rendering from the reports, and a report changed without its documents is caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from doc_blocks import BLOCKS, SOURCES, committed, write  # bench/doc_blocks.py (tests/bench/conftest.py)

from tests.helpers import REPO_ROOT


@pytest.mark.parametrize(("file", "name"), sorted(BLOCKS))
def test_each_measured_block_is_what_the_reports_say(file: str, name: str) -> None:
    held = committed(REPO_ROOT, file, name)
    assert held is not None, f"{file} lost its <!-- measured:{name} --> block"
    rewrite = "python bench/doc_blocks.py"
    assert held == BLOCKS[(file, name)](REPO_ROOT), f"{file}:{name} disagrees with its reports: {rewrite}"


def test_a_changed_report_makes_its_blocks_disagree_until_they_are_rewritten(tmp_path: Path) -> None:
    """In a scratch copy: the benchmark's peak memory changed → the README and DEPLOY blocks no longer match; the
    rewrite puts the new number in and leaves the rest of each file as it was."""
    for relative in {*SOURCES, *(file for file, _ in BLOCKS)}:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / relative, tmp_path / relative)
    report = tmp_path / "docs" / "BENCHMARKS.json"
    results = json.loads(report.read_text())
    results["service_peak_rss_mb"] = 4321.0
    report.write_text(json.dumps(results))
    stale = [key for key, render in BLOCKS.items() if committed(tmp_path, *key) != render(tmp_path)]
    assert stale == [("README.md", "speed"), ("docs/DEPLOY.md", "api-sizing")]
    readme_before = (tmp_path / "README.md").read_text()
    assert sorted(write(tmp_path)) == ["README.md:speed", "docs/DEPLOY.md:api-sizing"]
    readme_after = (tmp_path / "README.md").read_text()
    assert "4,321 MiB" in readme_after and "4,321 MiB" not in readme_before
    assert readme_after.replace(committed(tmp_path, "README.md", "speed") or "", "") == readme_before.replace(
        committed(REPO_ROOT, "README.md", "speed") or "", ""
    )


def test_the_model_table_shows_the_shipped_models_reports_and_refuses_a_mix(tmp_path: Path) -> None:
    """Every quality report measured the artifact that ships; a report of another artifact makes the README's model
    table fail to render instead of showing its numbers as the shipped model's. A changed quality number changes the
    table."""
    from doc_blocks import QUALITY_REPORTS, measured_model, readme_model_quality

    from mlcore import artifact

    assert measured_model(REPO_ROOT)["sha256"] == artifact.file_sha256(artifact.DEFAULT_MODEL)
    for relative in QUALITY_REPORTS:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / relative, tmp_path / relative)
    metrics_path = tmp_path / "docs" / "evaluation" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["counterfactual"]["donor"]["all"]["answered_notumor"] = 0.5
    metrics_path.write_text(json.dumps(metrics))
    assert "**50.0 %**" in readme_model_quality(tmp_path) and readme_model_quality(tmp_path) != committed(
        REPO_ROOT, "README.md", "model-quality"
    )
    metrics["model"] = {**metrics["model"], "sha256": "0" * 64, "version": "9.9.9"}
    metrics_path.write_text(json.dumps(metrics))
    with pytest.raises(ValueError, match="different artifacts"):
        readme_model_quality(tmp_path)
