"""What the benchmark scripts share: where things are, what machine ran them, the inputs, and the service process.

``bench.py``, ``admission.py`` and ``soak.py`` import this module; it imports none of them (no import circle).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import platform
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydicom
import torch
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from mlcore import artifact
from mlcore.cpu import cpu_info

REPO = Path(__file__).resolve().parents[1]
MODEL = artifact.DEFAULT_MODEL
SAMPLE = REPO / "tests" / "data" / "samples" / "glioma" / "Tr-gl_0716.jpg"


def machine() -> dict[str, Any]:
    """What ran the benchmark."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", "mlcore", "service"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__.split("+")[0],
        "git_commit": (commit.stdout.strip() or "unknown") + (" + uncommitted changes" if dirty.stdout.strip() else ""),
        "cpu_flags": cpu_info()["flags"],
        "model": model_label(),  # what `python -m service` serves with default settings
    }


def make_inputs(folder: Path) -> tuple[Path, Path]:
    """A 512×512 JPEG and a 512×512 16-bit MR DICOM made from a committed sample."""
    image = Image.open(SAMPLE).convert("L").resize((512, 512), Image.Resampling.BICUBIC)
    jpeg = folder / "slice-512.jpg"
    image.save(jpeg, quality=92)
    pixels = (np.asarray(image, dtype=np.uint16) * 16).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientID, ds.PatientName = "MR", "BENCH", "Bench^Phantom"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelData = pixels.tobytes()
    dicom = folder / "slice-512.dcm"
    ds.save_as(dicom, enforce_file_format=True)
    return jpeg, dicom


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def default_service() -> Server:
    """``python -m service`` with its default settings on a free loopback port (logging warnings only)."""
    port = free_port()
    env = {"BRAINXAI_PORT": str(port), "BRAINXAI_LOG_LEVEL": "WARNING"}
    return Server([sys.executable, "-m", "service"], env, "/readyz", port)


class Server:
    """A server process on loopback; its peak RSS is read from /proc before it stops."""

    def __init__(self, command: list[str], env: dict[str, str], ready_path: str, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        self.ready_s = float("nan")  # seconds from the process start to its first ready answer
        self.process = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{command} exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + ready_path, timeout=1).is_success:
                    self.ready_s = time.monotonic() - started
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"{command} did not answer in 120 s")

    def peak_rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def _manifest(artifact_bytes: bytes) -> dict[str, Any] | None:
    """An artifact's manifest, read from the archive without loading the model; None when unreadable."""
    try:
        with zipfile.ZipFile(io.BytesIO(artifact_bytes)) as archive:
            name = next(n for n in archive.namelist() if n.endswith(f"extra/{artifact.MANIFEST_FILE}"))
            return dict(json.loads(archive.read(name)))
    except (zipfile.BadZipFile, StopIteration, KeyError, ValueError):
        return None


def manifest_version(artifact_bytes: bytes) -> str | None:
    """The model version in an artifact's manifest, read from the archive without loading it; None when unreadable."""
    manifest = _manifest(artifact_bytes)
    return str(manifest["version"]) if manifest and "version" in manifest else None


def model_label(path: Path = MODEL) -> str:
    """``name version`` of the model a measurement served (the shipped one unless told), for its report."""
    manifest = _manifest(path.read_bytes()) or {}
    return f"{manifest.get('name', path.stem)} {manifest.get('version', 'unknown')}"


def previous_model(folder: Path) -> tuple[Path, str] | None:
    """The previous model *version* shipped, from git history, written to ``folder``, with its version; None without
    one.

    Walks the commits that changed ``models/brainxai-cnn.pt`` (newest first) and takes the first file whose manifest
    names another version than the working tree's (an earlier export of the same version is not a comparison).
    """
    current = manifest_version(MODEL.read_bytes())
    relative = str(MODEL.relative_to(REPO))
    listing = subprocess.run(
        ["git", "log", "--format=%H", "--", relative], capture_output=True, text=True, cwd=REPO, check=False
    )
    for commit in listing.stdout.split():
        shown = subprocess.run(["git", "show", f"{commit}:{relative}"], capture_output=True, cwd=REPO, check=False)
        version = manifest_version(shown.stdout) if shown.returncode == 0 else None
        if version is not None and version != current:
            path = folder / "previous.pt"
            path.write_bytes(shown.stdout)
            return path, version
    return None
