"""The documents' measured figures, written from the committed reports, so that the prose follows them by construction.

A block is the text between ``<!-- measured:NAME -->`` and ``<!-- /measured:NAME -->`` in a Markdown file;
:data:`BLOCKS` names the function that renders it from the reports (docs/BENCHMARKS.json, docs/evaluation/*.json, the
Kubernetes manifests). ``python bench/doc_blocks.py`` rewrites every block (``make bench`` runs it after its report);
the suite renders each block again and fails when a committed one differs (tests/bench/test_doc_blocks.py): a report
changed without its documents, or a number edited by hand.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("doc_blocks")


def _json(repo: Path, path: str) -> dict[str, Any]:
    return dict(json.loads((repo / path).read_text()))


def _memory(repo: Path, manifest: str, container: int = 0) -> tuple[str, str]:
    """(request, limit) memory of a workload's container, as written in its manifest."""
    documents = [d for d in yaml.safe_load_all((repo / manifest).read_text()) if d]
    spec = documents[0]["spec"]["template"]["spec"]
    resources = spec["containers"][container]["resources"]
    return str(resources["requests"]["memory"]), str(resources["limits"]["memory"])


def _kind(flags: list[str]) -> str:
    """The CPU kind the int8 scheme follows (mlcore.cpu: VNNI of either kind, else AVX2)."""
    if "avx512_vnni" in flags:
        return "AVX-512 + VNNI"
    return "AVX-VNNI" if "avx_vnni" in flags else "AVX2 without VNNI" if "avx2" in flags else "no AVX2"


def _cpu(machine: dict[str, Any]) -> str:
    return f"{machine['cpu']} with {_kind(machine.get('cpu_flags', []))}, {machine['cores']} cores"


def _speed(bench: dict[str, Any]) -> dict[str, float]:
    """The figures every speed block quotes, from one `make bench` run."""
    jpeg = bench["service_predict"]["jpeg"]
    predict = jpeg[0]["p50_ms"]
    explain = bench["service_explain"]
    return {
        "predict": predict,
        "gradcam": explain["gradcam"]["p50_ms"],
        "gradcam_ratio": explain["gradcam"]["p50_ms"] / predict,
        "without_ratio": bench["gradcam_without_evidence_check"]["p50_ms"] / predict,
        "lime": explain["lime"]["p50_ms"] / 1000,
        "stock_ratio": bench["stock_lime_s"] * 1000 / explain["lime"]["p50_ms"],
        "peer_ratio": max(r["throughput_per_s"] for r in jpeg) / bench["peer_detect_tumor"]["throughput_per_s"],
        "peak": bench["service_peak_rss_mb"],
        "ready": bench["service_ready_s"],
        "one_client": jpeg[0]["throughput_per_s"],
        "many_low": min(r["throughput_per_s"] for r in jpeg[1:]),
        "many_high": max(r["throughput_per_s"] for r in jpeg[1:]),
    }


def readme_speed(repo: Path) -> str:
    """README's one paragraph of speed: the latest `make bench`."""
    bench = _json(repo, "docs/BENCHMARKS.json")
    s = _speed(bench)
    return (
        f"Latest run ({_cpu(bench['machine'])}; {bench['model']['version']}): `/predict` {s['predict']:.1f} ms p50 "
        f"({s['peer_ratio']:.1f}× the VGG16 peer's throughput), Grad-CAM {s['gradcam']:.0f} ms with its PNG overlay "
        f"and evidence check ({s['gradcam_ratio']:.1f}× a prediction, {s['without_ratio']:.1f}× without the check; the "
        f"map comes from the prediction's own run), LIME at 1,000 samples {s['lime']:.2f} s (its perturbations on an "
        f"int8 model; {s['stock_ratio']:.0f}× faster than stock `lime`), peak memory {s['peak']:,.0f} MiB, ready "
        f"{s['ready']:.1f} s after start."
    )


def deploy_api_sizing(repo: Path) -> str:
    """docs/DEPLOY.md's API pod sizing: the benchmark's figures and the manifest's memory."""
    bench = _json(repo, "docs/BENCHMARKS.json")
    s = _speed(bench)
    request, limit = _memory(repo, "deploy/kubernetes/api-deployment.yaml")
    return (
        f"From docs/BENCHMARKS.md ({bench['model']['version']}, service defaults, {_cpu(bench['machine'])}): "
        f"`/predict` p50 {s['predict']:.1f} ms; Grad-CAM with its evidence check {s['gradcam_ratio']:.1f}× a "
        f"prediction ({s['without_ratio']:.1f}× without the check); LIME {s['lime']:.2f} s; peak RSS "
        f"**{s['peak']:,.0f} MiB** under the benchmark's mixed load; ready {s['ready']:.1f} s after start. Per API "
        f"pod: memory request {request} (that peak + 25 %, a test keeps the two together), limit {limit} (room for the "
        "explanation cache and concurrent heavy work). One such pod answered "
        f"{s['one_client']:.0f} JPEG predictions per second one at a time and {s['many_low']:.0f}–{s['many_high']:.0f} "
        "per second at 8–32 concurrent clients (docs/BENCHMARKS.md, /predict)."
    )


