"""What the DICOM node acknowledged, on disk before the acknowledgement: nothing acknowledged is lost in a crash.

Each accepted instance is written to ``<spool>/<series UID>/<SOP instance UID>.dcm`` — to a temporary file, flushed
and fsync'd, renamed into place, and the folder fsync'd — before the C-STORE is answered "success"; a write that
fails (disk full, read-only, no permission) is :class:`~mlcore.errors.StorageFailed` and the C-STORE gets "out of
resources" (0xA700), never a success. The same instance sent twice (a PACS retrying after a timeout) is kept once.
A series' files are removed only once its results are in the outbox; a node that starts finds every series still
spooled and finishes it. A series of which no report could be made is set aside in ``failed/`` and tried again once
at the next start. The calling AE title of a series is kept beside its instances (for the logs).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pydicom

from service.errors import StorageFailed

CALLER_FILE = "caller.txt"


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Spool:
    """A folder of received instances, one sub-folder per series."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def keep(self, dataset: pydicom.Dataset, calling_ae: str = "") -> bool:
        """Write ``dataset`` durably (see the module); False when it was already kept. :class:`StorageFailed` when it
        cannot be written."""
        series = self.folder / str(dataset.SeriesInstanceUID)
        target = series / f"{dataset.SOPInstanceUID}.dcm"
        if target.exists():
            return False
        temporary = series / f".{dataset.SOPInstanceUID}.{os.getpid()}.tmp"
        try:
            series.mkdir(exist_ok=True)
            if calling_ae and not (series / CALLER_FILE).exists():
                (series / CALLER_FILE).write_text(calling_ae)
            with open(temporary, "wb") as handle:
                dataset.save_as(handle, enforce_file_format=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
            _fsync_folder(series)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise StorageFailed(
                f"the instance could not be kept on the node's storage ({exc.strerror or exc})"
            ) from exc
        return True

    def series(self) -> dict[str, list[Path]]:
        """Every spooled series and its instance files (what a restarted node must still finish)."""
        return {
            folder.name: sorted(folder.glob("*.dcm"))
            for folder in sorted(self.folder.iterdir())
            if folder.is_dir() and folder.name != "failed" and any(folder.glob("*.dcm"))
        }

    def calling_ae(self, series_uid: str) -> str:
        """The AE title that sent the series (empty when not known)."""
        caller = self.folder / series_uid / CALLER_FILE
        return caller.read_text() if caller.is_file() else ""

    def set_aside(self, series_uid: str) -> None:
        """Move a series of which no report could be made to ``<spool>/failed/`` (kept for an operator; tried again at
        the next start, :meth:`retry_failed`)."""
        failed = self.folder / "failed"
        failed.mkdir(exist_ok=True)
        source = self.folder / series_uid
        if source.is_dir():
            os.replace(source, failed / series_uid)

    def failed(self) -> list[str]:
        """The series set aside in ``<spool>/failed/``."""
        failed = self.folder / "failed"
        return sorted(path.name for path in failed.iterdir() if path.is_dir()) if failed.is_dir() else []

    def retry_failed(self) -> list[str]:
        """Put every series of ``failed/`` back in the spool (a start tries each again once: a newer version, or a
        mended cause, may make its report); returns them."""
        retried = []
        for series_uid in self.failed():
            target = self.folder / series_uid
            if not target.exists():
                os.replace(self.folder / "failed" / series_uid, target)
                retried.append(series_uid)
        return retried

    def remove(self, series_uid: str) -> None:
        """Forget a series whose results are in the outbox."""
        shutil.rmtree(self.folder / series_uid, ignore_errors=True)

    def waiting(self) -> tuple[int, int, float]:
        """Series and instances waiting, and the age in seconds of the oldest instance (0 when none)."""
        spooled = self.series()
        files = [path for paths in spooled.values() for path in paths]
        oldest = min((path.stat().st_mtime for path in files), default=time.time())
        return len(spooled), len(files), max(0.0, time.time() - oldest)
