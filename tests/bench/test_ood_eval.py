"""Measuring the input check as the service applies it (bench/ood_eval.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ood_eval import check_files, input_check_markdown, input_check_report, ood_files
from PIL import Image

from mlcore import artifact
from mlcore.errors import DatasetError


def test_ood_files_are_grouped_by_folder_and_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no images"):
        ood_files(tmp_path)
    for name in ("b/one.png", "a/two.jpg", "a/notes.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [(path.name, group) for path, group in ood_files(tmp_path)] == [("two.jpg", "a"), ("one.png", "b")]


def test_check_files_decodes_like_the_service_and_refuses_colour_and_blank(
    ood_model_path: Path, held_aside_phantoms: list[Path], tmp_path: Path
) -> None:
    model = artifact.load(ood_model_path)
    colour = np.zeros((64, 64, 3), np.uint8)
    colour[..., 0] = np.linspace(0, 255, 64, dtype=np.uint8)
    Image.fromarray(colour).save(tmp_path / "red.png")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "blank.png")
    checked = check_files(model, [tmp_path / "red.png", tmp_path / "blank.png", *held_aside_phantoms[:4]])
    assert checked.kinds[:2] == ["colour", "uniform"] and not checked.accepted[:2].any()
    assert np.isfinite(checked.scores).all() and checked.predicted.shape == (6,)


def test_the_report_counts_false_refusals_and_caught_images_per_group(
    ood_model_path: Path, held_aside_phantoms: list[Path], tmp_path: Path
) -> None:
    (tmp_path / "noise").mkdir()
    for seed in range(3):
        noise = (np.random.default_rng(seed).random((64, 64)) * 255).astype(np.uint8)
        Image.fromarray(noise).save(tmp_path / "noise" / f"{seed}.png")
    classes = ["glioma", "meningioma", "notumor", "pituitary"]
    files = [(path, classes.index(path.parent.name)) for path in held_aside_phantoms]
    report = input_check_report(artifact.load(ood_model_path), files, tmp_path, show_progress=False)
    assert report["groups"] == {"noise": {"n": 3, "caught": 1.0, "caught_by_score_alone": 1.0}}
    inside = report["in_distribution"]
    assert inside["n"] == len(files) and inside["coverage"] == pytest.approx(1 - inside["false_refusal_rate"])
    assert "| noise | 3 | 100% | 100% |" in input_check_markdown(report, tmp_path)
