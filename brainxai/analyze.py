"""``brainxai analyze PATH… --out DIR``: every slice of folders, files and DICOM trees through the one analysis
pipeline, into one table.

Images (PNG, JPEG) are analysed one by one; DICOM files are grouped into series by their Series Instance UID and each
series goes through :func:`service.analysis.series.analyse_series` (the node's series rule; its finding is on every row
of the series). One row per slice: the file (and frame), the series, the answer and the calibrated probabilities, or the
refusal and its reason (a refused slice has no answer), and for each method asked (``--explain``) its map as a PNG
under ``DIR/maps/`` and its evidence check's verdict. With ``--dicom-out``, each series' results as the DICOM node
makes them (the Comprehensive SR report, and a Parametric Map per key slice and method asked) under
``DIR/dicom/<series>/``, named in the ``dicom_results`` column.

The table is ``DIR/results.csv``, appended row by row and flushed, so that a run killed at any point loses at most
the slice in progress; ``--resume`` skips the files already in it. ``DIR/results.parquet`` is written from it at the
end (with pyarrow installed). ``--shard I/N`` takes every N-th file from the I-th (0-based) of the sorted list, so that
N processes split one archive without talking to each other and their tables concatenate. A file that cannot be read
is a row with its reason, never a stop.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from tqdm import tqdm

from mlcore.errors import BrainxaiError, OutOfDistribution
from mlcore.render import heatmap_png
from service.analysis.pipeline import Analyser, Analysis, AnalysisRequest
from service.analysis.series import SeriesAnalysis, analyse_series
from service.analysis.series_results import series_results
from service.image import Upload

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
DICOM_SUFFIXES = {".dcm", ".dicom", ""}
BASE_COLUMNS = ("path", "frame", "series", "answer", "refused", "refusal_kind", "reason", "series_finding")


@dataclass
class Summary:
    """What one run did."""

    rows: int = 0
    answered: int = 0
    refused: int = 0
    unreadable: int = 0
    skipped: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


def discover(paths: Sequence[Path]) -> list[Path]:
    """Every file under ``paths`` (files as given, folders recursively), sorted; hidden files left out."""
    found: set[Path] = set()
    for path in paths:
        if path.is_file():
            found.add(path)
        elif path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return sorted(found)


def shard(files: Sequence[Path], index: int, count: int) -> list[Path]:
    """The ``index``-th of ``count`` shards: every ``count``-th file from the ``index``-th."""
    if not 0 <= index < count:
        raise ValueError(f"shard {index}/{count}: the index must be between 0 and {count - 1}")
    return list(files[index::count])


def is_dicom(path: Path) -> bool:
    """A DICOM Part 10 file (by its preamble), or a file of a DICOM suffix."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM" or (path.suffix.lower() in (".dcm", ".dicom"))


def columns(classes: Sequence[str], methods: Sequence[str], *, dicom_out: bool = False) -> list[str]:
    """The table's columns: the base ones, one probability per class, a map and a verdict per method, and with
    ``dicom_out`` the DICOM result files of the row's series."""
    return [
        *BASE_COLUMNS,
        *(f"p_{name}" for name in classes),
        *(f"{kind}_{method}" for method in methods for kind in ("map", "evidence")),
        *(["dicom_results"] if dicom_out else []),
    ]


class Table:
    """``results.csv``, appended and flushed row by row; the paths it already holds (for ``--resume``)."""

    def __init__(self, path: Path, header: list[str], *, resume: bool) -> None:
        self.path = path
        self.header = header
        self.done: set[str] = set()
        if resume and path.is_file():
            with open(path, newline="") as handle:
                self.done = {row["path"] for row in csv.DictReader(handle)}
        fresh = not (resume and path.is_file())
        self._handle = open(path, "w" if fresh else "a", newline="")  # noqa: SIM115 (kept open for the run)
        self._writer = csv.DictWriter(self._handle, fieldnames=header, extrasaction="ignore")
        if fresh:
            self._writer.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def _probabilities(analysis: Analysis | None, probabilities: dict[str, float] | None) -> dict[str, Any]:
    chosen = probabilities if probabilities is not None else analysis.prediction.probabilities if analysis else {}
    return {f"p_{name}": round(value, 6) for name, value in chosen.items()}


def _maps(analysis: Analysis, out: Path, stem: str) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for explanation in analysis.explanations:
        target = out / "maps" / f"{stem}-{explanation.method}.png"
        target.write_bytes(heatmap_png(explanation.heatmap))
        row[f"map_{explanation.method}"] = str(target.relative_to(out))
        row[f"evidence_{explanation.method}"] = explanation.evidence.verdict if explanation.evidence else ""
    return row


def image_rows(
    analyser: Analyser, path: Path, methods: dict[str, dict[str, Any]], *, out: Path, stem: str
) -> dict[str, Any]:
    """The row of one image file: its answer, or its refusal, or why it cannot be read."""
    row: dict[str, Any] = {"path": str(path), "frame": "", "series": ""}
    plan = analyser.plan(AnalysisRequest(methods=methods))
    try:
        analysis = analyser.analyse(Upload(path.read_bytes(), None), plan)
    except OutOfDistribution as exc:
        return {**row, "refused": True, "refusal_kind": exc.check.kind or "content", "reason": exc.check.reason}
    except BrainxaiError as exc:
        return {**row, "refused": True, "refusal_kind": "unreadable", "reason": exc.message}
    prediction = analysis.prediction
    return {**row, "answer": prediction.label, "refused": False, **_probabilities(analysis, None),
            **_maps(analysis, out, stem)}  # fmt: skip


