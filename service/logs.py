"""JSON-lines logging: one object per line with the request id, never pixel data or patient fields."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

# What the access log (service.http.middleware) sets on its records: the request's id, route, method, status, latency,
# and the declared content type and length of its body.
QUIET = ("highdicom", "pynetdicom")
FIELDS = ("request_id", "route", "method", "status", "latency_ms", "content_type", "bytes")


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON object with the known extra fields and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str) -> None:
    """Route all logging (uvicorn's included) to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET:  # their INFO lines are per attribute copied or per PDU: noise, not events
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
