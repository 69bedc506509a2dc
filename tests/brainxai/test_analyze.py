"""Folders through the analysis pipeline into one table (brainxai/analyze.py)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image

from brainxai.__main__ import main
from brainxai.analyze import analyze, discover, shard
from service.analysis.pipeline import AnalysisRequest
from service.image import Upload
from tests.dicom_series import mr_series
from tests.helpers import NOT_BRAIN, SAMPLES


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """The committed samples, the images that are not brains, a corrupt and an empty file, and a 3-slice series."""
    folder = tmp_path / "archive"
    shutil.copytree(SAMPLES, folder / "samples")
    shutil.copytree(NOT_BRAIN, folder / "not-brain", ignore=shutil.ignore_patterns("*.md"))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "empty.png").write_bytes(b"")
    (folder / "series").mkdir()
    for index, dataset in enumerate(mr_series("meningioma", 3)):
        dataset.save_as(folder / "series" / f"{index}.dcm", enforce_file_format=True)
    return folder


def test_every_file_is_a_row_answered_as_the_service_answers_it_or_refused_with_a_reason(
    shipped_analyser: Any, archive: Path, tmp_path: Path
) -> None:
    summary = analyze(shipped_analyser, [archive], tmp_path / "out", show_progress=False)
    rows = {Path(row["path"]).relative_to(archive).as_posix(): row for row in _rows(tmp_path / "out")}
    assert len(rows) == len(discover([archive])) == summary.rows == 8 + 4 + 2 + 3
    plan = shipped_analyser.plan(AnalysisRequest())
    for path in sorted(SAMPLES.glob("*/*.jpg")):
        row = rows[f"samples/{path.parent.name}/{path.name}"]
        expected = shipped_analyser.analyse(Upload(path.read_bytes(), None), plan).prediction
        assert row["refused"] == "False" and row["answer"] == expected.label
        for name, value in expected.probabilities.items():
            assert float(row[f"p_{name}"]) == pytest.approx(value, abs=1e-6)
    for name in ("not-brain/chest-radiograph.png", "not-brain/colour-overlay.png", "broken.jpg", "empty.png"):
        assert rows[name]["refused"] == "True" and rows[name]["reason"] and not rows[name]["answer"], name
    assert rows["broken.jpg"]["refusal_kind"] == "unreadable"
    series = [rows[f"series/{index}.dcm"] for index in range(3)]
    assert len({row["series"] for row in series}) == 1 and all(row["series_finding"] for row in series)
    assert summary.refused == 6 and summary.answered == 11
    assert (tmp_path / "out" / "results.parquet").is_file()


def test_maps_are_written_with_their_evidence_verdicts(shipped_analyser: Any, tmp_path: Path) -> None:
    sample = sorted(SAMPLES.glob("glioma/*.jpg"))[0]
    analyze(shipped_analyser, [sample], tmp_path / "out", methods=["gradcam"], show_progress=False)
    [row] = _rows(tmp_path / "out")
    assert (tmp_path / "out" / row["map_gradcam"]).is_file()
    assert row["evidence_gradcam"] in ("depends", "does_not_depend", "inconclusive")


def test_a_resumed_run_adds_only_what_is_missing_and_shards_split_without_overlap(
    shipped_analyser: Any, tmp_path: Path
) -> None:
    files = sorted(SAMPLES.glob("*/*.jpg"))
    out = tmp_path / "out"
    analyze(shipped_analyser, files[:3], out, show_progress=False)
    summary = analyze(shipped_analyser, files, out, resume=True, show_progress=False)
    assert summary.skipped == 3 and summary.rows == len(files) - 3
    paths = [row["path"] for row in _rows(out)]
    assert sorted(paths) == sorted(str(path) for path in files)  # none lost, none twice
    halves = [shard(files, index, 2) for index in range(2)]
    assert sorted(halves[0] + halves[1]) == files and not set(halves[0]) & set(halves[1])
    with pytest.raises(ValueError, match="shard"):
        shard(files, 2, 2)


def test_dicom_out_writes_the_report_and_maps_the_node_sends(shipped_analyser: Any, tmp_path: Path) -> None:
    series = tmp_path / "series"
    series.mkdir()
    for index, dataset in enumerate(mr_series("glioma", 4)):
        dataset.save_as(series / f"{index}.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    analyze(shipped_analyser, [series], out, methods=["gradcam"], show_progress=False, dicom_out=True)
    rows = _rows(out)
    assert len(rows) == 4 and len({row["dicom_results"] for row in rows}) == 1
    written = [out / path for path in rows[0]["dicom_results"].split(";")]
    kinds = [pydicom.dcmread(path).Modality for path in written]
    assert kinds[0] == "SR" and kinds[1:] == ["OT"] * 3  # the report, then a Parametric Map per key slice
    assert all(path.is_file() and path.is_relative_to(out / "dicom") for path in written)


def test_a_hundred_files_with_ten_bad_ones_give_ninety_answers_and_ten_reasons(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    samples = sorted(SAMPLES.glob("*/*.jpg"))
    for index in range(90):
        shutil.copyfile(samples[index % len(samples)], folder / f"{index:03d}.jpg")
    rgb = np.asarray(Image.open(samples[0]).convert("RGB")).copy()
    rgb[..., 0] = 255 - rgb[..., 0]  # a colour photo, not a greyscale slice
    Image.fromarray(rgb).save(folder / "bad-colour.png")
    Image.open(NOT_BRAIN / "colour-overlay.png").save(folder / "bad-overlay.png")
    (folder / "bad-empty.jpg").write_bytes(b"")
    (folder / "bad-empty.dcm").write_bytes(b"")
    (folder / "bad-text.jpg").write_text("not an image")
    (folder / "bad-truncated.jpg").write_bytes(samples[0].read_bytes()[:400])
    (folder / "bad-truncated.png").write_bytes((NOT_BRAIN / "head-ct.png").read_bytes()[:300])
    (folder / "bad-random.dcm").write_bytes(bytes(range(256)) * 4)
    dicom = mr_series("glioma", 1)[0]
    dicom.save_as(folder / "bad-no-pixels.dcm", enforce_file_format=True)
    del dicom.PixelData
    dicom.save_as(folder / "bad-no-pixels.dcm", enforce_file_format=True)
    shutil.copyfile(NOT_BRAIN / "chest-radiograph.png", folder / "bad-chest.png")
    assert len(list(folder.iterdir())) == 100
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "--out", str(out)]) == 0
    rows = _rows(out)
    assert len(rows) == 100
    answered = [row for row in rows if row["refused"] == "False"]
    refused = [row for row in rows if row["refused"] == "True"]
    assert len(answered) == 90 and all(not Path(row["path"]).name.startswith("bad-") for row in answered)
    assert len(refused) == 10 and all(row["reason"] and row["refusal_kind"] for row in refused)
