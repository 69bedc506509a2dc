"""Atomic writes: a writer killed part-way leaves the previous file whole, and no temporary file behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlcore.files import atomic_write, atomic_write_text
from tests.helpers import REPO_ROOT

# A child that writes 1 MB, says so, then hangs in the middle of writing (until it is killed).
SLOW_WRITER = """
import sys, time
from pathlib import Path
from mlcore.files import atomic_write

def write(tmp: Path) -> None:
    with open(tmp, "wb") as handle:
        handle.write(b"n" * 1_000_000)
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)

atomic_write(Path(sys.argv[1]), write)
"""


def test_a_completed_write_replaces_the_file_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "history.json"
    atomic_write_text(target, "[1]")
    atomic_write_text(target, "[1, 2]")
    assert target.read_text() == "[1, 2]" and (target.stat().st_mode & 0o777) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["history.json"]


def test_a_failing_writer_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "last.pt"
    target.write_bytes(b"previous")

    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_writer_killed_mid_write_leaves_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "last.pt"
    target.write_bytes(b"previous checkpoint")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target)], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None and child.stdout.readline().strip() == b"writing"
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # it was really writing beside the target
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    time.sleep(0.05)
    assert target.read_bytes() == b"previous checkpoint"
