"""The DICOM node against real peers: dcmtk's echoscu and storescu send, dcmtk's storescp receives the results.

The node runs in this process with the shipped model (the one the service serves) and a short series-idle time.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import highdicom as hd
import httpx
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.presentation import build_context

from service.dimse.node import DicomNode
from service.metrics import Metrics
from service.settings import Settings
from tests.dicom_peers import StoreScp, dciodvfy_errors, echo, needs_dciodvfy, needs_dcmtk, storescu
from tests.dicom_series import enhanced_series, mr_series, other_body_part_series
from tests.fake_pacs import OrthancServer, orthanc_missing
from tests.http.conftest import free_port
from tests.images import pydicom_testdata

log = logging.getLogger(__name__)
pytestmark = needs_dcmtk
PARAMETRIC_MAP = "1.2.840.10008.5.1.4.1.1.30"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"


def _node(analyser: Any, tmp_path: Path, destination: str | None, **overrides: Any) -> DicomNode:
    overrides.setdefault("dimse_port", free_port())
    overrides.setdefault("dimse_series_idle_s", 1.0)
    settings = Settings(
        dimse_destination=destination,
        dimse_outbox=tmp_path / "outbox",
        dimse_spool=tmp_path / "spool",
        dimse_retry_interval_s=0.2,
        **overrides,
    )
    node = DicomNode(settings, analyser, Metrics())
    node.start()
    return node


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[StoreScp]:
    scp = StoreScp(tmp_path / "received")
    yield scp
    scp.stop()


@pytest.fixture
def node(shipped_analyser: Any, tmp_path: Path, peer: StoreScp) -> Iterator[DicomNode]:
    started = _node(shipped_analyser, tmp_path, peer.destination)
    yield started
    started.stop()


def sr_values(dataset: pydicom.Dataset) -> set[str]:
    """Every text and code value in an SR's content tree."""
    values: set[str] = set()
    for element in dataset.iterall():
        if element.keyword in ("TextValue", "CodeValue", "LongCodeValue", "CodingSchemeDesignator"):
            values.add(str(element.value))
    return values


def coded(dataset: pydicom.Dataset) -> set[tuple[str, str]]:
    """Every (code value, coding scheme) pair in a dataset's sequences, at any depth."""
    pairs: set[tuple[str, str]] = set()
    for element in dataset:
        if element.VR == "SQ":
            for item in element.value:
                if "CodeValue" in item:
                    pairs.add((str(item.CodeValue), str(item.CodingSchemeDesignator)))
                pairs |= coded(item)
    return pairs


def _write(datasets: list[pydicom.Dataset], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{index:03d}.dcm" for index in range(len(datasets))]
    for dataset, path in zip(datasets, paths, strict=True):
        dataset.save_as(path, enforce_file_format=True)
    return paths


def _send(port: int, datasets: list[pydicom.Dataset], calling: str = "SCU", *, as_they_are: bool = False) -> list[int]:
    """C-STORE with pynetdicom (for datasets storescu would not send); each status. ``as_they_are``: propose each
    dataset's own transfer syntax (what a sender of compressed files does), else Explicit VR Little Endian."""
    ae = AE(ae_title=calling)
    pairs = {
        (str(d.SOPClassUID), str(d.file_meta.TransferSyntaxUID) if as_they_are else ExplicitVRLittleEndian)
        for d in datasets
    }
    contexts = [build_context(sop_class, syntax) for sop_class, syntax in sorted(pairs)]
    association = ae.associate("127.0.0.1", port, contexts=contexts, ae_title="BRAINXAI")
    assert association.is_established
    try:
        return [int(association.send_c_store(dataset).Status) for dataset in datasets]
    finally:
        association.release()


@needs_dciodvfy
def test_a_24_slice_series_comes_back_as_a_report_and_key_slice_maps(
    node: DicomNode, peer: StoreScp, tmp_path: Path
) -> None:
    series = mr_series("glioma", 24)
    assert echo(node.settings.dimse_port, "BRAINXAI")
    started = time.monotonic()
    assert storescu(node.settings.dimse_port, "BRAINXAI", _write(series, tmp_path / "series")).returncode == 0
    results = peer.received(4)
    log.info("24 slices: results back %.1f s after storescu started (idle %.1f s)", time.monotonic() - started, 1.0)
    kinds = sorted(str(d.SOPClassUID) for d in results)
    assert kinds == [PARAMETRIC_MAP] * 3 + [COMPREHENSIVE_SR]
    for result in results:
        assert dciodvfy_errors(result) == [], result.SOPClassUID.name
        assert result.StudyInstanceUID == series[0].StudyInstanceUID and result.PatientID == series[0].PatientID
    report = hd.sr.ComprehensiveSR.from_dataset(next(d for d in results if d.Modality == "SR"))
    groups = report.content.get_image_measurement_groups()
    assert len(groups) == 1 + 24
    values = sr_values(report)
    assert "393564001" in values and "NA-CONTENT" not in values  # glioma in SNOMED CT, no slice refused
    private = {value for value, scheme in coded(report) if scheme == "99BRAINXAI"}
    # private codes only for the key slices' evidence checks (no standard code says that), none for the findings
    assert private and private <= {"EVIDENCE-GRADCAM", "DEPENDS", "INDEPENDENT", "INCONCLUSIVE"}
    positions = {str(d.SOPInstanceUID): [float(v) for v in d.ImagePositionPatient] for d in series}
    for pm in (d for d in results if d.SOPClassUID == PARAMETRIC_MAP):
        hd.pm.ParametricMap.from_dataset(pm)
        source = str(pm.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID)
        position = pm.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0].ImagePositionPatient
        assert [float(v) for v in position] == positions[source]  # on the source slice's plane
        assert pm.FrameOfReferenceUID == series[0].FrameOfReferenceUID
        assert pm.Rows == 256 and pm.Columns == 256 and "glioma" in pm.ContentDescription


