"""Under load: requests wait in line for a worker; a full or too-long line answers 503 with Retry-After at once;
slow explanations are stopped with a 503 timeout."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.http.conftest import LiveServer
from tests.images import sample_path

JPEG = {"content-type": "image/jpeg"}


def _slow(original: Callable[..., object], seconds: float, started: threading.Event) -> Callable[..., object]:
    def slowed(*args: object, **kwargs: object) -> object:
        started.set()
        time.sleep(seconds)
        return original(*args, **kwargs)

    return slowed


def _slowed_server(
    start_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch, seconds: float, **settings: Any
) -> tuple[LiveServer, threading.Event]:
    """A server whose every analysis first sleeps ``seconds``; the event is set when one has begun."""
    server = start_server(**settings)
    analyser = server.app.state.brainxai.analyser
    started = threading.Event()
    monkeypatch.setattr(analyser, "analyse", _slow(analyser.analyse, seconds, started))
    return server, started


def test_a_request_waits_in_line_for_a_busy_worker(
    start_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, started = _slowed_server(start_server, monkeypatch, 1.0, predict_concurrency=1)
    data = sample_path().read_bytes()
    with server.client() as http, ThreadPoolExecutor(2) as pool:
        first = pool.submit(http.post, "/predict", content=data, headers=JPEG)
        assert started.wait(10)
        second = http.post("/predict", content=data, headers=JPEG)  # waits for the worker, then is served
        assert second.status_code == first.result().status_code == 200
        metrics = http.get("/metrics").text
    assert 'brainxai_queue_wait_seconds_count{queue="predict"}' in metrics
    assert "busy_predict" not in metrics


def test_a_full_line_is_refused_at_once_with_retry_after(
    start_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, started = _slowed_server(start_server, monkeypatch, 1.5, predict_concurrency=1, max_queue=0)
    data = sample_path().read_bytes()
    with server.client() as http, ThreadPoolExecutor(2) as pool:
        slow = pool.submit(http.post, "/predict", content=data, headers=JPEG)
        assert started.wait(10)
        begun = time.monotonic()
        rejected = http.post("/predict", content=data, headers=JPEG)
        waited = time.monotonic() - begun
        assert rejected.status_code == 503 and rejected.headers["retry-after"].isdigit()
        assert rejected.json()["type"] == "urn:brainxai:problem:busy"
        assert waited < 1.0  # answered without waiting for the busy worker (1.5 s)
        assert slow.result().status_code == 200
        assert http.post("/predict", content=data, headers=JPEG).status_code == 200  # the worker is free again
        assert 'brainxai_rejections_total{reason="busy_predict"} 1.0' in http.get("/metrics").text


def test_an_expected_wait_beyond_the_budget_is_refused_at_once(
    start_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, started = _slowed_server(start_server, monkeypatch, 1.5, predict_concurrency=1, max_wait_s=1.0)
    data = sample_path().read_bytes()
    with server.client() as http, ThreadPoolExecutor(2) as pool:
        assert http.post("/predict", content=data, headers=JPEG).status_code == 200  # measures ~1.5 s of work
        started.clear()
        slow = pool.submit(http.post, "/predict", content=data, headers=JPEG)
        assert started.wait(10)
        begun = time.monotonic()
        rejected = http.post("/predict", content=data, headers=JPEG)  # would wait ~1.5 s > 1.0 s
        assert rejected.status_code == 503 and time.monotonic() - begun < 1.0  # not the ~1.5 s it would wait
        assert "expected wait" in rejected.json()["detail"] and int(rejected.headers["retry-after"]) >= 2
        assert slow.result().status_code == 200


def test_heavy_explanations_have_their_own_line(
    start_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(heavy_explain_concurrency=1, max_wait_s=0.3)
    # The warm-up's estimate of a LIME is about the 0.3 s budget on the test model: at zero, the second request
    # queues and waits out its budget instead of being refused at once for the expected wait.
    server.app.state.brainxai.queues["heavy"].prime(0.0)
    analyser = server.app.state.brainxai.analyser
    started = threading.Event()
    original = analyser.analyse

    def slow_when_explaining(source: object, plan: Any, **kwargs: Any) -> object:
        if plan.parameters:  # predictions go through at once
            started.set()
            time.sleep(1.5)
        return original(source, plan, **kwargs)

    monkeypatch.setattr(analyser, "analyse", slow_when_explaining)
    data = sample_path().read_bytes()
    with server.client() as http, ThreadPoolExecutor(2) as pool:
        first = pool.submit(http.post, "/explain?method=lime&num_samples=50", content=data, headers=JPEG)
        assert started.wait(10)
        second = http.post("/explain?method=lime&num_samples=50", content=data, headers=JPEG)
        assert second.status_code == 503 and "heavy_explain" in second.json()["detail"]
        assert "not started" in second.json()["detail"]  # it waited its 0.3 s in line, then gave up
        predict = http.post("/predict", content=data, headers=JPEG)
        assert predict.status_code == 200  # predictions are not blocked by a running LIME
        assert first.result().status_code == 200


def test_an_explanation_past_its_deadline_is_a_503_timeout(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(explain_timeout_s=0.001)
    data = sample_path().read_bytes()
    with server.client() as http:
        begun = time.monotonic()
        response = http.post("/explain?method=lime&num_samples=3000", content=data, headers=JPEG)
        assert response.status_code == 503, response.text
        assert response.json()["type"] == "urn:brainxai:problem:timeout"  # not "busy": the server was free
        assert "deadline" in response.json()["detail"] and response.headers["retry-after"]
        assert time.monotonic() - begun < 5
        assert 'brainxai_rejections_total{reason="timeout"}' in http.get("/metrics").text


def test_logs_are_json_lines_with_the_request_id_and_no_pixels(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    from service.logs import JsonFormatter

    data = sample_path().read_bytes()
    with caplog.at_level("INFO", logger="service.access"):
        response = client.post("/predict", content=data, headers={**JPEG, "x-request-id": "log-check-1"})
        # The access line is written once the response has been sent, so it may land just after the client
        # has read it: wait for it (a bound, not a timing assertion).
        waited_until = time.monotonic() + 10
        while not (records := [r for r in caplog.records if getattr(r, "request_id", None) == "log-check-1"]):
            if time.monotonic() > waited_until:
                break
            time.sleep(0.01)
    assert records and response.status_code == 200
    import json

    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == "log-check-1" and line["route"] == "/predict" and line["status"] == 200
    assert line["latency_ms"] > 0
    assert len(JsonFormatter().format(records[-1])) < 500  # no image data in the log


def test_a_cold_service_refuses_a_burst_at_once(start_server: Callable[..., LiveServer]) -> None:
    """More LIME requests at once to a fresh service (default settings) than its workers can start within the waiting
    budget by the warm-up's measure of the heavy work: those beyond are refused at once, not after waiting it out."""
    server = start_server()
    queue = server.app.state.brainxai.queues["heavy"]
    assert queue.service_s > 0  # measured before the first request
    # Enough to overflow the budget on any CPU: what the workers can start within it, and as many again plus 8.
    count = min(160, 2 * int(queue.max_wait_s / queue.service_s * queue.workers) + 8)
    images = _distinct_pngs(count)  # no answer from the explanation cache: each request needs its own work

    def one(index: int) -> tuple[int, float]:
        began = time.monotonic()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            status = client.post(
                "/explain?method=lime", content=images[index], headers={"content-type": "image/png"}
            ).status_code
        return status, time.monotonic() - began

    with ThreadPoolExecutor(max_workers=count) as pool:
        answers = list(pool.map(one, range(count)))
    refused = [seconds for status, seconds in answers if status == 503]
    assert {status for status, _ in answers} <= {200, 503} and any(s == 200 for s, _ in answers)
    # Refused at once: well before the waiting budget that a request waiting it out would take (not a speed bound; the
    # margin allows for the client's own threads starting a burst of up to 160 requests on 2 cores).
    budget = queue.max_wait_s
    assert refused and max(refused) < 0.75 * budget, (budget, queue.service_s, count, sorted(refused))


def _distinct_pngs(count: int) -> list[bytes]:
    """``count`` PNGs of the sample slice, each with one corner pixel changed: the same work, different pixels."""
    with Image.open(sample_path()) as opened:
        base = np.array(opened.convert("L"))
    made = []
    for index in range(count):
        pixels = base.copy()
        pixels[0, 0], pixels[0, 1] = index % 256, index // 256
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        made.append(buffer.getvalue())
    return made
