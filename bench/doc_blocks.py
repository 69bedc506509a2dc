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

from training.metrics import share_interval

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
        "gradcam_ratio": bench["ratios"]["gradcam"],
        "without_ratio": bench["ratios"]["gradcam_without_evidence_check"],
        "lime": explain["lime"]["p50_ms"] / 1000,
        "stock_ratio": bench["ratios"]["stock_lime_to_lime"],
        "peer_ratio": bench["ratios"]["throughput_to_peer"],
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


# The reports of the model's quality, each naming the artifact it measured (name, version, sha256).
QUALITY_REPORTS = (
    "docs/evaluation/metrics.json",
    "docs/evaluation/input-gate.json",
    "docs/evaluation/explanations-gradcam.json",
    "docs/evaluation/evidence-refit.json",
)


def measured_model(repo: Path) -> dict[str, str]:
    """The one artifact every quality report measured; ValueError when two reports measured different ones (a number
    of another model would be shown as this one's)."""
    models = {path: _json(repo, path)["model"] for path in QUALITY_REPORTS}
    if len({model["sha256"] for model in models.values()}) != 1:
        raise ValueError(f"the quality reports measured different artifacts: {models}")
    return next(iter(models.values()))


def _share(share: float, n: int) -> str:
    """A share as a percentage with its bootstrap 95 % interval."""
    low, high = share_interval(share, n)
    return f"**{100 * share:.1f} %** [{100 * low:.1f}, {100 * high:.1f}]"


def _mean(value: float, interval: list[float], digits: int = 3) -> str:
    return f"**{value:.{digits}f}** [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def _pooled(rows: list[dict[str, Any]]) -> tuple[float, int]:
    """The share refused over several sets' rows of ``{"n", "share"}``, and their total n."""
    n = sum(row["n"] for row in rows)
    return sum(row["share"] * row["n"] for row in rows) / n, n


def _removal_rows(removal: dict[str, Any]) -> list[tuple[str, int, str]]:
    """Two rows over the four removal fills: the share answered "notumor", and the share of the controls that changed
    (each fill's rows are the same tumours)."""
    fills = ("mirror", "inpaint", "donor", "biharmonic")
    n = int(removal[fills[0]]["all"]["n"])
    removed = " / ".join(_share(removal[fill]["all"]["answered_notumor"], n) for fill in fills)
    controls = " / ".join(f"{100 * removal[fill]['all']['control_changed']:.0f} %" for fill in fills)
    return [
        ('tumour removed → "notumor": mirror* / inpaint / donor / biharmonic fill', n, removed),
        ("… the same removal elsewhere (controls) changed the answer", n, controls),
    ]


def readme_model_quality(repo: Path) -> str:
    """README's model table: each quality number with its bootstrap 95 % interval and n, from the reports."""
    model, metrics = measured_model(repo), _json(repo, "docs/evaluation/metrics.json")
    gate = _json(repo, "docs/evaluation/input-gate.json")
    gradcam = _json(repo, "docs/evaluation/explanations-gradcam.json")["summary"]["gradcam"]["all"]
    refit = _json(repo, "docs/evaluation/evidence-refit.json")["report"]["chosen"]
    n, maps, same = metrics["n"], int(gradcam["n"]), metrics["same_collection"]["groups"]
    other = gate["not_brains_all"]["refused"]
    sequences, sequences_n = _pooled([v["refused"] for k, v in gate["brains"].items() if k.startswith("sequence")])
    rows = [
        (
            "accuracy; macro-F1",
            n,
            f"{_share(metrics['accuracy'], n)}; {_mean(metrics['macro_f1'], metrics['ci95']['macro_f1'])}",
        ),
        ("calibration error (ECE, 15 bins, after temperature)", n, _mean(metrics["ece"], metrics["ci95"]["ece"], 4)),
        (
            "other collection's tumours (a slice per group): answered as a tumour; refused",
            same["n"],
            f"{_share(same['answered_tumour'], same['n'])}; {_share(same['refused'], same['n'])}",
        ),
        *_removal_rows(metrics["counterfactual"]),
        ("not brain MRI refused (14 kinds never fitted)", other["n"], _share(other["share"], other["n"])),
        ("brains of other sequences refused", sequences_n, _share(sequences, sequences_n)),
        ("Grad-CAM maximum in the tumour box", maps, _share(gradcam["pointing_game"], maps)),
        ("Grad-CAM mass in the box", maps, _mean(gradcam["energy_in_box"], gradcam["ci95"]["energy_in_box"])),
        (
            "evidence check agrees with removing the true box (half of the tumours; its level and margin chosen on the "
            "other half)",
            refit["n"],
            _share(refit["agrees_with_box"]["share"], refit["n"]),
        ),
    ]
    return "\n".join(
        [
            f"| {model['name']} {model['version']} (sha256 {model['sha256'][:12]}) | n | measured [95 % interval] |",
            "|---|---:|---|",
            *(f"| {what} | {count} | {value} |" for what, count, value in rows),
        ]
    )