def test_an_enhanced_mr_instance_is_a_series_of_frames(node: DicomNode, peer: StoreScp) -> None:
    enhanced = enhanced_series("meningioma", 6)
    assert _send(node.settings.dimse_port, [enhanced]) == [0x0000]
    results = peer.received(4)
    maps = [d for d in results if d.SOPClassUID == PARAMETRIC_MAP]
    assert len(maps) == 3
    positions = [
        frame.PlanePositionSequence[0].ImagePositionPatient for frame in enhanced.PerFrameFunctionalGroupsSequence
    ]
    for pm in maps:
        assert pm.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0].ImagePositionPatient in positions
    report = next(d for d in results if d.Modality == "SR")
    assert "393566004" in sr_values(report)  # meningioma


def test_a_series_of_another_body_part_gets_no_finding(node: DicomNode, peer: StoreScp) -> None:
    assert _send(node.settings.dimse_port, other_body_part_series(4)) == [0x0000] * 4
    [report] = peer.received(1)
    values = sr_values(report)
    assert report.Modality == "SR" and "not analysed" in report.SeriesDescription
    assert "NA-BODY-PART" in values and any("SHOULDER" in value for value in values)
    assert "108369006" not in values  # no tumour finding of any kind, present or absent
    assert node.metrics.dimse_series.labels("not_analysed")._value.get() == 1
    assert node.metrics.dimse_slices.labels("refused", "body-part")._value.get() == 4


def test_unusable_instances_get_their_status_and_the_node_keeps_running(node: DicomNode) -> None:
    no_pixels, truncated = mr_series("glioma", 2)
    del no_pixels.PixelData
    truncated.PixelData = truncated.PixelData[:100]
    statuses = _send(node.settings.dimse_port, [pydicom_testdata("CT_small.dcm"), no_pixels, truncated])
    assert statuses == [0x0122, 0xA900, 0xC000]
    huge = mr_series("glioma", 1)[0]
    huge.Rows = huge.Columns = 20000
    assert _send(node.settings.dimse_port, [huge]) == [0xA700]
    assert echo(node.settings.dimse_port, "BRAINXAI")
    assert node.metrics.dimse_instances.labels("refused", "0x0122")._value.get() == 1


def test_calling_ae_titles_not_allowed_are_refused_at_association(shipped_analyser: Any, tmp_path: Path) -> None:
    node = _node(shipped_analyser, tmp_path, None, dimse_allowed_aes=("SCANNER",))
    try:
        assert echo(node.settings.dimse_port, "BRAINXAI", calling="SCANNER")
        assert not echo(node.settings.dimse_port, "BRAINXAI", calling="INTRUDER")
    finally:
        node.stop()


def test_results_wait_in_the_outbox_while_the_destination_is_down(shipped_analyser: Any, tmp_path: Path) -> None:
    port = free_port()
    node = _node(shipped_analyser, tmp_path, f"LATER@127.0.0.1:{port}", dimse_send_attempts=100)
    try:
        assert _send(node.settings.dimse_port, mr_series("pituitary", 3)) == [0x0000] * 3
        deadline = time.monotonic() + 30
        while node.outbox.pending() < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert node.outbox.pending() == 4  # the report and three maps, kept
        later = StoreScp(tmp_path / "later", ae_title="LATER", port=port)
        try:
            assert len(later.received(4)) == 4  # sent on a later retry
        finally:
            later.stop()
        assert node.outbox.pending() == 0 and node.metrics.dimse_results.labels("retried")._value.get() >= 4
    finally:
        node.stop()


