"""``brainxai analyze`` over a whole archive, measured: rate, peak memory, a kill -9 and resume, and every row against
``/predict``.

Three runs of the installed command on the same folder (default: the dataset's 5,712 Training images):

1. a full run, timed (images a second after the model is loaded, read from the command's own log) with its peak RSS
   (``getrusage`` of the child);
2. a run killed with SIGKILL once its table holds ``--kill-at`` rows, then ``--resume``: the table must hold every file
   once, and the same answers as the full run;
3. the service (``python -m service``, default settings) answering ``/predict`` for every image: each row's answer must
   be ``/predict``'s, and each probability within 1e-6.

Writes ``docs/evaluation/analyze-run.{json,md}``.

    .venv/bin/python bench/analyze_run.py [--data ../shared/data/brain-tumor-mri/Training]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import MODEL, REPO, default_service, machine  # bench/common.py

log = logging.getLogger("analyze_run")
COMMAND = [str(Path(sys.executable).parent / "brainxai"), "analyze"]
LOADED = re.compile(r"^(\S+ \S+) INFO service: model ")


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _stamp(line: str) -> float:
    return time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + int(line[20:23]) / 1000


def full_run(data: Path, out: Path) -> dict[str, Any]:
    """One uninterrupted run: wall time, rate after loading, peak RSS."""
    started = time.time()
    done = subprocess.run([*COMMAND, str(data), "--out", str(out)], capture_output=True, text=True, check=True)
    ended = time.time()
    loaded = next(_stamp(line) for line in done.stderr.splitlines() if LOADED.match(line))
    rows = len(_rows(out))
    return {
        "rows": rows,
        "wall_s": round(ended - started, 1),
        "load_s": round(loaded - started, 1),
        "images_per_s_after_load": round(rows / (ended - loaded), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def killed_and_resumed(data: Path, out: Path, kill_at: int, reference: list[dict[str, str]]) -> dict[str, Any]:
    """Kill -9 once the table holds ``kill_at`` rows, resume; every file once, with the full run's answers."""
    process = subprocess.Popen([*COMMAND, str(data), "--out", str(out)], stderr=subprocess.DEVNULL)
    table = out / "results.csv"
    while process.poll() is None:
        if table.is_file() and table.read_bytes().count(b"\n") > kill_at:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait()
    before = len(_rows(out))
    subprocess.run([*COMMAND, str(data), "--out", str(out), "--resume"], capture_output=True, check=True)
    rows = _rows(out)
    paths = [row["path"] for row in rows]
    expected = {row["path"]: row["answer"] for row in reference}
    return {
        "killed_with_rows": before,
        "rows_after_resume": len(rows),
        "doubled": len(paths) - len(set(paths)),
        "lost": len(set(expected) - set(paths)),
        "answers_differing_from_full_run": sum(expected.get(row["path"]) != row["answer"] for row in rows),
    }


def against_predict(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Each row against ``/predict`` of the running service (default settings)."""
    server = default_service()
    differing, largest_gap, refused_both = 0, 0.0, 0
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for row in rows:
                path = Path(row["path"])
                response = client.post("/predict", files={"file": (path.name, path.read_bytes(), "image/jpeg")})
                if response.status_code == 422:
                    refused_both += row["refused"] == "True"
                    differing += row["refused"] != "True"
                    continue
                body = response.json()
                if row["refused"] == "True" or body["label"] != row["answer"]:
                    differing += 1
                    continue
                gaps = [abs(float(row[f"p_{name}"]) - value) for name, value in body["probabilities"].items()]
                largest_gap = max(largest_gap, *gaps)
    finally:
        server.stop()
    return {"rows": len(rows), "differing": differing, "refused_by_both": refused_both,
            "largest_probability_gap": largest_gap}  # fmt: skip


def markdown(report: dict[str, Any]) -> str:
    """The report as the page docs link to."""
    full, resumed, predict = report["full_run"], report["kill_and_resume"], report["against_predict"]
    machine_ = report["machine"]
    rows = [
        ("rows written", full["rows"]),
        ("wall time, start to exit", f"{full['wall_s']} s (loading {full['load_s']} s)"),
        ("images a second after loading", full["images_per_s_after_load"]),
        ("peak memory (RSS, of the command)", f"{full['peak_rss_mib']} MiB"),
        ("killed (SIGKILL) with rows in the table, then `--resume`",
         f"{resumed['killed_with_rows']} → {resumed['rows_after_resume']}"),
        ("rows doubled / lost / answered differently after the resume",
         f"{resumed['doubled']} / {resumed['lost']} / {resumed['answers_differing_from_full_run']}"),
        ("rows whose answer differs from `/predict`'s",
         f"{predict['differing']} of {predict['rows']} ({predict['refused_by_both']} refused by both)"),
        ("largest probability gap from `/predict`", f"{predict['largest_probability_gap']:.1e}"),
    ]  # fmt: skip
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    cpu = f"{machine_['cpu']} with {', '.join(machine_['cpu_flags'])}, {machine_['cores']} cores"
    return f"""# `brainxai analyze` over an archive

Generated by `python bench/analyze_run.py` ({cpu}, {machine_["date"]}); model {report["model"]}.
Data: {report["data"]} ({full["rows"]} files), predictions only (no `--explain`).

| measure | value |
|---|---:|
{table}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/brain-tumor-mri/Training")
    parser.add_argument("--kill-at", type=int, default=2000, help="rows in the table when the run is killed")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "evaluation")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from mlcore.artifact import load

    loaded = load(MODEL)
    report: dict[str, Any] = {
        "machine": machine(),
        "model": f"{loaded.manifest['name']} {loaded.manifest['version']} (sha256 {loaded.sha256[:12]})",
        "data": str(args.data.relative_to(REPO.parent)) if args.data.is_relative_to(REPO.parent) else str(args.data),
    }
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        report["full_run"] = full_run(args.data, work / "full")
        log.info("full run: %s", report["full_run"])
        reference = _rows(work / "full")
        report["kill_and_resume"] = killed_and_resumed(args.data, work / "killed", args.kill_at, reference)
        log.info("kill and resume: %s", report["kill_and_resume"])
        report["against_predict"] = against_predict(reference)
        log.info("against /predict: %s", report["against_predict"])
        shutil.rmtree(work / "full")
    (args.out / "analyze-run.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "analyze-run.md").write_text(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