def explanations_table(repo: Path) -> str:
    """docs/EXPLANATIONS.md's table of the shipped model's Grad-CAM against the two baselines, from explain-eval's
    summary: each group's n, the quality means with their bootstrap 95 % intervals."""
    report = _json(repo, "docs/evaluation/explanations-gradcam.json")
    model, summary = report["model"], report["summary"]
    lines = [
        f"{model['name']} {model['version']} (sha256 {model['sha256'][:12]}), {int(summary['gradcam']['all']['n'])} "
        f"validation images with a tumour box, {_cpu_of(report['cpu'])}, `{report['command']}`:",
        "",
        "| method | pointing game ↑ | energy in box ↑ | deletion AUC, black / blur fill ↓ "
        "| insertion AUC, black / blur fill ↑ | rank corr. with randomised model ↓ |",
        "|---|---|---|---|---|---|",
    ]
    for method in ("gradcam", "centre_prior", "random"):
        entry = summary[method]["all"]
        ci = entry.get("ci95", {})
        cells = [
            _mean(entry["pointing_game"], ci["pointing_game"]) if "pointing_game" in ci else "–",
            _mean(entry["energy_in_box"], ci["energy_in_box"]) if "energy_in_box" in ci else "–",
            f"{entry['deletion_auc']:.3f} / {entry['deletion_auc_blur']:.3f}",
            f"{entry['insertion_auc']:.3f} / {entry['insertion_auc_blur']:.3f}",
            f"{entry['randomisation_rank_correlation']:.3f}" if "randomisation_rank_correlation" in entry else "–",
        ]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    classes = sorted(group for group in summary["gradcam"] if group != "all")
    per_class = ", ".join(
        f"{c} {summary['gradcam'][c]['pointing_game']:.2f} / {summary['gradcam'][c]['energy_in_box']:.2f}"
        for c in classes
    )
    return "\n".join([*lines, "", f"Per class (pointing / energy): {per_class}."])


def _cpu_of(cpu: dict[str, Any]) -> str:
    return f"{cpu['model']} with {_kind(cpu.get('flags', []))}"


BLOCKS: dict[tuple[str, str], Callable[[Path], str]] = {
    ("docs/EXPLANATIONS.md", "explanations-table"): explanations_table,
    ("README.md", "model-quality"): readme_model_quality,
    ("README.md", "speed"): readme_speed,
    ("README.md", "load"): readme_load,
    ("docs/DEPLOY.md", "api-sizing"): deploy_api_sizing,
    ("docs/DEPLOY.md", "analyze-sizing"): deploy_analyze_sizing,
    ("docs/DICOM.md", "series-time"): dicom_series_time,
}


# Every report and manifest a block is rendered from (a scratch copy of these and the documents renders alike).
SOURCES = (
    *QUALITY_REPORTS,
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
