"""The explanation report: a table per method, and figure cases that show a failure of each class first."""

from __future__ import annotations

from pathlib import Path

from training.evaluation.explain_eval import Case
from training.evaluation.explain_report import markdown, pick_figure_cases


def _case(name: str, label: str) -> Case:
    return Case(Path(name), name, label, (0.5, 0.5, 0.2, 0.2))


def test_figure_cases_put_a_misclassified_image_first() -> None:
    cases = [_case("g1", "glioma"), _case("g2", "glioma"), _case("g3", "glioma"), _case("m1", "meningioma")]
    rows = [
        {"path": "g1", "label": "glioma", "predicted": "glioma", "method": "centre_prior"},
        {"path": "g2", "label": "glioma", "predicted": "notumor", "method": "centre_prior"},
        {"path": "g3", "label": "glioma", "predicted": "glioma", "method": "centre_prior"},
        {"path": "m1", "label": "meningioma", "predicted": "meningioma", "method": "centre_prior"},
    ]
    assert [c.relative for c in pick_figure_cases(rows, cases, per_class=2)] == ["g2", "g1", "m1"]


def test_the_table_has_a_row_per_method_with_its_measures() -> None:
    entry = {"n": 2.0, "pointing_game": 0.5, "energy_in_box": 0.25, "deletion_auc": 0.1, "insertion_auc": 0.9}
    summary = {name: {"all": entry, "glioma": entry} for name in ("gradcam", "centre_prior", "random")}
    text = markdown(summary, "header line", ["gradcam"])
    assert "header line" in text and "| gradcam |" in text and "| centre_prior |" in text
    assert "- gradcam: 1.00× and 1.00×" in text and "| gradcam | 0.50 / 0.25 |" in text


def test_the_evidence_table_has_a_row_per_checked_method() -> None:
    from training.evaluation.explain_report import evidence_markdown

    entry = {"n": 4.0, "evidence_depends": 0.5, "evidence_agrees_with_box": 0.75, "evidence_control_depends": 0.25}
    summary = {
        method: {"all": {**entry, "box_removal_depends": 0.5}, "glioma": entry}
        for method in ("gradcam", "centre_prior", "random")
    }
    text = evidence_markdown(summary, ["gradcam"])
    assert "| gradcam | 50.0% | 75.0% | 25.0% | 75.0% |" in text
    assert "moves the answer (the same rule) on 50.0%" in text


def test_the_figure_is_titled_with_the_model_above_its_rows(
    exported: Path, synth_root: Path, tiny_run: Path, tmp_path: Path
) -> None:
    from PIL import Image

    from training.evaluation.explain_eval import load_cases
    from training.evaluation.explain_report import TITLE_HEIGHT, figure

    boxes = synth_root.parent / "tumor-boxes.csv"
    cases = load_cases(synth_root, boxes, tiny_run / "split.json", per_class=1, seed=0)[:2]
    figure(exported, cases, ["gradcam"], {}, out=tmp_path / "titled.png", tile=64, title="brainxai-cnn x.y.z")
    figure(exported, cases, ["gradcam"], {}, out=tmp_path / "plain.png", tile=64)
    titled, plain = Image.open(tmp_path / "titled.png"), Image.open(tmp_path / "plain.png")
    assert plain.height == 64 * len(cases) and titled.height == plain.height + TITLE_HEIGHT
