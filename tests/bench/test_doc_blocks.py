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
