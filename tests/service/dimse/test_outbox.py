"""The outbox: results kept on disk until stored, retried a bounded number of times, then kept in failed/."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pydicom

from service.dimse.outbox import Outbox
from service.errors import PacsUnreachable
from tests.dicom_series import mr_series


def _kept(folder: Path) -> list[Path]:
    """The result files waiting in the outbox folder (not those given up on in failed/)."""
    return sorted(path for path in folder.rglob("*.dcm") if "failed" not in path.parts)


def test_stored_results_leave_the_outbox_and_the_rest_are_retried_then_kept(tmp_path: Path) -> None:
    outcomes: list[str] = []
    outbox = Outbox(tmp_path, attempts=2, retry_interval_s=5.0, on_outcome=outcomes.append)
    refused = mr_series("glioma", 2)
    outbox.put(refused)
    refused_uid = str(refused[1].SOPInstanceUID)
    assert len(_kept(tmp_path)) == 2  # both on disk before any send

    def peer(datasets: Sequence[pydicom.Dataset]) -> list[bool]:
        return [str(dataset.SOPInstanceUID) != refused_uid for dataset in datasets]

    outbox.flush(peer, now=0.0)
    assert outbox.pending() == 1 and outcomes == ["sent", "retried"]
    assert [str(pydicom.dcmread(path).SOPInstanceUID) for path in _kept(tmp_path)] == [refused_uid]  # stored: gone
    outbox.flush(peer, now=1.0)  # not due yet
    assert outcomes == ["sent", "retried"]
    outbox.flush(peer, now=6.0)
    assert outbox.pending() == 0 and outcomes[-1] == "failed"
    [kept] = (tmp_path / "failed").iterdir()
    assert str(pydicom.dcmread(kept).SOPInstanceUID) == refused_uid


def test_an_unreachable_peer_keeps_everything_and_a_restart_sends_it(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, attempts=3, retry_interval_s=0.0)
    outbox.put(mr_series("glioma", 2))

    def down(datasets: Sequence[pydicom.Dataset]) -> list[bool]:
        raise PacsUnreachable("store: cannot associate")

    outbox.flush(down, now=0.0)
    assert outbox.pending() == 2
    restarted = Outbox(tmp_path, attempts=3, retry_interval_s=0.0)
    assert restarted.pending() == 2
    restarted.flush(lambda datasets: [True] * len(datasets), now=0.0)
    assert restarted.pending() == 0 and not list(tmp_path.glob("*.dcm"))
