"""The documents' prose quotes the shipped model's reports, or says which older model or day a figure is from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import prose_numbers  # bench/prose_numbers.py (tests/bench/conftest.py)
import pytest

from tests.helpers import REPO_ROOT

COPIED = ("README.md", "docs", "recipes", "deploy", "models/MODEL_CARD.notes.md", "models/brainxai-cnn.pt")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what the check reads: the documents, the reports, the shipped configuration and artifact."""
    root = tmp_path_factory.mktemp("repo")
    for name in COPIED:
        source, target = REPO_ROOT / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    return root


def _scaled(value: Any, factor: float) -> Any:
    """``value`` with every float in it multiplied by ``factor`` (a report whose measurements all changed)."""
    if isinstance(value, float):
        return value * factor
    if isinstance(value, dict):
        return {key: _scaled(item, factor) for key, item in value.items()}
    if isinstance(value, list):
        return [_scaled(item, factor) for item in value]
    return value


def test_every_figure_in_the_prose_is_in_a_report_of_the_shipped_model_or_labelled() -> None:
    missing = prose_numbers.unaccounted(REPO_ROOT)
    listed = [f"{figure.file}:{figure.line}: {figure.text}" for figure in missing]
    assert not listed, "figures in no report of the shipped model (python bench/prose_numbers.py):\n" + "\n".join(
        listed
    )


def test_a_changed_report_value_fails_the_check(scratch: Path) -> None:
    page = scratch / "docs" / "PROSE.md"
    report = scratch / "docs" / "evaluation" / "metrics.json"
    metrics = json.loads(report.read_text())
    low = 100 * metrics["ci95"]["accuracy"][0]  # in the report alone (the manifest carries no interval)
    page.write_text(f"# A page\n\nAccuracy at least {low:.2f} % (docs/evaluation/metrics.json).\n")
    assert prose_numbers.unaccounted(scratch) == []

    report.write_text(json.dumps(_scaled(metrics, 0.9)))
    try:
        missing = [figure.text for figure in prose_numbers.unaccounted(scratch) if figure.file == "docs/PROSE.md"]
        assert missing == [f"{low:.2f} %"]
    finally:
        report.write_text(json.dumps(metrics))
        page.unlink()


def test_a_report_the_page_does_not_name_is_not_its_source(scratch: Path) -> None:
    page = scratch / "docs" / "PROSE.md"
    metrics = json.loads((scratch / "docs" / "evaluation" / "metrics.json").read_text())
    low = 100 * metrics["ci95"]["accuracy"][0]
    page.write_text(f"# A page\n\nAccuracy at least {low:.2f} %.\n")
    try:
        assert [figure.text for figure in prose_numbers.unaccounted(scratch)] == [f"{low:.2f} %"]
    finally:
        page.unlink()


def test_a_figure_of_another_version_passes_only_when_its_sentence_says_so(scratch: Path) -> None:
    page = scratch / "docs" / "PROSE.md"
    page.write_text("# A page\n\nLIME takes 987.65 ms.\n\nOn 2.1.0 LIME took 987.65 ms.\n\nOn 2026-11-28: 987.65 ms.\n")
    try:
        missing = [(figure.line, figure.text) for figure in prose_numbers.unaccounted(scratch)]
        assert missing == [(3, "987.65 ms")]
    finally:
        page.unlink()


def test_a_report_of_another_model_is_not_a_source(scratch: Path) -> None:
    """A report naming another artifact counts as neither current nor a source; one naming the shipped one does."""
    identity = prose_numbers.shipped_identity(scratch)
    folder = scratch / "docs" / "evaluation"
    (folder / "older.json").write_text(json.dumps({"model": {"sha256": "0" * 64}, "lime_ms": 987.65}))
    (folder / "newer.json").write_text(json.dumps({"model": {"sha256": identity["sha256"]}, "lime_ms": 123.45}))
    try:
        current, other = prose_numbers.current_reports(scratch, identity)
        assert folder / "older.json" in other and folder / "newer.json" in current
        known = prose_numbers.known_numbers(scratch)
        assert 123.45 in known.reports and 987.65 not in known.reports
    finally:
        (folder / "older.json").unlink()
        (folder / "newer.json").unlink()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("p50 8.5 ms and 1,212 MiB", ["8.5 ms", "1,212 MiB"]),
        ("a 224×224 input, 3 × 3 kernels, ±8 % aspect", []),
        ("12.6× the peer, 95 % intervals", ["12.6×", "95 %"]),
        ("version 3.0.1, 0.49 GFLOPs", []),
    ],
)
def test_what_counts_as_a_figure(line: str, expected: list[str]) -> None:
    assert [match.group(0) for match in prose_numbers.FIGURE.finditer(line)] == expected
