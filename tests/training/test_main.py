"""The training CLI: expected failures are a one-line message and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.__main__ import main


def test_cli_reports_a_bad_model_file_and_exits_2(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    assert main(["evaluate", "--model", str(bad), "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a brainxai model" in caplog.text
