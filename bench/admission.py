"""``python bench/admission.py``: the service under concurrent clients, with its DEFAULT settings.

Two phases against one service process on loopback (only the port and the log level are set):

1. ``--steady`` concurrent /predict clients (default 8) for ``--steady-seconds`` (default 60): every
   request should be answered 200 (they wait in line instead of being refused);
2. a burst of ``--burst`` concurrent clients (default 128) for ``--burst-seconds`` (default 30): the excess
   should get 503 quickly, accepted requests' p99 should stay within the waiting budget
   (``BRAINXAI_MAX_WAIT_S``) plus the work, and /healthz, sampled every 50 ms by another process, should
   answer with p95 < 200 ms. Any other 5xx is a failure.

The clients are asyncio + httpx in this process, on the same 2 cores as the service (as a real load
generator on the same host would be). Writes ``docs/ADMISSION.json`` and prints a Markdown table.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench import REPO, Server, free_port, machine, make_inputs
from mlcore.cpu import cpu_info

log = logging.getLogger("bench.admission")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def _client(http: httpx.AsyncClient, body: bytes, until: float, results: list[tuple[int, float]]) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            status = (await http.post("/predict", content=body, headers={"content-type": "image/jpeg"})).status_code
        except httpx.HTTPError:
            status = -1  # connection-level failure
        results.append((status, (time.monotonic() - started) * 1000))


async def _load(url: str, body: bytes, clients: int, seconds: float) -> list[tuple[int, float]]:
    results: list[tuple[int, float]] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        until = time.monotonic() + seconds
        await asyncio.gather(*(_client(http, body, until, results) for _ in range(clients)))
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
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        jpeg, _ = make_inputs(Path(scratch))
        body = jpeg.read_bytes()
    service = Server(
        [sys.executable, "-m", "service"],
        {"BRAINXAI_PORT": str(port), "BRAINXAI_LOG_LEVEL": "WARNING"},
        "/readyz",
        port,
    )
    try:
        log.info("steady: %d clients for %d s", args.steady, args.steady_seconds)
        steady = summarise(asyncio.run(_load(service.url, body, args.steady, args.steady_seconds)), args.steady_seconds)
        log.info("burst: %d clients for %d s, /healthz sampled by another process", args.burst, args.burst_seconds)
        queue: Any = multiprocessing.get_context("spawn").Queue()
        sampler = multiprocessing.get_context("spawn").Process(
            target=_sample_health, args=(service.url, args.burst_seconds, queue)
        )
        sampler.start()
        burst = summarise(asyncio.run(_load(service.url, body, args.burst, args.burst_seconds)), args.burst_seconds)
        health = queue.get(timeout=args.burst_seconds + 60)
        sampler.join()
        burst["healthz_p50_ms"] = round(statistics.median(health), 1)
        burst["healthz_p95_ms"] = round(percentile(health, 95), 1)
        burst["healthz_samples"] = len(health)
    finally:
        service.stop()
    return {"machine": machine(), "cpu": cpu_info(), "settings": "defaults", "steady": steady, "burst": burst}


def markdown(results: dict[str, Any]) -> str:
    """The two phases as a Markdown table, with each goal's verdict."""
    steady, burst = results["steady"], results["burst"]
    other_5xx = sum(n for status, n in {**steady["by_status"], **burst["by_status"]}.items() if status[0] == "5")
    other_5xx -= steady["by_status"].get("503", 0) + burst["by_status"].get("503", 0)
    rows = [
        ("8 clients: every request answered 200", str(steady["by_status"]), set(steady["by_status"]) == {"200"}),
        ("128 clients: 503s answered quickly (p99)", f"{burst['refused_p99_ms']} ms", burst["refused_p99_ms"] < 500),
        (
            "128 clients: accepted p99 within the 2 s budget",
            f"{burst['accepted_p99_ms']} ms",
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
    results = run(args)
    (REPO / "docs" / "ADMISSION.json").write_text(json.dumps(results, indent=1) + "\n")
    sys.stdout.write(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
