"""Counterfactual evaluation (training/evaluation/counterfactual_eval.py): boxes on the model's square, rows and
summaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcore.errors import DatasetError
from training.evaluation.counterfactual_eval import (
    counterfactual_markdown,
    counterfactual_rows,
    donor_files,
    square_box,
    summarise_counterfactuals,
)
from training.evaluation.explain_eval import load_cases
from training.fit.counterfactual import REMOVALS


def test_square_box_follows_the_padding_and_the_resize() -> None:
    # A 100 (high) × 50 (wide) image padded to 100 × 100 (25 columns each side), then resized to 200.
    assert square_box((0.5, 0.5, 1.0, 1.0), (100, 50), 200) == (50, 0, 150, 200)
    assert square_box((0.25, 0.1, 0.5, 0.2), (100, 50), 200) == (50, 0, 100, 40)


def test_the_summary_counts_answers_drops_and_controls() -> None:
    rows = [
        {"method": "mirror", "label": "glioma", "original": "glioma", "removed": "notumor", "control": "glioma",
         "p_true": 0.9, "p_true_removed": 0.1, "p_true_control": 0.9, "p_notumor_removed": 0.8},
        {"method": "mirror", "label": "glioma", "original": "glioma", "removed": "glioma", "control": "notumor",
         "p_true": 0.9, "p_true_removed": 0.7, "p_true_control": 0.3, "p_notumor_removed": 0.2},
    ]  # fmt: skip
    entry = summarise_counterfactuals(rows)["mirror"]["all"]
    assert entry["n"] == 2 and entry["answered_notumor"] == 0.5 and entry["answered_true_class"] == 0.5
    assert entry["p_true_drop"] == pytest.approx(0.5) and entry["control_changed"] == 0.5
    assert summarise_counterfactuals(rows)["mirror"]["glioma"] == entry


def test_the_section_says_which_fills_the_model_never_saw() -> None:
    entry = {"n": 10.0, "answered_notumor": 0.7, "answered_true_class": 0.2, "p_true_drop": 0.5, "control_changed": 0.0}
    summary = {method: {"all": entry} for method in REMOVALS}

    def seen_column(fills: list[str] | None) -> dict[str, str]:
        rows = [line.split(" | ") for line in counterfactual_markdown(summary, fills).splitlines()]
        return {row[0].strip("| "): row[1] for row in rows if row[0].strip("| ") in REMOVALS}

    assert seen_column(["donor", "inpaint"]) == {
        "mirror": "**no**", "inpaint": "yes", "donor": "yes", "biharmonic": "**no**"
    }  # fmt: skip
    assert set(seen_column(None).values()) == {"unknown"}
    assert "fills it never saw: mirror, biharmonic" in counterfactual_markdown(summary, ["donor", "inpaint"])
    assert "every fill was used in training" in counterfactual_markdown(summary, list(REMOVALS))


def test_rows_for_the_tiny_model_on_phantoms(exported: Path, synth_root: Path, tiny_run: Path, tmp_path: Path) -> None:
    split = tiny_run / "split.json"
    cases = load_cases(synth_root, synth_root.parent / "tumor-boxes.csv", split, per_class=None, seed=0)
    rows = counterfactual_rows(exported, cases, donor_files(synth_root, split), show_progress=False)
    inserted = [row for row in rows if row["method"] == "insert"]
    assert len(inserted) == len(cases)  # one insertion per tumour case
    for row in rows:
        assert row["method"] in {*REMOVALS, "insert"}
        assert 0 <= row["p_true"] <= 1 and 0 <= row["p_notumor_removed"] <= 1
    removed = {(row["path"], row["method"]) for row in rows if row["method"] != "insert"}
    assert {method for _, method in removed} == set(REMOVALS)  # every removal, for the same tumours
    assert len(removed) == len(REMOVALS) * len({path for path, _ in removed})


def test_donors_need_a_no_tumour_class(tmp_path: Path) -> None:
    for label in ("glioma", "pituitary"):
        (tmp_path / label).mkdir()
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / label / "a.png")
    with pytest.raises(DatasetError, match="notumor"):
        donor_files(tmp_path, None)
