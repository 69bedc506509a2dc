"""Provenance: the git commit of the checkout, the exact fit command with non-default options only, this process's
command line and the stamp every written artifact records."""

from __future__ import annotations

import datetime as dt
import re
import sys

import pytest
import torch

from tests.helpers import REPO_ROOT
from training.fit.recipe import FitConfig
from training.provenance import dataclass_defaults, fit_command, git_commit, this_command, written_stamp


def test_the_commit_is_a_sha_marked_dirty_when_the_tree_is() -> None:
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown", git_commit())


def test_the_fit_command_lists_only_what_differs_from_the_defaults() -> None:
    defaults = dataclass_defaults(FitConfig)
    config = {**defaults, "data": str(REPO_ROOT / "data"), "out": "runs/x"}
    command = fit_command(config, defaults)
    assert command.startswith("python -m training fit") and "--data data" in command and "--out runs/x" in command
    assert "--epochs" not in command and "--set" not in command
    assert defaults["epochs"] != 12 and defaults["patience"] != 3
    config = {**config, "epochs": 12, "patience": 3, "skip_bad": True, "amp": not defaults["amp"]}
    command = fit_command(config, defaults)
    amp = "true" if config["amp"] else "false"
    assert "--epochs 12" in command and f"--set amp={amp}" in command and "--set patience=3" in command
    assert "--skip-bad" in command and "--lr" not in command


def test_the_written_stamp_and_the_command_line_name_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/x/training/__main__.py", "export", "--out", "a b.pt"])
    assert this_command() == "python -m training export --out 'a b.pt'"
    stamp = written_stamp()
    assert stamp["torch"] == torch.__version__.split("+")[0]
    assert stamp["git_commit"] == git_commit()
    assert dt.datetime.fromisoformat(stamp["created"]).tzinfo is not None
