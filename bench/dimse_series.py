"""The DICOM node's end-to-end time: a 24-slice brain MR series sent with dcmtk's storescu until its report and
key-slice Parametric Maps have arrived at dcmtk's storescp (the destination).

The node runs as operators run it (``python -m service.dimse``, default settings: 3 s series idle time, 3 key
slices, Grad-CAM), with only its ports, destination, outbox and spool set. Each round sends a new series (the committed
glioma samples, tests/dicom_series.py). Needs dcmtk (``make system-deps``).

    .venv/bin/python bench/dimse_series.py [--rounds 3]   # writes docs/evaluation/dimse-series.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlcore import artifact
from mlcore.artifact import DEFAULT_MODEL
from mlcore.cpu import cpu_info
from tests.dicom_peers import StoreScp, echo, storescu
from tests.dicom_series import mr_series
from tests.http.conftest import free_port

log = logging.getLogger("dimse_series")
REPO = Path(__file__).resolve().parents[1]


def one_round(port: int, peer: StoreScp, folder: Path) -> float:
    """Seconds from storescu starting to the 4th result (SR + 3 maps) at the destination."""
    folder.mkdir()
    paths = []
    for index, dataset in enumerate(mr_series("glioma", 24)):
        paths.append(folder / f"{index:02d}.dcm")
        dataset.save_as(paths[-1], enforce_file_format=True)
    before = len(list(peer.folder.iterdir()))
    started = time.monotonic()
    if storescu(port, "BRAINXAI", paths).returncode != 0:
        raise RuntimeError("storescu failed")
    while len(list(peer.folder.iterdir())) < before + 4:
        if time.monotonic() - started > 60:
            raise RuntimeError("no results within 60 s")
        time.sleep(0.02)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "evaluation" / "dimse-series.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    manifest = artifact.load(DEFAULT_MODEL).manifest  # what the node serves with default settings
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        peer = StoreScp(work / "received")
        port = free_port()
        env = os.environ | {
            "BRAINXAI_DIMSE_PORT": str(port),
            "BRAINXAI_DIMSE_METRICS_PORT": str(free_port()),
            "BRAINXAI_DIMSE_DESTINATION": peer.destination,
            "BRAINXAI_DIMSE_OUTBOX": str(work / "outbox"),
            "BRAINXAI_DIMSE_SPOOL": str(work / "spool"),
        }
        node = subprocess.Popen([sys.executable, "-m", "service.dimse"], cwd=REPO, env=env, stderr=subprocess.DEVNULL)
        try:
            while not echo(port, "BRAINXAI"):
                time.sleep(0.5)
            seconds = [one_round(port, peer, work / f"series-{n}") for n in range(args.rounds)]
        finally:
            node.send_signal(signal.SIGTERM)
            node.wait(timeout=60)
            peer.stop()
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": f"{manifest['name']} {manifest['version']}",
        "cpu": cpu_info(),
        "series_idle_s": 3.0,
        "slices": 24,
        "seconds": [round(s, 2) for s in seconds],
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log.info("%s -> %s", json.dumps(result), args.out)


if __name__ == "__main__":
    main()
