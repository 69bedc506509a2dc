"""Real DICOM peers and the conformance checker for the tests: dcmtk's storescp/storescu/echoscu and dicom3tools'
dciodvfy (Debian packages ``dcmtk`` and ``dicom3tools``, installed by ``make system-deps``)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pydicom
import pytest

from tests.http.conftest import free_port

DCMTK_MISSING = shutil.which("storescp") is None or shutil.which("storescu") is None
DCIODVFY_MISSING = shutil.which("dciodvfy") is None
needs_dcmtk = pytest.mark.skipif(DCMTK_MISSING, reason="dcmtk (storescp, storescu, echoscu) is not installed")
needs_dciodvfy = pytest.mark.skipif(DCIODVFY_MISSING, reason="dicom3tools (dciodvfy) is not installed")


def dciodvfy_errors(dataset: pydicom.Dataset) -> list[str]:
    """The error lines dciodvfy reports for ``dataset`` (its warnings are left out)."""
    with tempfile.NamedTemporaryFile(suffix=".dcm") as file:
        dataset.save_as(file.name, enforce_file_format=True)
        checked = subprocess.run(["dciodvfy", file.name], capture_output=True, text=True, errors="replace", check=False)
    return [line for line in (checked.stdout + checked.stderr).splitlines() if line.startswith("Error")]


def echo(port: int, called: str, calling: str = "ECHOSCU") -> bool:
    """Whether echoscu gets a successful C-ECHO answer."""
    answer = subprocess.run(
        ["echoscu", "-aet", calling, "-aec", called, "127.0.0.1", str(port)], capture_output=True, check=False
    )
    return answer.returncode == 0


def storescu(port: int, called: str, files: list[Path], calling: str = "SCANNER") -> subprocess.CompletedProcess[str]:
    """dcmtk's storescu sending ``files`` in one association."""
    command = ["storescu", "-aet", calling, "-aec", called, "127.0.0.1", str(port), *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


class StoreScp:
    """dcmtk's storescp on a free loopback port, accepting any storage SOP class into ``folder``."""

    def __init__(
        self, folder: Path, ae_title: str = "RESULTS", port: int | None = None, *, unique: bool = False
    ) -> None:
        """``unique``: every received object gets a file of its own, the same instance twice two files (to count
        duplicates)."""
        self.folder, self.ae_title, self.port = folder, ae_title, port or free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                "storescp",
                "--promiscuous",
                *(["--unique-filenames"] if unique else []),
                "-aet",
                ae_title,
                "-od",
                str(folder),
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not echo(self.port, ae_title):
            if time.monotonic() > deadline:
                raise RuntimeError("storescp did not answer C-ECHO in 10 s")
            time.sleep(0.1)

    @property
    def destination(self) -> str:
        return f"{self.ae_title}@127.0.0.1:{self.port}"

    def received(self, count: int, timeout_s: float = 60.0) -> list[pydicom.Dataset]:
        """The instances received, once there are ``count`` of them (or the timeout passed)."""
        deadline = time.monotonic() + timeout_s
        while len(list(self.folder.iterdir())) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # the last file may still be being written
        return [pydicom.dcmread(path) for path in sorted(self.folder.iterdir())]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