def write_dicom_results(analyser: Analyser, analysis: SeriesAnalysis, out: Path) -> list[str]:
    """The objects the DICOM node sends for this series (the report, and a Parametric Map per key slice and method
    asked), written under ``out/dicom/<series>/``; their paths relative to ``out``."""
    folder = out / "dicom" / str(analysis.slices[0].dataset.SeriesInstanceUID)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for number, result in enumerate(series_results(analysis, analyser.model_ref())):
        target = folder / f"{number:02d}-{result.kind}{'-' + result.method if result.method else ''}.dcm"
        result.dataset.save_as(target, enforce_file_format=True)
        written.append(str(target.relative_to(out)))
    return written


def series_rows(
    analyser: Analyser,
    files: Sequence[Path],
    methods: dict[str, dict[str, Any]],
    out: Path,
    *,
    dicom_out: bool = False,
) -> Iterator[dict[str, Any]]:
    """The rows of one DICOM series: one per slice (an instance, or a frame), with the series' finding; the key slices'
    maps when methods are asked; with ``dicom_out``, the series' report and maps as DICOM files."""
    datasets, paths_of = [], {}
    for path in files:
        dataset = pydicom.dcmread(path)
        datasets.append(dataset)
        paths_of[str(dataset.SOPInstanceUID)] = path
    analysis = analyse_series(analyser, datasets, methods=methods, key_slices=3 if methods else 0)
    finding = analysis.finding.label if analysis.finding else ""
    results = ";".join(write_dicom_results(analyser, analysis, out)) if dicom_out else ""
    keys = dict(analysis.key_slices)
    for index, item in enumerate(analysis.slices):
        path = paths_of[str(item.dataset.SOPInstanceUID)]
        row: dict[str, Any] = {"path": str(path), "frame": "" if item.frame is None else item.frame,
                               "series": str(item.dataset.SeriesInstanceUID), "series_finding": finding,
                               "dicom_results": results}  # fmt: skip
        if item.prediction is None:
            yield {**row, "refused": True, "refusal_kind": item.kind, "reason": item.refused}
            continue
        row |= {
            "answer": item.prediction.label,
            "refused": False,
            **_probabilities(None, item.prediction.probabilities),
        }
        if index in keys:
            row |= _maps(keys[index], out, f"{path.stem}-{item.frame or 0}")
        yield row


def _series_of(files: Iterable[Path]) -> tuple[dict[str, list[Path]], list[tuple[Path, str]]]:
    """DICOM files grouped by series, and those whose header cannot be read (with why)."""
    series: dict[str, list[Path]] = {}
    unreadable = []
    for path in files:
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
            series.setdefault(str(header.SeriesInstanceUID), []).append(path)
        except Exception as exc:  # any file a reader refuses: a row with its reason, never a stop
            unreadable.append((path, f"not a readable DICOM file: {type(exc).__name__}: {exc}"))
    return series, unreadable


def analyze(
    analyser: Analyser,
    paths: Sequence[Path],
    out: Path,
    *,
    methods: Sequence[str] = (),
    resume: bool = False,
    shard_index: int = 0,
    shard_count: int = 1,
    show_progress: bool = True,
    dicom_out: bool = False,
) -> Summary:
    """Analyse every file under ``paths`` into ``out/results.csv`` (see the module); returns what was done."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "maps").mkdir(exist_ok=True)
    asked: dict[str, dict[str, Any]] = {method: {} for method in methods}
    analyser.plan(AnalysisRequest(methods=asked))  # unknown methods fail before any work
    table = Table(out / "results.csv", columns(analyser.classes, list(methods), dicom_out=dicom_out), resume=resume)
    files = [path for path in shard(discover(paths), shard_index, shard_count) if str(path) not in table.done]
    summary = Summary(skipped=len(table.done))
    dicom = [path for path in files if path.suffix.lower() not in IMAGE_SUFFIXES and is_dicom(path)]
    images = [path for path in files if path not in set(dicom)]
    series, unreadable = _series_of(dicom)
    progress = tqdm(total=len(files), unit="file", desc="analyze", disable=not show_progress)
    try:
        for number, path in enumerate(images):
            _record(table, summary, image_rows(analyser, path, asked, out=out, stem=f"{number:06d}-{path.stem}"))
            progress.update()
        for path, reason in unreadable:
            _record(
                table, summary, {"path": str(path), "refused": True, "refusal_kind": "unreadable", "reason": reason}
            )
            progress.update()
        for members in series.values():
            try:
                for row in series_rows(analyser, members, asked, out, dicom_out=dicom_out):
                    _record(table, summary, row)
            except Exception as exc:  # a series that cannot be analysed: each file a row with the reason
                for path in members:
                    reason = f"the series could not be analysed: {type(exc).__name__}: {exc}"
                    _record(table, summary, {"path": str(path), "refused": True, "refusal_kind": "unreadable",
                                             "reason": reason})  # fmt: skip
            progress.update(len(members))
    finally:
        progress.close()
        table.close()
    _write_parquet(out)
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(summary.kinds.items())) or "none"
    log.info("%d rows: %d answered, %d refused (%s), %d already in the table", summary.rows, summary.answered,
             summary.refused, kinds, summary.skipped)  # fmt: skip
    return summary


def _record(table: Table, summary: Summary, row: dict[str, Any]) -> None:
    table.write(row)
    summary.rows += 1
    if row.get("refused"):
        summary.refused += 1
        kind = str(row.get("refusal_kind") or "content")
        summary.kinds[kind] = summary.kinds.get(kind, 0) + 1
        summary.unreadable += kind == "unreadable"
    else:
        summary.answered += 1


def _write_parquet(out: Path) -> None:
    try:
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq
    except ImportError:
        log.info("pyarrow is not installed: results.csv only (pip install 'brainxai[analyze]' for results.parquet)")
        return
    pq.write_table(pa_csv.read_csv(out / "results.csv"), out / "results.parquet")
