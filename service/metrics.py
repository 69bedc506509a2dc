"""Prometheus metrics, in a registry of the app's own (no import-time globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mlcore.evidence import EvidenceCheck
from mlcore.input_check.check import InputCheck

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass
class QueueObserver:
    """Where a queue reports: refusals by reason, its depth, and how long admitted requests waited."""

    on_reject: Callable[[str], None]
    on_depth: Callable[[str, int], None] = lambda name, depth: None
    on_wait: Callable[[str, float], None] = lambda name, seconds: None


class Metrics:
    """The service's counters, histograms and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "brainxai_http_requests_total",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "brainxai_http_request_duration_seconds",
            "HTTP request latency by route and status",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "brainxai_inference_seconds",
            "Model work per request by method (predict and each explanation method)",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("brainxai_http_requests_in_flight", "Requests being handled", registry=self.registry)
        self.queue_depth = Gauge(
            "brainxai_queue_depth", "Requests waiting for a worker, by kind of work", ["queue"], registry=self.registry
        )
        self.queue_wait = Histogram(
            "brainxai_queue_wait_seconds",
            "How long admitted requests waited for a worker, by kind of work",
            ["queue"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejections = Counter(
            "brainxai_rejections_total",
            "Requests refused before model work, by reason",
            ["reason"],
            registry=self.registry,
        )

        self.input_checks = Counter(
            "brainxai_input_checks_total",
            "Input checks by outcome (accepted, flagged, refused) and kind of refusal (colour, uniform, content; "
            "none when accepted)",
            ["outcome", "reason"],
            registry=self.registry,
        )

        self.evidence_checks = Counter(
            "brainxai_evidence_checks_total",
            "Evidence checks of explained answers by verdict (depends, does_not_depend, inconclusive: the control "
            "moved the answer too)",
            ["verdict"],
            registry=self.registry,
        )

        self._add_dimse_metrics()

    def _add_dimse_metrics(self) -> None:
        """The DICOM node's (python -m service.dimse); the HTTP service leaves them at zero."""
        self.dimse_instances = Counter(
            "brainxai_dimse_instances_total",
            "C-STORE requests to the DICOM node by outcome (stored, refused) and DIMSE status",
            ["outcome", "status"],
            registry=self.registry,
        )
        self.dimse_slices = Counter(
            "brainxai_dimse_slices_total",
            "Slices of complete series by outcome (accepted, refused) and kind of refusal (none when accepted)",
            ["outcome", "kind"],
            registry=self.registry,
        )
        self.dimse_series = Counter(
            "brainxai_dimse_series_total",
            "Complete series by outcome: analysed (a finding), not_analysed (no slice accepted), failed",
            ["outcome"],
            registry=self.registry,
        )
        self.dimse_results = Counter(
            "brainxai_dimse_results_total",
            "Result objects by send outcome: sent, retried (a send failed, tried again later), failed (given up, kept)",
            ["outcome"],
            registry=self.registry,
        )
        self.dimse_outbox = Gauge(
            "brainxai_dimse_outbox_pending", "Result objects waiting in the outbox", registry=self.registry
        )
        self.dimse_failed_series = Gauge(
            "brainxai_dimse_failed_series",
            "Series set aside in the spool's failed/ folder: no report could be made (tried again at the next start)",
            registry=self.registry,
        )
        self.dimse_spool_series = Gauge(
            "brainxai_dimse_spool_series",
            "Acknowledged series kept in the spool, not yet analysed",
            registry=self.registry,
        )
        self.dimse_spool_instances = Gauge(
            "brainxai_dimse_spool_instances", "Acknowledged instances kept in the spool", registry=self.registry
        )
        self.dimse_spool_oldest = Gauge(
            "brainxai_dimse_spool_oldest_seconds", "Age of the oldest instance in the spool", registry=self.registry
        )

    def input_check(self, check: InputCheck, outcome: str) -> None:
        """Count one input check: its outcome and, when not accepted, what kind of input it was."""
        self.input_checks.labels(outcome, check.kind or "none").inc()

    def evidence_check(self, check: EvidenceCheck) -> None:
        """Count one evidence check by its verdict."""
        self.evidence_checks.labels(check.verdict).inc()

    def reject(self, reason: str) -> None:
        """Count one rejection (busy, timeout, too large, unauthorised)."""
        self.rejections.labels(reason).inc()

    def observer(self) -> QueueObserver:
        """What the work queues report to: refusals, depth and waiting time."""
        return QueueObserver(
            on_reject=self.reject,
            on_depth=lambda name, depth: self.queue_depth.labels(name).set(depth),
            on_wait=lambda name, seconds: self.queue_wait.labels(name).observe(seconds),
        )
