"""``python -m service.dimse``: the DICOM node, with the service's settings, model and logs; /metrics on
``BRAINXAI_DIMSE_METRICS_PORT``. Stops on SIGTERM or SIGINT after analysing what it received and trying to send."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from prometheus_client import start_http_server

from mlcore.errors import BrainxaiError
from service.dimse.node import DicomNode
from service.loading import load_analyser
from service.metrics import Metrics
from service.process import command_line, start_process

log = logging.getLogger("service.dimse")


def main(argv: list[str] | None = None) -> int:
    """Read the settings, load the model, and serve DIMSE until told to stop."""
    command_line("python -m service.dimse", "The brainxai DICOM node (C-STORE in, SR and maps out).", argv)
    settings = start_process()
    if settings is None:
        return 2
    metrics = Metrics()
    try:
        node = DicomNode(settings, load_analyser(settings, metrics), metrics)
    except BrainxaiError as exc:
        log.error("cannot start: %s", exc)
        return 2
    if settings.dimse_metrics_port:
        start_http_server(settings.dimse_metrics_port, addr=settings.host, registry=metrics.registry)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    node.start()
    stopping.wait()
    node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