def deploy_analyze_sizing(repo: Path) -> str:
    """docs/DEPLOY.md's Indexed Job sizing: the analyze run and the job's manifest."""
    run = _json(repo, "docs/evaluation/analyze-run.json")["full_run"]
    request, limit = _memory(repo, "deploy/kubernetes/jobs/analyze-indexed-job.yaml")
    return (
        f"Sizing: one `brainxai analyze` process answered {run['images_per_s_after_load']:.0f} images a second on 2 "
        f"cores with a peak of {run['peak_rss_mib']:,.0f} MiB "
        "([docs/evaluation/analyze-run.md](evaluation/analyze-run.md)); "
        f"each pod requests 2 CPUs and {request} of memory (that peak + 25 %), limited to {limit}."
    )


def dicom_series_time(repo: Path) -> str:
    """docs/DICOM.md's end-to-end time of a series through the node."""
    run = _json(repo, "docs/evaluation/dimse-series.json")
    rounds = ", ".join(f"{s:.2f} s" for s in run["seconds"])
    kind = _kind(run["cpu"]["flags"])
    idle = run["series_idle_s"]
    return (
        f"**Time** for a {run['slices']}-slice series, from `storescu` starting to the SR and the 3 maps at "
        f"`storescp`, with the node as operators run it (`python -m service.dimse`, default settings: {idle:g} s "
        f"idle time, 3 key slices, Grad-CAM; {run['model']}): **{rounds}** in {len(run['seconds'])} rounds "
        f"(`.venv/bin/python bench/dimse_series.py`, docs/evaluation/dimse-series.json; {run['cpu']['model']} with "
        f"{kind}, 2 cores). Of that, {idle:g} s is the idle time that says the series is complete."
    )


def readme_load(repo: Path) -> str:
    """README's sentence on the service under load: the admission run and the soak."""
    admission, soak = _json(repo, "docs/ADMISSION.json"), _json(repo, "docs/SOAK.json")
    clients, steady, burst = admission["clients"], admission["steady"], admission["burst"]
    answered = steady["by_status"].get("200", 0) / max(1, steady["requests"]) * 100
    return (
        f"Under load, requests wait in a bounded line instead of being refused: {clients['steady']} concurrent clients "
        f"got {answered:.0f} % of their {steady['requests']:,} requests answered, {clients['burst']} get quick 503s "
        f"for the excess (p99 {burst['refused_p99_ms']:.0f} ms) with `/healthz` still at "
        f"{burst['healthz_p95_ms']:.0f} ms p95 (`python bench/admission.py`, {admission['machine']['model']}); "
        f"`make soak` ran mixed traffic for {soak['minutes']:g} minutes ({soak['machine']['model']}: "
        f"{soak['requests']:,} requests, {soak['unexpected_failures']} unexpected failures, resident memory "
        f"+{soak['rss_growth_percent']:.1f} % after warm-up). Both in docs/BENCHMARKS.md; this shared machine is "
        "noisy: compare ratios within one run."
    )


BLOCKS: dict[tuple[str, str], Callable[[Path], str]] = {
    ("README.md", "speed"): readme_speed,
    ("README.md", "load"): readme_load,
    ("docs/DEPLOY.md", "api-sizing"): deploy_api_sizing,
    ("docs/DEPLOY.md", "analyze-sizing"): deploy_analyze_sizing,
    ("docs/DICOM.md", "series-time"): dicom_series_time,
}


# Every report and manifest a block is rendered from (a scratch copy of these and the documents renders alike).
SOURCES = (
    "docs/BENCHMARKS.json",
    "docs/ADMISSION.json",
    "docs/SOAK.json",
    "docs/evaluation/analyze-run.json",
    "docs/evaluation/dimse-series.json",
    "deploy/kubernetes/api-deployment.yaml",
    "deploy/kubernetes/jobs/analyze-indexed-job.yaml",
)


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- measured:{re.escape(name)} -->\n)(.*?)(\n<!-- /measured:{re.escape(name)} -->)", re.S)


def committed(repo: Path, file: str, name: str) -> str | None:
    """The block ``name`` as ``file`` holds it, or None when the file has no such block."""
    found = _pattern(name).search((repo / file).read_text())
    return found.group(2) if found else None


def write(repo: Path = REPO) -> list[str]:
    """Render every block into its file; the blocks that changed."""
    changed = []
    for (file, name), render in BLOCKS.items():
        path = repo / file
        text, block = path.read_text(), render(repo)
        if committed(repo, file, name) is None:
            raise ValueError(f"{file} has no <!-- measured:{name} --> block")
        updated = _pattern(name).sub(lambda m, new=block: m.group(1) + new + m.group(3), text)
        if updated != text:
            path.write_text(updated)
            changed.append(f"{file}:{name}")
    return changed


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("rewrote: %s", ", ".join(write()) or "nothing (every block already matches its reports)")
    sys.exit(0)
