"""Measuring the input check as the service applies it, kind by kind (bench/gate_eval.py)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from gate_eval import encode_png, gate_report, markdown, other_sets, separation
from PIL import Image

from mlcore import artifact


def test_a_separation_of_perfectly_apart_scores_is_auroc_1_and_no_false_positive() -> None:
    inside, outside = np.linspace(-3, -1, 40), np.linspace(1, 3, 10)
    assert separation(inside, outside) == {"auroc": 1.0, "fpr_at_95_tpr": 0.0}
    assert separation(inside, inside)["auroc"] == pytest.approx(0.5)


def test_the_report_refuses_colour_and_noise_and_gives_every_score_per_kind(
    gated_model_path: Path, held_aside_phantoms: list[Path], ood_set_root: Path
) -> None:
    model = artifact.load(gated_model_path)
    colour = np.zeros((64, 64, 3), np.uint8)
    colour[..., 0] = np.linspace(0, 255, 64, dtype=np.uint8)
    noise = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    brains = {"validation": [path.read_bytes() for path in held_aside_phantoms]}
    others = {"colour": [encode_png(colour)], "noise": [encode_png(noise)] * 3, **other_sets(ood_set_root)}
    others = {kind: images[:3] for kind, images in others.items()}
    report = gate_report(model, brains, others, groups={})
    assert report["not_brains"]["colour"]["refused"]["share"] == 1.0
    assert report["not_brains"]["noise"]["refused"] == {"n": 3, "share": 1.0, "ci95": [1.0, 1.0]}
    scores = report["not_brains"]["noise"]["scores"]
    assert set(scores) == {"gate", "gate_margin", "gate_distance", "classifier_distance", "max_softmax", "energy"}
    assert 0 <= report["brains"]["validation"]["refused"]["share"] <= 0.25
    assert report["cost"]["gate_ms_p50"] > 0 and report["model"]["version"] == model.manifest["version"]
    text = markdown(report)
    assert "| noise | 3 | 100.0 % [100.0, 100.0]" in text and "| validation |" in text


def test_other_sets_reads_the_measure_part_by_kind(ood_set_root: Path) -> None:
    sets = other_sets(ood_set_root)
    assert {"ct-head", "mr-body", "radiograph", "colour-overlay"} <= set(sets)
    first = sets["radiograph"][0]
    assert first.startswith(b"\x89PNG") and Image.open(io.BytesIO(first)).size[0] >= 8


def test_the_input_check_page_includes_the_committed_measurement_verbatim() -> None:
    from gate_eval import BEGIN, END, include_block

    from tests.helpers import REPO_ROOT

    page = (REPO_ROOT / "docs" / "INPUT_CHECK.md").read_text()
    block = (REPO_ROOT / "docs" / "evaluation" / "input-gate.md").read_text()
    assert include_block(page, block) == page, (
        "python bench/gate_eval.py --out docs/evaluation --doc docs/INPUT_CHECK.md"
    )
    assert page.count(BEGIN) == page.count(END) == 1
