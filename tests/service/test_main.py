"""python -m service: bad settings and a foreign model file stop the start with a clear message and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.__main__ import limit_malloc_arenas
from tests.helpers import REPO_ROOT


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **env}
    return subprocess.run([sys.executable, "-m", "service"], env=full, capture_output=True, text=True, timeout=60)


def test_bad_settings_stop_the_start_with_a_clear_message(tiny_model_path: Path) -> None:
    result = _start({"BRAINXAI_MODEL_PATH": str(tiny_model_path), "BRAINXAI_PORT": "not-a-port"})
    assert result.returncode == 2 and "BRAINXAI_PORT" in result.stderr
    missing = _start({"BRAINXAI_MODEL_PATH": "/nonexistent/model.pt"})
    assert missing.returncode == 2 and "no model file at /nonexistent/model.pt" in missing.stderr


def test_a_foreign_model_file_stops_the_start(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"definitely not a model")
    result = _start({"BRAINXAI_MODEL_PATH": str(foreign), "BRAINXAI_PORT": "1"})
    assert result.returncode != 0 and "not a brainxai model" in result.stderr


def test_malloc_arenas_are_capped_unless_the_operator_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True  # glibc accepted M_ARENA_MAX (this machine is glibc-based)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False
