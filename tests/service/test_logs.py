"""JSON-lines logs: one object per line with the known fields and the exception, nothing else of the record."""

from __future__ import annotations

import json
import logging
import sys

from service.logs import JsonFormatter


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("service.access", logging.INFO, __file__, 1, "request %s", ("done",), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_record_is_one_json_line_with_its_fields() -> None:
    line = JsonFormatter().format(_record(request_id="r-1", status=200, latency_ms=1.5, pixels=b"secret"))
    entry = json.loads(line)
    assert "\n" not in line and entry["message"] == "request done" and entry["level"] == "INFO"
    assert entry["request_id"] == "r-1" and entry["status"] == 200 and entry["latency_ms"] == 1.5
    assert "pixels" not in entry  # only the known fields are written


def test_an_exception_is_included() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = _record()
        record.exc_info = sys.exc_info()
    assert "ValueError: broken" in json.loads(JsonFormatter().format(record))["exception"]
