"""C-STORE of result objects to the destination (``BRAINXAI_DIMSE_DESTINATION``, ``AE@host:port``) with pynetdicom.

One association per batch; each instance's status is reported, so that the outbox can keep what was not stored.
Success and warning statuses (0x0000, 0xB000–0xBFFF) count as stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.presentation import build_context

from service.errors import PacsUnreachable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Destination:
    """A DICOM peer: its AE title, host and port."""

    ae_title: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Destination:
        """``AE@host:port``."""
        ae_title, _, address = text.partition("@")
        host, _, port = address.rpartition(":")
        return cls(ae_title, host, int(port))

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def stored(status: int) -> bool:
    """Whether a C-STORE status means the peer kept the instance (success, or a warning)."""
    return status == 0x0000 or 0xB000 <= status <= 0xBFFF


def send(
    datasets: Sequence[pydicom.Dataset], destination: Destination, *, calling_ae: str, timeout_s: float = 30.0
) -> list[bool]:
    """C-STORE each dataset in one association; whether each was stored. :class:`PacsUnreachable` when the
    association cannot be made (the peer is down, or refuses us)."""
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    sop_classes = sorted({str(dataset.SOPClassUID) for dataset in datasets})
    contexts = [build_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]) for uid in sop_classes]
    association = ae.associate(destination.host, destination.port, contexts=contexts, ae_title=destination.ae_title)
    if not association.is_established:
        raise PacsUnreachable(f"store: cannot associate with {destination} (refused, aborted or unreachable)")
    outcomes = []
    try:
        for dataset in datasets:
            answer = association.send_c_store(dataset)
            status = int(answer.Status) if "Status" in answer else -1
            if not stored(status):
                log.warning("store: %s answered status 0x%04X for %s", destination, status, dataset.SOPInstanceUID)
            outcomes.append(stored(status))
    finally:
        association.release()
    return outcomes
