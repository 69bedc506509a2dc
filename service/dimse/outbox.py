"""Results on disk until the destination has them: nothing the node makes is lost silently.

Each result is written to ``<outbox>/`` as a DICOM file before the first send. :meth:`Outbox.flush` sends what is
due; a result the destination stored is deleted, one it did not is tried again ``retry_interval_s`` later, up to
``attempts`` sends in all; then it is moved to ``<outbox>/failed/``, logged as an error and counted, and kept there
(the node never deletes it; an operator resends it, e.g. with dcmtk's ``storescu``). Files left in the outbox by a
stopped node are sent when it starts again (their count of sends starts again too).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pydicom

from service.errors import PacsError

log = logging.getLogger(__name__)

Sender = Callable[[Sequence[pydicom.Dataset]], list[bool]]


class Outbox:
    """A folder of results waiting to be sent, with each one's sends so far and when it is next due."""

    def __init__(
        self,
        folder: Path,
        *,
        attempts: int,
        retry_interval_s: float,
        on_outcome: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        """``on_outcome`` is told each send's outcome (sent, retried, failed), for metrics."""
        self.folder = folder
        self.failed_folder = folder / "failed"
        self.failed_folder.mkdir(parents=True, exist_ok=True)
        self.attempts = attempts
        self.retry_interval_s = retry_interval_s
        self._tries: dict[Path, tuple[int, float]] = {path: (0, 0.0) for path in sorted(folder.glob("*.dcm"))}
        self._lock = threading.Lock()
        self._on_outcome = on_outcome

    def put(self, datasets: Sequence[pydicom.Dataset]) -> list[Path]:
        """Write results to the outbox, due at once; a result with the SOP Instance UID of one waiting replaces it."""
        paths = []
        for dataset in datasets:
            path = self.folder / f"{dataset.SOPInstanceUID}.dcm"  # the same result again replaces, never doubles
            dataset.save_as(path, enforce_file_format=True)
            paths.append(path)
        with self._lock:
            self._tries.update({path: (0, 0.0) for path in paths})
        return paths

    def pending(self) -> int:
        """Results waiting to be sent."""
        with self._lock:
            return len(self._tries)

    def flush(self, send: Sender, now: float | None = None) -> None:
        """Send every result that is due in one batch; delete what was stored, reschedule or give up the rest."""
        now = time.monotonic() if now is None else now
        with self._lock:
            due = [path for path, (_, next_at) in self._tries.items() if next_at <= now]
        if not due:
            return
        try:
            outcomes = send([pydicom.dcmread(path) for path in due])
        except PacsError as exc:
            log.warning("outbox: %s; %d result(s) kept for a later send", exc.message, len(due))
            outcomes = [False] * len(due)
        for path, ok in zip(due, outcomes, strict=True):
            self._settle(path, ok, now)

    def _settle(self, path: Path, ok: bool, now: float) -> None:
        with self._lock:
            tries = self._tries.pop(path)[0] + 1
            if ok:
                path.unlink(missing_ok=True)
                self._on_outcome("sent")
            elif tries >= self.attempts:
                path.rename(self.failed_folder / path.name)
                log.error("outbox: %s not stored after %d sends; kept in %s", path.name, tries, self.failed_folder)
                self._on_outcome("failed")
            else:
                self._tries[path] = (tries, now + self.retry_interval_s)
                self._on_outcome("retried")
