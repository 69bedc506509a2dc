"""Atomic file writes: a temporary file in the same folder, renamed over the target when complete.

A kill part-way through leaves the previous file intact (a rename within one file system is atomic).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], None], *, mode: int = 0o644) -> None:
    """Call ``write(temporary_path)``, then move the result to ``path`` (readable by others, ``mode``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp_name))
        os.chmod(tmp_name, mode)  # mkstemp makes it private
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    atomic_write(path, write)
