"""C-STORE of results to a real peer (dcmtk's storescp), and the refusal when none answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.dimse.sender import Destination, send, stored
from service.errors import PacsUnreachable
from tests.dicom_peers import StoreScp, needs_dcmtk
from tests.dicom_series import mr_series
from tests.http.conftest import free_port


def test_destinations_parse_and_statuses_read() -> None:
    destination = Destination.parse("ORTHANC@pacs.example:4242")
    assert (destination.ae_title, destination.host, destination.port) == ("ORTHANC", "pacs.example", 4242)
    assert str(destination) == "ORTHANC@pacs.example:4242"
    assert stored(0x0000) and stored(0xB000) and not stored(0xA700) and not stored(-1)


@needs_dcmtk
def test_results_reach_storescp_and_a_closed_port_is_unreachable(tmp_path: Path) -> None:
    peer = StoreScp(tmp_path / "received")
    try:
        datasets = mr_series("glioma", 2)
        assert send(datasets, Destination.parse(peer.destination), calling_ae="BRAINXAI") == [True, True]
        received = peer.received(2)
        assert {str(d.SOPInstanceUID) for d in received} == {str(d.SOPInstanceUID) for d in datasets}
    finally:
        peer.stop()
    with pytest.raises(PacsUnreachable, match="cannot associate"):
        send(datasets, Destination("NOBODY", "127.0.0.1", free_port()), calling_ae="BRAINXAI", timeout_s=2)
