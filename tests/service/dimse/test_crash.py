"""The node loses nothing it acknowledged: ``python -m service.dimse`` killed with SIGKILL at each stage — after the
C-STOREs were answered but before the series was complete, during the analysis, while the results waited for the
destination — and started again delivers every result exactly once (counted by dcmtk's storescp, one file per object
received, so a duplicate would show)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pydicom
import pytest

from tests.dicom_peers import StoreScp, echo, needs_dcmtk, storescu
from tests.dicom_series import mr_series
from tests.helpers import REPO_ROOT
from tests.http.conftest import free_port

pytestmark = [needs_dcmtk, pytest.mark.slow]
RESULTS = 4  # the report and the Parametric Maps of the three key slices (one method)
# The node with its analysis held up for a minute (and saying so): a kill lands in the middle of it.
SLOW_ANALYSIS = """
import runpy, time
import service.dimse.node as node
original = node.analyse_series
def held(*args, **kwargs):
    print("ANALYSING", flush=True)
    time.sleep(60)
    return original(*args, **kwargs)
node.analyse_series = held
runpy.run_module("service.dimse", run_name="__main__", alter_sys=True)
"""


class Node:
    """``python -m service.dimse`` in a child process, on its own port, spool and outbox under ``folder``."""

    def __init__(self, folder: Path, destination: str, *, held: bool = False) -> None:
        self.port = free_port()
        env = os.environ | {
            "BRAINXAI_DIMSE_PORT": str(self.port),
            "BRAINXAI_DIMSE_METRICS_PORT": "0",
            "BRAINXAI_DIMSE_SPOOL": str(folder / "spool"),
            "BRAINXAI_DIMSE_OUTBOX": str(folder / "outbox"),
            "BRAINXAI_DIMSE_DESTINATION": destination,
            "BRAINXAI_DIMSE_SERIES_IDLE_S": "2",
            "BRAINXAI_DIMSE_RETRY_INTERVAL_S": "0.5",
            "BRAINXAI_EXPLAIN_PRECISION": "fp32",  # no int8 quantization at start: a quicker node
        }
        command = [sys.executable, "-c", SLOW_ANALYSIS] if held else [sys.executable, "-m", "service.dimse"]
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not echo(self.port, "BRAINXAI"):
            assert self.process.poll() is None and time.monotonic() < deadline, "the node did not start"
            time.sleep(0.3)

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no shutdown code runs
        self.process.wait(timeout=30)


def _send(series: list[pydicom.Dataset], node: Node, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for dataset in series:
        path = folder / f"{dataset.SOPInstanceUID}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    assert storescu(node.port, "BRAINXAI", paths).returncode == 0  # every C-STORE answered success


def _delivered_once(peer: StoreScp, timeout_s: float = 90.0) -> list[pydicom.Dataset]:
    received = peer.received(RESULTS, timeout_s=timeout_s)
    time.sleep(2.0)  # a duplicate, if any, would come now
    received = [pydicom.dcmread(path) for path in sorted(peer.folder.iterdir())]
    counts = Counter(str(dataset.SOPInstanceUID) for dataset in received)
    assert len(counts) == RESULTS and set(counts.values()) == {1}, counts
    return received


def _restart_delivers_once(folder: Path, peer: StoreScp) -> list[pydicom.Dataset]:
    restarted = Node(folder, peer.destination)
    try:
        return _delivered_once(peer)
    finally:
        restarted.kill()


def test_killed_after_the_acknowledgement_before_the_series_was_complete(tmp_path: Path) -> None:
    peer = StoreScp(tmp_path / "received", unique=True)
    try:
        node = Node(tmp_path, peer.destination)
        series = mr_series("glioma", 8)
        _send(series, node, tmp_path / "series")
        node.kill()  # inside the 2 s idle window: the series lived only in the spool
        assert len(list((tmp_path / "spool").rglob("*.dcm"))) == 8
        assert list(peer.folder.iterdir()) == []
        received = _restart_delivers_once(tmp_path, peer)
        assert {str(d.StudyInstanceUID) for d in received} == {str(series[0].StudyInstanceUID)}
        assert not list((tmp_path / "spool").rglob("*.dcm"))  # done: the spool is empty again
    finally:
        peer.stop()


def test_killed_during_the_analysis(tmp_path: Path) -> None:
    peer = StoreScp(tmp_path / "received", unique=True)
    try:
        node = Node(tmp_path, peer.destination, held=True)
        _send(mr_series("meningioma", 6), node, tmp_path / "series")
        assert node.process.stdout is not None and node.process.stdout.readline().strip() == "ANALYSING"
        node.kill()
        assert len(list((tmp_path / "spool").rglob("*.dcm"))) == 6  # not removed before the results exist
        _restart_delivers_once(tmp_path, peer)
    finally:
        peer.stop()


def test_killed_while_the_results_waited_for_the_destination(tmp_path: Path) -> None:
    port = free_port()
    node = Node(tmp_path, f"RESULTS@127.0.0.1:{port}")  # nobody listens there yet
    _send(mr_series("pituitary", 6), node, tmp_path / "series")
    deadline = time.monotonic() + 90
    # The results reach the outbox, then the node lets the spooled instances go (a moment later: wait for both).
    while len(list((tmp_path / "outbox").glob("*.dcm"))) < RESULTS or list((tmp_path / "spool").rglob("*.dcm")):
        assert time.monotonic() < deadline, "the results never reached the outbox, or the instances stayed spooled"
        time.sleep(0.3)
    node.kill()
    peer = StoreScp(tmp_path / "received", port=port, unique=True)
    try:
        _restart_delivers_once(tmp_path, peer)
    finally:
        peer.stop()
