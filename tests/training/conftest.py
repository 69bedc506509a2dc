"""Fixtures of the training tests: the tiny run's model, exported once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.artifact.export import export


@pytest.fixture(scope="module")
def exported(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run (tests/conftest.py) exported as an artifact."""
    path = tmp_path_factory.mktemp("export") / "tiny.pt"
    export(tiny_run / "best.pt", path, name="tiny", version="0.0.1")
    return path
