"""The DICOM node: an AE that takes MR series by C-STORE, analyses each complete series, and C-STOREs the results.

Associations: Verification (C-ECHO) and every storage SOP class are accepted, so that a PACS routing a whole study
gets a status per instance; only MR image instances (:mod:`service.dimse.intake`) are kept, the others are answered
"SOP Class not supported". With ``BRAINXAI_DIMSE_ALLOWED_AES`` set, other calling AE titles are refused at
association. Received instances wait in a :class:`SeriesCollector`; one worker thread takes each complete series
through :func:`service.analysis.series.analyse_series` (the one pipeline) and
:func:`service.analysis.series_results.series_results`,
puts the results in the :class:`Outbox` and sends them to ``BRAINXAI_DIMSE_DESTINATION``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pydicom
from pydicom import uid
from pynetdicom import AE, AllStoragePresentationContexts, evt

from mlcore.errors import BrainxaiError
from service.analysis.pipeline import Analyser, AnalysisRequest
from service.analysis.series import analyse_series, not_analysed
from service.analysis.series_results import series_results
from service.dimse.collector import PendingSeries, SeriesCollector
from service.dimse.intake import MR_STORAGE, check_instance
from service.dimse.outbox import Outbox
from service.dimse.sender import Destination, send
from service.dimse.spool import Spool
from service.dimse.status import SUCCESS, status_of
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)

# MR instances may come compressed in any syntax the decoders read (service/dicom/reading.py); others are never decoded.
MR_TRANSFER_SYNTAXES = [
    uid.ImplicitVRLittleEndian, uid.ExplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian, uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLossless, uid.JPEGLosslessSV1,
    uid.JPEGLSLossless, uid.JPEGLSNearLossless, uid.JPEG2000Lossless, uid.JPEG2000, uid.RLELossless,
]  # fmt: skip
TICK_S = 0.2
VERIFICATION = "1.2.840.10008.1.1"


class DicomNode:
    """The node's AE, its series collector, outbox and worker thread."""

    def __init__(self, settings: Settings, analyser: Analyser, metrics: Metrics) -> None:
        self.settings = settings
        self.analyser = analyser
        self.metrics = metrics
        self.collector = SeriesCollector(settings.dimse_series_idle_s, settings.dimse_max_series_instances)
        self.spool = Spool(settings.dimse_spool)
        self.outbox = Outbox(
            settings.dimse_outbox,
            attempts=settings.dimse_send_attempts,
            retry_interval_s=settings.dimse_retry_interval_s,
            on_outcome=lambda outcome: metrics.dimse_results.labels(outcome).inc(),
        )
        self.destination = Destination.parse(settings.dimse_destination) if settings.dimse_destination else None
        # The key slices' methods, checked once at start (ParameterError: the node does not start).
        self.methods = analyser.plan(AnalysisRequest(methods={m: {} for m in settings.dimse_methods})).request.methods
        self._stop = threading.Event()
        self._server: Any = None
        self._worker: threading.Thread | None = None

    def application_entity(self) -> AE:
        """The AE: Verification and all storage SOP classes (MR with every decodable transfer syntax)."""
        ae = AE(ae_title=self.settings.dimse_ae_title)
        ae.add_supported_context(VERIFICATION)
        for context in AllStoragePresentationContexts:
            assert context.abstract_syntax is not None
            syntaxes = MR_TRANSFER_SYNTAXES if context.abstract_syntax in MR_STORAGE else context.transfer_syntax
            ae.add_supported_context(context.abstract_syntax, syntaxes)
        if self.settings.dimse_allowed_aes:
            ae.require_calling_aet = list(self.settings.dimse_allowed_aes)
        return ae

    def recover(self) -> int:
        """Take back every series the spool holds (acknowledged before a stop or a crash), and those set aside as
        failed (each tried again once per start); they are finished after the idle window like new ones. Returns the
        instances taken back."""
        for series_uid in self.spool.retry_failed():
            log.info("series %s: set aside as failed before, tried again", series_uid)
        recovered = 0
        for series_uid, paths in self.spool.series().items():
            calling = self.spool.calling_ae(series_uid)
            for path in paths:
                self.collector.add(pydicom.dcmread(path), calling)
                recovered += 1
            log.info("series %s from %s: %d spooled instance(s) taken back", series_uid, calling, len(paths))
        return recovered

    def start(self) -> None:
        """Take back what the spool holds, listen on ``BRAINXAI_HOST``:``BRAINXAI_DIMSE_PORT`` and start the
        worker; returns at once."""
        self.recover()
        handlers: list[Any] = [(evt.EVT_C_ECHO, self._on_echo), (evt.EVT_C_STORE, self._on_store)]
        address = (self.settings.host, self.settings.dimse_port)
        self._server = self.application_entity().start_server(address, block=False, evt_handlers=handlers)
        self._worker = threading.Thread(target=self._work, name="dimse-worker", daemon=True)
        self._worker.start()
        log.info(
            "DICOM node %s listening on %s:%d; results to %s",
            self.settings.dimse_ae_title,
            *address,
            self.destination or "(no destination: kept in the outbox)",
        )

    def stop(self) -> None:
        """Stop taking associations, analyse the series received so far, try to send, and stop the worker."""
        if self._server is not None:
            self._server.shutdown()
        self._stop.set()
        if self._worker is not None:
            self._worker.join()
        self.tick(everything=True)
        log.info("DICOM node stopped; %d result(s) left in the outbox", self.outbox.pending())

    def tick(self, *, everything: bool = False) -> None:
        """Analyse the complete series (all with ``everything``) and send what is due."""
        for series_uid, pending in self.collector.complete(everything=everything):
            self.process(series_uid, pending)
        if self.destination is not None:
            destination, calling = self.destination, self.settings.dimse_ae_title
            self.outbox.flush(lambda datasets: send(datasets, destination, calling_ae=calling))
        self.metrics.dimse_outbox.set(self.outbox.pending())
        series, instances, oldest_s = self.spool.waiting()
        self.metrics.dimse_spool_series.set(series)
        self.metrics.dimse_spool_instances.set(instances)
        self.metrics.dimse_spool_oldest.set(oldest_s)
        self.metrics.dimse_failed_series.set(len(self.spool.failed()))

    def process(self, series_uid: str, pending: PendingSeries) -> None:
        """One complete series: analysed, its results in the outbox. A failure is logged and counted, never raised
        (the node keeps running)."""
        started = time.perf_counter()
        instances = list(pending.instances.values())
        try:
            analysis = analyse_series(
                self.analyser, instances, methods=self.methods, key_slices=self.settings.dimse_key_slices
            )
        except Exception as exc:  # the analysis failed as a whole: the PACS still gets a report saying so
            log.exception("series %s from %s could not be analysed", series_uid, pending.calling_ae)
            analysis = not_analysed(instances, f"the series could not be analysed ({type(exc).__name__})")
        try:
            results = series_results(
                analysis, self.analyser.model_ref(), captures=self.settings.dimse_secondary_capture
            )
        except Exception:
            log.exception("series %s from %s: no report could be made", series_uid, pending.calling_ae)
            self.metrics.dimse_series.labels("failed").inc()
            self.spool.set_aside(series_uid)  # kept for an operator; tried again at the next start
            self.metrics.dimse_failed_series.set(len(self.spool.failed()))
            return
        for item in analysis.slices:
            outcome = "accepted" if item.prediction is not None else "refused"
            self.metrics.dimse_slices.labels(outcome, item.kind or "none").inc()
        self.metrics.dimse_series.labels("analysed" if analysis.finding else "not_analysed").inc()
        self.outbox.put([result.dataset for result in results])
        self.spool.remove(series_uid)  # only now: its results are on disk in the outbox
        log.info(
            "series %s from %s: %d slices (%d accepted, %d refused), finding %s, %d results in %.0f ms",
            series_uid,
            pending.calling_ae,
            len(analysis.slices),
            analysis.accepted,
            analysis.refused,
            analysis.finding.label if analysis.finding else "none (not analysed)",
            len(results),
            (time.perf_counter() - started) * 1000,
        )

    def _work(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.tick()
            except Exception:  # the worker must outlive any one failure
                log.exception("DICOM node worker: a tick failed")

    def _on_echo(self, event: evt.Event) -> int:
        return SUCCESS

    def _on_store(self, event: evt.Event) -> int:
        calling = str(event.assoc.requestor.ae_title).strip()
        try:
            dataset = event.dataset
            dataset.file_meta = event.file_meta
            check_instance(
                dataset,
                max_pixels=self.settings.max_image_pixels,
                max_frames=self.settings.dimse_max_series_instances,
            )
            if self.spool.keep(dataset, calling):  # on disk, fsync'd, before the success status
                self.collector.add(dataset, calling)
        except Exception as exc:
            status, meaning = status_of(exc)
            detail = exc.message if isinstance(exc, BrainxaiError) else f"{type(exc).__name__}: {exc}"
            log.warning("C-STORE from %s refused with 0x%04X (%s): %s", calling, status, meaning, detail,
                        exc_info=not isinstance(exc, BrainxaiError))  # fmt: skip
            self.metrics.dimse_instances.labels("refused", f"0x{status:04X}").inc()
            return status
        self.metrics.dimse_instances.labels("stored", f"0x{SUCCESS:04X}").inc()
        return SUCCESS
