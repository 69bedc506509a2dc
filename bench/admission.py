"""``python bench/admission.py``: the service under concurrent clients, with its DEFAULT settings.

Two phases against one service process on loopback (only the port and the log level are set):

1. ``--steady`` concurrent /predict clients (default 8) for ``--steady-seconds`` (default 60): every
   request should be answered 200 (they wait in line instead of being refused);
2. a burst of ``--burst`` concurrent clients (default 128) for ``--burst-seconds`` (default 30): the excess
   should get 503 quickly, accepted requests' p99 should stay within the waiting budget
   (``BRAINXAI_MAX_WAIT_S``) plus the work, and /healthz, sampled every 50 ms by another process, should
   answer with p95 < 200 ms. Any other 5xx is a failure.

The clients are raw asyncio streams (keep-alive, reconnecting when a 503 closes the connection) in this
process, on the same 2 cores as the service; they retry at once, ignoring Retry-After (the worst case).
The service's own latency histogram gives the server-side p99 beside the clients' numbers.
Writes ``docs/ADMISSION.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from common import REPO, default_service, machine, make_inputs  # bench/common.py, beside this script

from mlcore.cpu import cpu_info

log = logging.getLogger("bench.admission")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def _post(host: str, port: int, request: bytes, conn: list[Any]) -> int:
    """One POST over the client's connection (reopened when the server closed it); the status, -1 on failure."""
    try:
        if not conn:
            conn.extend(await asyncio.open_connection(host, port))
        reader, writer = conn
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            writer.close()
            conn.clear()
        return int(lines[0].split()[1])
    except (OSError, asyncio.IncompleteReadError, ValueError):
        conn.clear()
        return -1