@pytest.mark.skipif(orthanc_missing() is not None, reason=str(orthanc_missing()))
def test_orthanc_sends_a_series_and_the_results_land_in_its_study(shipped_analyser: Any, tmp_path: Path) -> None:
    """Orthanc knows the node as a modality; its C-STORE of a series brings the results back into the same study."""
    node_port, dicom_port = free_port(), free_port()
    modalities: dict[str, list[str | int]] = {"brainxai": ["BRAINXAI", "127.0.0.1", node_port]}
    (tmp_path / "orthanc").mkdir()
    orthanc = OrthancServer(tmp_path / "orthanc", free_port(), dicom_port, modalities=modalities).start()
    node = _node(shipped_analyser, tmp_path, f"ORTHANC@127.0.0.1:{dicom_port}", dimse_port=node_port)
    try:
        series = mr_series("meningioma", 8)
        for path in _write(series, tmp_path / "series"):
            assert httpx.post(f"{orthanc.url}/instances", content=path.read_bytes()).is_success
        [source_series] = httpx.get(f"{orthanc.url}/series").json()
        sent = httpx.post(f"{orthanc.url}/modalities/brainxai/store", json={"Resources": [source_series]}, timeout=60)
        assert sent.is_success, sent.text
        [study] = httpx.get(f"{orthanc.url}/studies").json()
        deadline = time.monotonic() + 60
        while len(httpx.get(f"{orthanc.url}/studies/{study}/series").json()) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        found = httpx.get(f"{orthanc.url}/studies/{study}/series").json()
        descriptions = sorted(item["MainDicomTags"].get("SeriesDescription", "") for item in found)
        assert len(found) == 3  # the source, the report, the maps: all in the source's study
        assert descriptions[0].startswith("AI gradcam maps") and descriptions[1].startswith("AI series classification")
    finally:
        node.stop()
        orthanc.stop()


@needs_dciodvfy
def test_a_series_of_broken_headers_in_every_syntax_comes_back_as_one_valid_report(
    node: DicomNode, peer: StoreScp
) -> None:
    """One series of the fuzz corpus's broken classic slices (a break of every kind, the syntaxes in turn): every
    instance is acknowledged, one report comes back, and every object made passes dciodvfy."""
    import warnings

    from tests.dicom_fuzz import corpus

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chosen = [
            dataset
            for name, dataset in corpus(combinations=0)
            if name.startswith("classic/") and name.split("/")[1] in ("PatientSex", "PatientName", "StudyDate",
                                                                      "Manufacturer", "SpecificCharacterSet")
        ]  # fmt: skip
    series_uids = {str(dataset.SeriesInstanceUID) for dataset in chosen}
    assert len(chosen) >= 40 and len(series_uids) == 1
    assert set(_send(node.settings.dimse_port, chosen, as_they_are=True)) == {0x0000}
    results = peer.received(4, timeout_s=120)
    reports = [dataset for dataset in results if dataset.Modality == "SR"]
    assert len(reports) == 1
    errors = {str(dataset.SOPClassUID): dciodvfy_errors(dataset) for dataset in results}
    assert not any(errors.values()), errors


def test_a_series_whose_analysis_fails_still_gets_a_report_that_says_so(
    node: DicomNode, peer: StoreScp, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("an analysis that fails")

    monkeypatch.setattr("service.dimse.node.analyse_series", broken)
    assert _send(node.settings.dimse_port, mr_series("glioma", 3)) == [0x0000] * 3
    [report] = peer.received(1)
    assert "not analysed" in report.SeriesDescription and "NA-UNREADABLE" in sr_values(report)
    assert any("could not be analysed" in value for value in sr_values(report))
    assert node.metrics.dimse_series.labels("not_analysed")._value.get() == 1


def test_a_series_no_report_can_be_made_of_is_set_aside_counted_and_tried_again_at_the_next_start(
    shipped_analyser: Any, tmp_path: Path, peer: StoreScp, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a report that cannot be made")

    first = _node(shipped_analyser, tmp_path, peer.destination)
    try:
        with monkeypatch.context() as patched:
            patched.setattr("service.dimse.node.series_results", broken)
            assert _send(first.settings.dimse_port, mr_series("glioma", 2)) == [0x0000] * 2
            deadline = time.monotonic() + 30
            while not first.spool.failed() and time.monotonic() < deadline:
                time.sleep(0.1)
        assert len(first.spool.failed()) == 1 and first.metrics.dimse_failed_series._value.get() == 1
    finally:
        first.stop()
    second = _node(shipped_analyser, tmp_path, peer.destination)
    try:
        reports = [dataset for dataset in peer.received(3) if dataset.Modality == "SR"]
        assert len(reports) == 1 and second.spool.failed() == []
    finally:
        second.stop()


def test_success_is_answered_only_once_the_instance_is_on_disk(
    shipped_analyser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node's promise to the sender: a success status means the instance survives a crash. Each write is slowed
    (fsync takes 0.2 s), so a write finished after the answer (in the background) would not be there yet."""
    real_fsync = os.fsync

    def slow_fsync(descriptor: int) -> None:
        time.sleep(0.2)
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    node = _node(shipped_analyser, tmp_path, None, dimse_series_idle_s=60.0)  # nothing is analysed meanwhile
    try:
        for dataset in mr_series("glioma", 2):
            assert _send(node.settings.dimse_port, [dataset]) == [0x0000]
            kept = tmp_path / "spool" / str(dataset.SeriesInstanceUID) / f"{dataset.SOPInstanceUID}.dcm"
            assert kept.is_file() and pydicom.dcmread(kept).SOPInstanceUID == dataset.SOPInstanceUID
    finally:
        node.stop()
