"""Shared fixtures: synthetic phantoms and one tiny trained run, made once per test session."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.helpers import tiny_config
from training.fit import fit
from training.synth import write_phantoms

logging.getLogger("matplotlib").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A phantom dataset of 16 images per class at 64 px; returns its ``Training`` folder."""
    return write_phantoms(tmp_path_factory.mktemp("synth"), n_per_class=16, seed=3, size=64, show_progress=False)


@pytest.fixture(scope="session")
def tiny_run(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny training run on the phantoms; returns its run folder (best.pt, split.json)."""
    out = tmp_path_factory.mktemp("run")
    fit(tiny_config(synth_root, out, epochs=4))
    return out