async def _client(url: str, body: bytes, until: float, results: list[tuple[int, float]]) -> None:
    """A keep-alive client on raw asyncio streams (an HTTP library's overhead would be counted as latency)."""
    host, port = url.removeprefix("http://").split(":")
    request = (
        f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    conn: list[Any] = []
    while time.monotonic() < until:
        started = time.monotonic()
        status = await _post(host, int(port), request, conn)
        results.append((status, (time.monotonic() - started) * 1000))
    if conn:
        conn[1].close()


async def _load(url: str, body: bytes, clients: int, seconds: float) -> list[tuple[int, float]]:
    results: list[tuple[int, float]] = []
    until = time.monotonic() + seconds
    await asyncio.gather(*(_client(url, body, until, results) for _ in range(clients)))
    return results


def _sample_health(url: str, seconds: float, out: Any) -> None:
    """In a separate process: /healthz latencies (ms) every 50 ms for ``seconds``."""
    latencies = []
    with httpx.Client(base_url=url, timeout=10) as http:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            started = time.monotonic()
            http.get("/healthz")
            latencies.append((time.monotonic() - started) * 1000)
            time.sleep(0.05)
    out.put(latencies)


def server_buckets(url: str) -> dict[str, dict[float, float]]:
    """The service's own /predict latency histogram (cumulative counts by upper bound), by status."""
    buckets: dict[str, dict[float, float]] = {}
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("brainxai_http_request_duration_seconds_bucket") and 'route="/predict"' in line:
            labels = dict(part.split("=") for part in line[line.index("{") + 1 : line.index("}")].split(","))
            bound = float(labels["le"].strip('"').replace("+Inf", "inf"))
            buckets.setdefault(labels["status"].strip('"'), {})[bound] = float(line.rsplit(" ", 1)[1])
    return buckets


def server_p99_ms(before: dict[str, dict[float, float]], after: dict[str, dict[float, float]], status: str) -> float:
    """The upper bound (ms) of the histogram bucket holding the 99th percentile of one phase, server-side."""
    counts = {bound: n - before.get(status, {}).get(bound, 0.0) for bound, n in after.get(status, {}).items()}
    total = counts.get(float("inf"), 0.0)
    if not total:
        return float("nan")
    return next(bound for bound, n in sorted(counts.items()) if n >= 0.99 * total) * 1000


def summarise(results: list[tuple[int, float]], seconds: float) -> dict[str, Any]:
    """Requests by status and the latency of accepted and of refused requests."""
    accepted = [ms for status, ms in results if status == 200]
    refused = [ms for status, ms in results if status == 503]
    return {
        "requests": len(results),
        "per_second": round(len(results) / seconds, 1),
        "by_status": dict(Counter(str(status) for status, _ in results)),
        "accepted_p50_ms": round(percentile(accepted, 50), 1),
        "accepted_p99_ms": round(percentile(accepted, 99), 1),
        "refused_p50_ms": round(percentile(refused, 50), 1),
        "refused_p99_ms": round(percentile(refused, 99), 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both phases against a service with default settings."""
    with tempfile.TemporaryDirectory() as scratch:
        jpeg, _ = make_inputs(Path(scratch))
        body = jpeg.read_bytes()
    service = default_service()
    try:
        log.info("steady: %d clients for %d s", args.steady, args.steady_seconds)
        before = server_buckets(service.url)
        steady = summarise(asyncio.run(_load(service.url, body, args.steady, args.steady_seconds)), args.steady_seconds)
        after = server_buckets(service.url)
        steady["server_accepted_p99_ms_at_most"] = server_p99_ms(before, after, "200")
        log.info("burst: %d clients for %d s, /healthz sampled by another process", args.burst, args.burst_seconds)
        queue: Any = multiprocessing.get_context("spawn").Queue()
        sampler = multiprocessing.get_context("spawn").Process(
            target=_sample_health, args=(service.url, args.burst_seconds, queue)
        )
        sampler.start()
        burst = summarise(asyncio.run(_load(service.url, body, args.burst, args.burst_seconds)), args.burst_seconds)
        before, after = after, server_buckets(service.url)
        burst["server_accepted_p99_ms_at_most"] = server_p99_ms(before, after, "200")
        burst["server_refused_p99_ms_at_most"] = server_p99_ms(before, after, "503")
        health = queue.get(timeout=args.burst_seconds + 60)
        sampler.join()
        burst["healthz_p50_ms"] = round(statistics.median(health), 1)
        burst["healthz_p95_ms"] = round(percentile(health, 95), 1)
        burst["healthz_samples"] = len(health)
    finally:
        service.stop()
    clients = {"steady": args.steady, "burst": args.burst}
    return {
        "machine": machine(),
        "cpu": cpu_info(),
        "settings": "defaults",
        "clients": clients,
        "steady": steady,
        "burst": burst,
    }


def markdown(results: dict[str, Any]) -> str:
    """The two phases as a Markdown table, with each goal's verdict."""
    steady, burst = results["steady"], results["burst"]
    other_5xx = sum(n for status, n in {**steady["by_status"], **burst["by_status"]}.items() if status[0] == "5")
    other_5xx -= steady["by_status"].get("503", 0) + burst["by_status"].get("503", 0)
    rows = [
        ("8 clients: every request answered 200", str(steady["by_status"]), set(steady["by_status"]) == {"200"}),
        (
            "128 clients: 503s answered quickly (p99: clients / server bucket)",
            f"{burst['refused_p99_ms']} ms / ≤ {burst['server_refused_p99_ms_at_most']:g} ms",
            burst["refused_p99_ms"] < 500,
        ),
        (
            "128 clients: accepted p99 within the 2 s budget (clients / server bucket)",
            f"{burst['accepted_p99_ms']} ms / ≤ {burst['server_accepted_p99_ms_at_most']:g} ms",
            burst["accepted_p99_ms"] < 2000,
        ),
        ("/healthz p95 < 200 ms during the burst", f"{burst['healthz_p95_ms']} ms", burst["healthz_p95_ms"] < 200),
        ("no other 5xx (or connection failure)", str(other_5xx + burst["by_status"].get("-1", 0)), other_5xx == 0),
    ]
    lines = ["| goal | measured | met |", "|---|---|---|"]
    lines += [f"| {goal} | {value} | {'yes' if met else 'no'} |" for goal, value, met in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Parse, measure, write docs/ADMISSION.json, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steady", type=int, default=8)
    parser.add_argument("--steady-seconds", type=int, default=60)
    parser.add_argument("--burst", type=int, default=128)
    parser.add_argument("--burst-seconds", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    results = run(args)
    (REPO / "docs" / "ADMISSION.json").write_text(json.dumps(results, indent=1) + "\n")
    sys.stdout.write(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
