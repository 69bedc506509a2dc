"""Side by side: ``/predict`` latency of two checkouts of the service, measured in one run (default settings).

Starts ``python -m service`` from each checkout (its own code and its own shipped model; the same virtualenv),
then sends the same JPEG to each in alternating rounds, one request at a time, and reports each one's median and
the difference. Alternating rounds keep a noisy shared machine fair to both.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/ab_predict.py --before /tmp/before --after .
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

log = logging.getLogger("ab_predict")
SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "samples" / "glioma" / "Tr-gl_0716.jpg"


def start(checkout: Path, port: int) -> subprocess.Popen[bytes]:
    """The service of ``checkout`` on ``port``, ready to answer."""
    env = {**os.environ, "BRAINXAI_PORT": str(port), "BRAINXAI_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "service"], cwd=checkout, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the service of {checkout} did not become ready")


def latencies_ms(client: httpx.Client, url: str, body: bytes, count: int) -> list[float]:
    """``count`` sequential POSTs of ``body``; each one's wall-clock milliseconds."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.post(url, content=body, headers={"content-type": "image/jpeg"})
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    body = SAMPLE.read_bytes()
    servers = {"before": start(args.before, 8701), "after": start(args.after, 8702)}
    urls = {"before": "http://127.0.0.1:8701/predict", "after": "http://127.0.0.1:8702/predict"}
    times: dict[str, list[float]] = {"before": [], "after": []}
    try:
        with httpx.Client(timeout=30) as client:
            for name in urls:
                latencies_ms(client, urls[name], body, 50)  # warm-up
            for round_ in range(args.rounds):
                order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
                for name in order:
                    times[name] += latencies_ms(client, urls[name], body, args.per_round)
    finally:
        for process in servers.values():
            process.terminate()
            process.wait(timeout=30)
    result = {name: round(statistics.median(values), 3) for name, values in times.items()}
    result["difference_ms"] = round(result["after"] - result["before"], 3)
    log.info("%s", json.dumps({"p50_ms": result, "requests_each": len(times["after"])}))


if __name__ == "__main__":
    main()
