"""Instances received by the DICOM node, gathered by series until the series is complete.

The series-complete rule: no instance of the series has arrived for ``idle_s`` seconds. A PACS sends a series as a
burst; the idle time is the wait after its last instance. An instance received twice (same SOP Instance UID) is
kept once. A series may hold at most ``max_instances`` instances; more are refused (:class:`~service.errors.Busy`,
out of resources), so that one sender cannot exhaust the node's memory.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pydicom

from service.errors import Busy


@dataclass
class PendingSeries:
    """The instances of one series received so far and when the last one came (:func:`time.monotonic`)."""

    instances: dict[str, pydicom.Dataset] = field(default_factory=dict)
    last_seen: float = 0.0
    calling_ae: str = ""


class SeriesCollector:
    """Series being received, keyed by Series Instance UID; thread-safe (C-STOREs arrive on many threads)."""

    def __init__(self, idle_s: float, max_instances: int) -> None:
        self.idle_s = idle_s
        self.max_instances = max_instances
        self._series: dict[str, PendingSeries] = {}
        self._lock = threading.Lock()

    def add(self, dataset: pydicom.Dataset, calling_ae: str = "", now: float | None = None) -> None:
        """Keep ``dataset`` in its series; :class:`Busy` when the series is full."""
        uid = str(dataset.SeriesInstanceUID)
        with self._lock:
            pending = self._series.setdefault(uid, PendingSeries(calling_ae=calling_ae))
            sop = str(dataset.SOPInstanceUID)
            if sop not in pending.instances and len(pending.instances) >= self.max_instances:
                raise Busy(f"series {uid} already holds {self.max_instances} instances, the limit of this node")
            pending.instances[sop] = dataset
            pending.last_seen = time.monotonic() if now is None else now

    def complete(self, now: float | None = None, *, everything: bool = False) -> list[tuple[str, PendingSeries]]:
        """Take out the series idle for ``idle_s`` (or all of them, with ``everything``: at shutdown)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            done = [uid for uid, p in self._series.items() if everything or now - p.last_seen >= self.idle_s]
            return [(uid, self._series.pop(uid)) for uid in done]

    def pending(self) -> int:
        """Instances held in series not yet complete."""
        with self._lock:
            return sum(len(p.instances) for p in self._series.values())
