"""``make soak``: mixed traffic against the service (default settings, loopback) for a bounded time.

Every second or so, on a few client threads: JPEG, PNG and DICOM predictions; every explanation method
(small parameters, so that many run); bad inputs (empty, truncated, unknown type, a bad parameter, an
oversized image); and every ``--burst-every`` seconds an overload burst of 64 concurrent predictions.
It reports requests by status, p50/p99 per route, and the service's RSS at the start (after warm-up),
at the end, and its slope. It fails (exit 1) on any 5xx other than 503, on a connection failure, or on
RSS growth above 5 % between the end of warm-up and the end. Writes docs/SOAK.json and prints Markdown.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import random
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from common import REPO, default_service, machine, make_inputs  # bench/common.py, beside this script
from PIL import Image

from mlcore.explainers import method_names

log = logging.getLogger("bench.soak")

SMALL = {
    "lime": "num_samples=100&n_segments=16",
    "occlusion": "window=32&stride=32",
    "integrated_gradients": "n_steps=8",
}


def rss_mb(pid: int) -> float:
    """The process's resident memory now (VmRSS), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def traffic(jpeg: bytes, png: bytes, dicom: bytes) -> list[tuple[str, str, bytes, str]]:
    """The mix: (route label, URL path with query, body, content type)."""
    good = [
        ("predict jpeg", "/predict", jpeg, "image/jpeg"),
        ("predict png", "/predict", png, "image/png"),
        ("predict dicom", "/predict", dicom, "application/dicom"),
    ]
    for method in method_names():
        query = f"method={method}" + (f"&{SMALL[method]}" if method in SMALL else "")
        if method == "lime":  # a new seed each time: every LIME is computed, none comes from the cache
            query += f"&seed={random.randrange(1_000_000)}"
        good.append((f"explain {method}", f"/explain?{query}", jpeg, "image/jpeg"))
    bad = [
        ("bad empty", "/predict", b"", "image/png"),
        ("bad truncated", "/predict", jpeg[: len(jpeg) // 3], "image/jpeg"),
        ("bad type", "/predict", b"GIF89a....", "image/gif"),
        ("bad parameter", "/explain?method=lime&num_samples=7", jpeg, "image/jpeg"),
        ("bad method", "/explain?method=shap", jpeg, "image/jpeg"),
    ]
    return good * 3 + bad


def _send(http: httpx.Client, item: tuple[str, str, bytes, str]) -> tuple[str, int, float]:
    label, path, body, content_type = item
    started = time.monotonic()
    try:
        status = http.post(path, content=body, headers={"content-type": content_type}).status_code
    except httpx.HTTPError:
        status = -1
    return label, status, (time.monotonic() - started) * 1000


def soak(url: str, pid: int, inputs: tuple[bytes, bytes, bytes], args: argparse.Namespace) -> dict[str, Any]:
    """Run the mix for ``args.minutes``; RSS sampled every 5 s."""
    results: list[tuple[str, int, float]] = []
    rss: list[tuple[float, float]] = []
    lock = threading.Lock()
    start = time.monotonic()
    until = start + args.minutes * 60

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=url, timeout=120) as http:
            while time.monotonic() < until:
                outcome = _send(http, rng.choice(traffic(*inputs)))
                with lock:
                    results.append(outcome)

    def burster() -> None:
        with httpx.Client(base_url=url, timeout=120, limits=httpx.Limits(max_connections=64)) as http:
            while time.monotonic() + args.burst_every < until:
                time.sleep(args.burst_every)
                with ThreadPoolExecutor(64) as pool:
                    burst = list(
                        pool.map(
                            lambda _: _send(http, ("burst predict", "/predict", inputs[0], "image/jpeg")), range(64)
                        )
                    )
                with lock:
                    results.extend(burst)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(args.clients)]
    threads.append(threading.Thread(target=burster))
    for thread in threads:
        thread.start()
    while time.monotonic() < until:
        rss.append((time.monotonic() - start, rss_mb(pid)))
        time.sleep(5)
    for thread in threads:
        thread.join()
    return {"results": results, "rss": rss}


def summarise(raw: dict[str, Any], warmup_s: float) -> dict[str, Any]:
    """Statuses, per-route p50/p99, RSS after warm-up and at the end, and the RSS slope (MB per minute)."""
    by_route: dict[str, list[float]] = defaultdict(list)
    statuses: Counter[str] = Counter()
    for label, status, ms in raw["results"]:
        statuses[f"{label} {status}"] += 1
        by_route[label].append(ms)
    routes = {
        label: {
            "n": len(ms),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
        }
        for label, ms in sorted(by_route.items())
    }
    after = [(t, mb) for t, mb in raw["rss"] if t >= warmup_s] or raw["rss"]
    times, values = np.array([t for t, _ in after]), np.array([mb for _, mb in after])
    slope = float(np.polyfit(times / 60, values, 1)[0]) if len(after) > 2 else 0.0
    failures = sum(n for key, n in statuses.items() if key.endswith((" 500", " 502", " 504", " -1")))
    growth = (values[-1] - values[0]) / values[0] * 100
    return {
        "requests": len(raw["results"]),
        "by_status": dict(sorted(statuses.items())),
        "routes": routes,
        "rss_after_warmup_mb": round(float(values[0]), 1),
        "rss_end_mb": round(float(values[-1]), 1),
        "rss_growth_percent": round(float(growth), 2),
        "rss_slope_mb_per_min": round(slope, 2),
        "unexpected_failures": failures,
        "passed": bool(failures == 0 and growth <= 5.0),
        "rss_series": [[round(t), round(mb, 1)] for t, mb in raw["rss"]],
    }


def markdown(summary: dict[str, Any], minutes: float) -> str:
    """The soak's outcome as Markdown."""
    lines = [
        f"Soak: {minutes:g} min, {summary['requests']} requests; RSS {summary['rss_after_warmup_mb']} MB after "
        f"warm-up, {summary['rss_end_mb']} MB at the end ({summary['rss_growth_percent']:+.1f} %, slope "
        f"{summary['rss_slope_mb_per_min']:+.2f} MB/min); 5xx other than 503 or connection failures: "
        f"{summary['unexpected_failures']} → {'passed' if summary['passed'] else 'FAILED'}.",
        "",
        "| route | requests | p50 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r} | {v['n']} | {v['p50_ms']} | {v['p99_ms']} |" for r, v in summary["routes"].items()]
    lines += ["", "| route and status | requests |", "|---|---|"]
    lines += [f"| {key} | {n} |" for key, n in summary["by_status"].items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Start the service with its defaults, soak it, write docs/SOAK.json, print Markdown; 1 when it failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--burst-every", type=float, default=30.0, help="seconds between overload bursts")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the RSS baseline")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as scratch:
        jpeg_path, dicom_path = make_inputs(Path(scratch))
        jpeg, dicom = jpeg_path.read_bytes(), dicom_path.read_bytes()
    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(buffer, format="PNG")
    service = default_service()
    try:
        log.info("soak: %g min, %d clients, a burst of 64 every %g s", args.minutes, args.clients, args.burst_every)
        raw = soak(service.url, service.process.pid, (jpeg, buffer.getvalue(), dicom), args)
    finally:
        service.stop()
    summary = summarise(raw, args.warmup)
    (REPO / "docs" / "SOAK.json").write_text(
        json.dumps({"machine": machine(), "minutes": args.minutes, **summary}, indent=1) + "\n"
    )
    sys.stdout.write(markdown(summary, args.minutes))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
