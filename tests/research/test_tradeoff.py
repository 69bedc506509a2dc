"""The trade-off table runs the product's evaluation on each artifact and says which fills a model never saw."""

from __future__ import annotations

import shutil
from pathlib import Path

from research.same_collection.tradeoff import main, markdown, model_row, split_of


def test_a_row_per_model_from_the_products_evaluation(
    ood_model_path: Path, tiny_run: Path, synth_root: Path, unknown_kind_root: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model.pt"
    shutil.copy(ood_model_path, model)
    shutil.copy(tiny_run / "split.json", tmp_path / "split.json")
    assert split_of(model) == tmp_path / "split.json"
    row = model_row(model, synth_root, unknown_kind_root)
    assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["refused"] <= 1.0
    assert row["same_collection"]["n"] == 4  # the tiny run trained on none: one slice of each of the four groups
    assert set(row["removal"]) <= {"mirror", "inpaint", "donor", "biharmonic"} and row["removal"]
    assert row["trained_fills"] == []
    table = markdown([row])
    assert table.count("\n| tiny-ood 0.0.1 |") == 1 and "*" in table.splitlines()[2]
    assert main([str(model), "--data", str(synth_root), "--unknown-kind", str(unknown_kind_root)]) == 0


def test_fills_seen_in_training_are_not_starred() -> None:
    row = {
        "model": "m 1",
        "accuracy": 0.99,
        "answered_accuracy": 0.995,
        "refused": 0.01,
        "same_collection": {"answered_tumour": 0.9, "refused": 0.05, "answered_notumor": 0.05},
        "removal": {"mirror": 0.8, "inpaint": 0.9},
        "controls": {"mirror": 0.02, "inpaint": 0.03},
        "trained_fills": ["inpaint"],
    }
    line = markdown([row]).splitlines()[2]
    assert "80* / 90 %" in line and "90 / 5 / 5 %" in line
    assert line.startswith("| m 1 | 99.00 % (99.50 %) | 1.0 % |")
