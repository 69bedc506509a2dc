"""Where an artifact came from: the git commit and the exact command lines."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def git_commit() -> str:
    """The repository's HEAD commit, with ``-dirty`` when tracked files have uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def this_command() -> str:
    """The ``python -m training …`` command line this process runs."""
    return shlex.join(["python", "-m", "training", *sys.argv[1:]])


def written_stamp() -> dict[str, str]:
    """What every artifact the training package writes records of its writing: the git commit, the time (UTC) and
    the torch version."""
    import torch

    return {
        "git_commit": git_commit(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__.split("+")[0],
    }


# The fit settings with a flag of their own; every other setting is written as ``--set NAME=VALUE``.
FIT_FLAGS = ("data", "out", "boxes", "unknown_kind", "epochs", "batch_size", "lr", "seed", "device", "skip_bad")


def fit_command(config: dict[str, Any], defaults: dict[str, Any]) -> str:
    """The ``python -m training fit`` command line that reproduces a run of ``config``.

    Settings equal to their defaults are left out except ``--data`` and ``--out``, which are always given so the
    command is unambiguous; paths are written relative to the repository. Settings without a flag of their own are
    given as ``--set NAME=VALUE``.
    """
    parts = ["python", "-m", "training", "fit"]
    for name, value in config.items():
        if name not in ("data", "out") and defaults.get(name) == value:
            continue
        if name in ("data", "boxes", "unknown_kind") and value and os.path.isabs(value):
            value = os.path.relpath(value, REPO_ROOT)
        if name == "skip_bad":
            parts += ["--skip-bad"] if value else []
        elif name in FIT_FLAGS:
            parts += ["--" + name.replace("_", "-"), str(value)]
        else:
            written = str(value).lower() if isinstance(value, bool) else str(value)
            parts += ["--set", f"{name}={written}"]
    return shlex.join(parts)


def dataclass_defaults(cls: Any) -> dict[str, Any]:
    """Field defaults of a dataclass type (fields without a default are omitted)."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
